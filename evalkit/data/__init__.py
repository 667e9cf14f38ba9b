"""Readers for image data: the bundled Fashion-MNIST split, folders and .npz files
(read as they are: bit depths, grey or colour, orientation and refusals in docs/images.md)."""
