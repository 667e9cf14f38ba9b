"""On-disk cache of reference features, keyed by data, extractor and code version.

An entry is a safetensors file whose metadata repeats its key and a SHA-256 of the
tensor bytes; an entry that fails to load or whose checksum differs is rebuilt
(with a warning), never used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ._io import atomic_write_bytes

log = logging.getLogger(__name__)
CACHE_VERSION = "features-v1"


def cache_dir() -> Path:
    if env := os.environ.get("EVALKIT_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evalkit"


def _checksum(t: Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def cached_tensor(key_parts: list[str], build: Callable[[], Tensor], enabled: bool = True) -> Tensor:
    """Return the tensor for ``key_parts`` from the cache, or build, store and return it."""
    key = hashlib.sha256("\n".join([CACHE_VERSION, *key_parts]).encode()).hexdigest()
    path = cache_dir() / f"{key}.safetensors"
    if enabled and path.exists():
        from safetensors.torch import load_file, safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            t = load_file(str(path))["value"]
            if meta.get("key") == key and meta.get("sha256") == _checksum(t):
                return t
            log.warning("feature cache entry %s is stale or corrupt; rebuilding it", path)
        except Exception as exc:  # any unreadable entry is rebuilt, never trusted
            log.warning("feature cache entry %s is unreadable (%s); rebuilding it", path, exc)
    t = build().detach().to("cpu").contiguous()
    if enabled:
        from safetensors.torch import save

        try:
            atomic_write_bytes(path, save({"value": t}, metadata={"key": key, "sha256": _checksum(t)}))
        except OSError as exc:
            log.warning("cannot write feature cache %s: %s", path, exc)
    return t
