"""Safetensors weights for the zoo: one file per model, sub-modules as key prefixes.

Loading never unpickles: safetensors holds raw tensors and a JSON header. A file
whose keys do not match the architecture fails with the missing and extra keys.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    info = json.loads(meta["evalkit"]) if "evalkit" in meta else {}
    return tensors, info


def load_module(module: nn.Module, path: Path | str, prefix: str = "", tensors: dict | None = None) -> nn.Module:
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
