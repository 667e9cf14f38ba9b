"""What evalkit asks of a generator: the ``Generator`` protocol (defined in ``evalkit.protocols``)."""

from __future__ import annotations

from ..protocols import Generator

__all__ = ["Generator"]
