"""Which weights a subject evaluated: one definition, used by the journal (``--resume``
refuses a changed model), the report's provenance (``weights_sha256``) and the baseline
pairing (a note when the weights differ).

A subject's *weights files* are, each with its role and SHA-256:

* ``weights``: the file the generator says it loaded (its ``weights_file`` attribute;
  a list under ``weights_files`` is read too), for built-in and user generators;
* ``checkpoint``: the spec's ``checkpoint:`` handed to a user generator;
* ``module``: the source file of a user generator's module (``model: module:attribute``).

The identity (``weights_sha256``) is the SHA-256 of the one weights file when that is all
there is (a built-in model: the digest of its ``.safetensors``, as before), else the SHA-256
of the sorted ``role sha256`` lines, else None (a dataset replay or an image folder).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from .. import registry
from .._digest import file_sha256
from .._errors import CheckpointError

IDENTITY_VERSION = 1


def weights_files(spec, subject, generator_weights: Any = None, generator: Any = None) -> list[dict[str, str]]:
    """The subject's weights files: ``[{"role", "path", "sha256"}]`` in a fixed order."""
    found: list[tuple[str, Path]] = []
    declared = [generator_weights] if generator_weights is not None else []
    extra = getattr(generator, "weights_files", None) if generator is not None else None
    if isinstance(extra, (list, tuple)):
        declared += list(extra)
    found += [("weights", Path(p)) for p in declared if p is not None]
    if subject.checkpoint:
        found.append(("checkpoint", Path(spec.resolve_path(subject.checkpoint))))
    if subject.model is not None and registry.is_reference(subject.model):
        mod = sys.modules.get(subject.model.partition(":")[0])
        src = getattr(mod, "__file__", None)
        if src:
            found.append(("module", Path(src)))
    out, seen = [], set()
    for role, path in found:
        key = (role, str(path))
        if key in seen:
            continue
        seen.add(key)
        try:
            digest = file_sha256(path)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read the subject's {role} file ({exc.strerror or exc})") from None
        out.append({"role": role, "path": str(path), "sha256": digest})
    return out


def weights_identity(files: list[dict[str, str]]) -> str | None:
    """The subject's ``weights_sha256`` from its weights files (see the module docstring)."""
    if not files:
        return None
    if len(files) == 1 and files[0]["role"] == "weights":
        return files[0]["sha256"]
    lines = sorted(f"{f['role']} {f['sha256']}" for f in files)
    return hashlib.sha256(("evalkit-weights-v1\n" + "\n".join(lines)).encode()).hexdigest()


def changed_files(old: list[Any], new: list[dict[str, str]]) -> list[str]:
    """The files whose digest differs between two listings, as ``path (role)``."""
    # `old` is a saved listing, read as untrusted: its keys may be missing or of any type
    before: dict[tuple[object, object], object] = {(f.get("role"), f.get("path")): f.get("sha256") for f in old if isinstance(f, dict)}
    after: dict[tuple[object, object], object] = {(f["role"], f["path"]): f["sha256"] for f in new}
    return [f"{path} ({role})" for (role, path) in sorted(set(before) | set(after), key=str)
            if before.get((role, path)) != after.get((role, path))]
