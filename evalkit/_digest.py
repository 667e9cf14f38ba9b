"""SHA-256 of files, read in chunks (weights, feature models, data files)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, without holding the whole file in memory."""
    h = hashlib.sha256()
    from ._io import open_regular

    with open_regular(path) as fh:  # a FIFO or a device would block or never end
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
