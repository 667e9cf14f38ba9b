"""Sizes a spec asks for, checked against what the named models and datasets declare.

The field bounds (n, seeds, class indices, ranges) live on the spec models; this
module checks dataset ranges against a dataset's declared split sizes
(``DatasetDecl.splits``). Asked classes against a model's classes are checked by
``plan`` (which also knows user generators' classes).
"""

from __future__ import annotations

from typing import Any

from .. import registry


def _range_problem(dataset: str, split: str, rng: Any) -> str | None:
    if dataset not in registry.datasets or not rng:
        return None
    size = registry.datasets.get(dataset).decl.splits.get(split)
    if size is not None and int(rng[1]) > size:
        return f"range [{rng[0]}, {rng[1]}) runs past the {size} images of {dataset} {split!r}"
    return None


def declared_size_problems(spec: Any) -> list[tuple[tuple, str]]:
    """(field path, message) for each size the spec asks beyond a registry declaration."""
    out: list[tuple[tuple, str]] = []
    for key in ("reference", "training"):
        ref = getattr(spec, key)
        if ref is not None and ref.dataset is not None:
            msg = _range_problem(ref.dataset, ref.split, ref.range)
            if msg:
                out.append(((key, "range"), msg))
    for i, s in enumerate(spec.subjects):
        if s.model == "dataset":
            params = s.params or {}
            rng = params.get("range")
            if isinstance(rng, (list, tuple)) and len(rng) == 2 and all(isinstance(v, int) for v in rng):
                msg = _range_problem(params.get("dataset", "fashion-mnist"), params.get("split", "test"), rng)
                if msg:
                    out.append((("subjects", i, "params", "range"), msg))
    return out
