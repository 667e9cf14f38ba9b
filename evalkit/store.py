"""The one persisted format for everything a run saves: safetensors + JSON, never pickle.

A record is one ``.safetensors`` file. Its tensors are raw arrays; its header's
metadata holds three strings: ``format`` (always ``evalkit-store``), ``kind``
(what the record is: ``journal``, ``samples``, ``state``, ...) and ``meta``, a
strict JSON document (no NaN or Infinity, so every JSON reader can parse it).
Reading a record never runs code: safetensors parses a length-prefixed JSON
header and copies bytes, and the JSON is parsed with the standard library.

Writes are atomic (temporary file, fsync, rename), so a reader sees the old
record or the new one, never half of one. A record that is truncated, corrupt,
of another format or of another kind is refused with a ``DataError`` naming the
file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._errors import DataError
from ._io import atomic_write_bytes, memory_cap, open_regular

__all__ = ["STORE_FORMAT", "save_record", "load_record"]

STORE_FORMAT = "evalkit-store"
# A header larger than this is not one evalkit wrote; refusing it early bounds the
# memory a hostile file can make a reader allocate.
_MAX_HEADER_BYTES = 64 * 1024 * 1024


def _strict_json(meta: dict[str, Any], path: Path) -> str:
    try:
        return json.dumps(meta, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: record metadata is not strict JSON ({exc})") from None


def save_record(path: Path | str, tensors: dict[str, Any], meta: dict[str, Any], *, kind: str) -> None:
    """Write ``tensors`` (name -> torch.Tensor) and ``meta`` (strict JSON) to ``path`` atomically."""
    import torch
    from safetensors.torch import save

    path = Path(path)
    header = {"format": STORE_FORMAT, "kind": kind, "meta": _strict_json(meta, path)}
    # safetensors wants contiguous, CPU tensors it owns; views of one storage cannot be saved twice
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    for name, t in flat.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"record {path}: tensor {name!r} is a {type(t).__name__}, not a torch.Tensor")
    atomic_write_bytes(path, save(flat, metadata=header))


def _read_header(path: Path, fh, size: int) -> tuple[dict[str, str], int]:
    """(the header's evalkit metadata, the offset of the tensor bytes), read before any tensor byte.

    The header's tensor offsets must account for exactly the file's size (safetensors
    demands it): a sparse or truncated file is refused here, before it is read whole."""
    head = fh.read(8)
    if len(head) < 8:
        raise DataError(f"{path}: not an evalkit record (truncated: {len(head)} bytes)")
    hsize = int.from_bytes(head, "little")
    if hsize > _MAX_HEADER_BYTES or 8 + hsize > size:
        raise DataError(f"{path}: not an evalkit record (header of {hsize} bytes in a file of {size}: truncated or corrupt)")
    try:
        header = json.loads(fh.read(hsize).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not an evalkit record (header is not JSON: {exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
        raise DataError(f"{path}: not an evalkit record (no '{STORE_FORMAT}' format mark in its header)")
    body = _data_bytes(header)
    if body is None or 8 + hsize + body != size:
        raise DataError(f"{path}: not an evalkit record (its header accounts for {body} bytes of tensor data, the "
                        f"file holds {size - 8 - hsize}: truncated, padded or corrupt)")
    return meta, 8 + hsize


def _data_bytes(header: dict) -> int | None:
    """The tensor bytes the header's ``data_offsets`` cover, or None when they are malformed."""
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
            return None
        end = max(end, offsets[1])
    return end


def load_record(path: Path | str, *, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a record written by :func:`save_record`; return ``(tensors, meta)``.

    Raises ``DataError`` (naming the file) when the file is missing, not a regular file,
    larger than the memory can take, truncated, corrupt, not an evalkit record, or a
    record of another kind. The header is checked before the tensors are read.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    cap, why = memory_cap()
    try:
        with open_regular(path, limit=cap, why=why) as fh:
            size = os.fstat(fh.fileno()).st_size
            header, _ = _read_header(path, fh, size)
            if header.get("kind") != kind:
                raise DataError(f"{path}: an evalkit record of kind {header.get('kind')!r}, expected {kind!r}")
            fh.seek(0)
            data = fh.read(size + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the record ({exc.strerror or exc})") from None
    if len(data) != size:
        raise DataError(f"{path}: changed while it was read; try again")
    try:
        meta = json.loads(header.get("meta", "{}"), parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{path}: the record's metadata is not strict JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: the record's metadata is a {type(meta).__name__}, expected an object")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise DataError(f"{path}: the record's tensors are unreadable ({exc}): truncated or corrupt") from None
    return tensors, meta


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in strict JSON")
