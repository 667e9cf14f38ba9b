"""Readers for image data: the bundled Fashion-MNIST split, folders and .npz files."""
