"""The version of evalkit, in one place (a foundation module: importing it imports nothing else)."""

__version__ = "0.1.0"
