"""Safetensors weights for the zoo: one file per model, sub-modules as key prefixes.

Loading never unpickles: safetensors holds raw tensors and a JSON header. A file
whose keys do not match the architecture fails with the missing and extra keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from .._errors import CheckpointError
from .._io import atomic_write_bytes


def save_weights(path: Path | str, modules: dict[str, nn.Module], meta: dict) -> None:
    from safetensors.torch import save

    tensors = {}
    for prefix, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{prefix}.{k}" if prefix else k] = v.detach().contiguous().clone()
    atomic_write_bytes(path, save(tensors, metadata={"evalkit": json.dumps(meta)}))


def read_weights(path: Path | str) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable .safetensors file ({exc}); evalkit loads weights only from safetensors"
        ) from None
    try:
        info = json.loads(meta["evalkit"]) if "evalkit" in meta else {}
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: the 'evalkit' metadata is not JSON ({exc})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: the 'evalkit' metadata must be a JSON object, got {type(info).__name__}")
    return tensors, info


MAX_KWARG = 1 << 20  # any width, depth or class count a checkpoint's metadata may ask for
M = TypeVar("M", bound=nn.Module)  # the module handed in is the module handed back


def build_from_metadata(cls: type[M], kwargs: object, path: Path | str, tensors: dict[str, torch.Tensor]) -> M:
    """``cls(**kwargs)`` where ``kwargs`` come from a checkpoint's metadata, bounded before anything is allocated.

    Metadata is data: a file may claim ``num_classes: 10**9``. The sizes must be plain
    integers, and the module they describe is first built on the ``meta`` device (no
    memory) and must not be larger than the tensors the file actually holds, since
    every one of its tensors has to come from the file.
    """
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise CheckpointError(f"{path}: metadata 'kwargs' must be a mapping of names to sizes, got {type(kwargs).__name__}")
    for k, v in kwargs.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= MAX_KWARG:
            raise CheckpointError(f"{path}: metadata size {k}={v!r} is not a number in 1..{MAX_KWARG}")
    held = sum(t.numel() * t.element_size() for t in tensors.values())
    try:
        with torch.device("meta"):
            probe = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: metadata kwargs do not describe a {cls.__name__} ({exc})") from None
    wanted = sum(t.numel() * t.element_size() for t in [*probe.parameters(), *probe.buffers()])
    if wanted > held + (1 << 20):
        raise CheckpointError(f"{path}: metadata describes a {cls.__name__} of {wanted} bytes, but the file holds "
                              f"{held} bytes of tensors; the metadata is wrong")
    return cls(**kwargs)


def load_module(module: M, path: Path | str, prefix: str = "", tensors: dict[str, torch.Tensor] | None = None) -> M:
    """Load ``prefix.*`` tensors of ``path`` into ``module``; name missing/extra keys on mismatch."""
    if tensors is None:
        tensors, _ = read_weights(path)
    p = f"{prefix}." if prefix else ""
    sub = {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(sub))
    extra = sorted(set(sub) - set(expected))
    wrong = sorted(k for k in set(sub) & set(expected) if sub[k].shape != expected[k].shape)
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if extra:
            parts.append(f"unexpected keys {_few(extra)}")
        if wrong:
            parts.append("wrong shapes " + _few([f"{k} {tuple(sub[k].shape)} != {tuple(expected[k].shape)}" for k in wrong]))
        raise CheckpointError(
            f"{path}: tensors do not match {type(module).__name__}"
            + (f" (prefix {prefix!r})" if prefix else "") + ": " + "; ".join(parts)
        )
    module.load_state_dict(sub)
    return module


def _few(items: list[str], k: int = 5) -> str:
    shown = ", ".join(items[:k])
    return f"[{shown}{', ...' if len(items) > k else ''}] ({len(items)} in all)"
