"""evalkit: audit generative image models against declarative specs."""
__version__ = "0.1.0"
