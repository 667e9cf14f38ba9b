"""Fashion-MNIST in its original IDX format (gzip), read without torchvision.

The test split ships with evalkit (``data/fashion-mnist``); the training split is
read from the Debian package ``dataset-fashion-mnist`` (or ``$EVALKIT_FASHION_DIR``)
because it is only needed to train the zoo and to measure memorization.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._errors import DataError

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_PREFIX = {"train": "train", "test": "t10k"}


def _package_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    dirs = []
    if env := os.environ.get("EVALKIT_FASHION_DIR"):
        dirs.append(Path(env))
    dirs += [here / "_data" / "fashion-mnist", here.parent / "data" / "fashion-mnist", SYSTEM_DIR]
    return dirs


def locate(split: str) -> tuple[Path, Path]:
    """Return the (images, labels) IDX paths of ``split``, or raise a DataError saying where we looked."""
    if split not in _PREFIX:
        raise DataError(f"unknown Fashion-MNIST split {split!r}; expected 'train' or 'test'")
    prefix = _PREFIX[split]
    for d in _package_dirs():
        img, lab = d / f"{prefix}-images-idx3-ubyte.gz", d / f"{prefix}-labels-idx1-ubyte.gz"
        if img.is_file() and lab.is_file():
            return img, lab
    looked = ", ".join(str(d) for d in _package_dirs())
    hint = " Install it with: apt-get install dataset-fashion-mnist" if split == "train" else ""
    raise DataError(f"Fashion-MNIST {split} split not found (looked in {looked}).{hint}")


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise DataError(f"{path}: not an IDX file of the expected kind (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file ({data.size} bytes for shape {dims})")
    return data.reshape(dims)


@lru_cache(maxsize=4)
def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,)."""
    img, lab = locate(split)
    images = _read_idx(img, 0x00000803)
    labels = _read_idx(lab, 0x00000801).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{img}: {len(images)} images but {len(labels)} labels")
    return images, labels


def sha256(split: str) -> str:
    """SHA-256 over the two gzip files of a split (images then labels)."""
    h = hashlib.sha256()
    for p in locate(split):
        h.update(p.read_bytes())
    return h.hexdigest()
