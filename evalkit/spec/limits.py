"""Sizes a spec asks for, checked against what the named models and datasets declare.

The field bounds (n, seeds, class indices, ranges) live on the spec models; this
module checks what needs a registry declaration: asked classes against a
generator's declared ``num_classes``, and dataset ranges against a dataset's
declared split sizes. Entries that declare nothing are checked at run time.
"""

from __future__ import annotations

from typing import Any

from .. import registry


def _info(entry: Any) -> dict:
    info = getattr(entry, "info", None)
    return info if isinstance(info, dict) else {}


def _range_problem(dataset: str, split: str, rng: Any) -> str | None:
    if dataset not in registry.datasets or not rng:
        return None
    size = _info(registry.datasets.get(dataset)).get("sizes", {}).get(split)
    if size is not None and int(rng[1]) > size:
        return f"range [{rng[0]}, {rng[1]}) runs past the {size} images of {dataset} {split!r}"
    return None


def _generator_classes(subject: Any) -> int | None:
    if subject.model == "dataset":  # the replay generator has its dataset's classes
        name = (subject.params or {}).get("dataset", "fashion-mnist")
        return _info(registry.datasets.get(name)).get("num_classes") if name in registry.datasets else None
    if subject.model is None or subject.model not in registry.generators:
        return None
    return _info(registry.generators.get(subject.model)).get("num_classes")


def declared_size_problems(spec: Any) -> list[tuple[tuple, str]]:
    """(field path, message) for each size the spec asks beyond a registry declaration."""
    out: list[tuple[tuple, str]] = []
    for key in ("reference", "training"):
        ref = getattr(spec, key)
        if ref is not None and ref.dataset is not None:
            msg = _range_problem(ref.dataset, ref.split, ref.range)
            if msg:
                out.append(((key, "range"), msg))
    labels = spec.sampling.labels
    asked = sorted(labels) if isinstance(labels, (list, dict)) else []
    for i, s in enumerate(spec.subjects):
        if s.model == "dataset":
            params = s.params or {}
            rng = params.get("range")
            if isinstance(rng, (list, tuple)) and len(rng) == 2 and all(isinstance(v, int) for v in rng):
                msg = _range_problem(params.get("dataset", "fashion-mnist"), params.get("split", "test"), rng)
                if msg:
                    out.append((("subjects", i, "params", "range"), msg))
        classes = _generator_classes(s)
        if classes is not None and asked and asked[-1] >= classes:
            out.append((("sampling", "labels"), f"class {asked[-1]} is asked, but {s.display_name!r} has "
                                                f"{classes} classes (0..{classes - 1})"))
    return out
