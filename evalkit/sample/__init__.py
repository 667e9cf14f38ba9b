"""Sampling: the generator protocol and the sources that stream batches of samples."""
