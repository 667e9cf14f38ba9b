"""Build a valid spec's YAML from keyword parts, so a test states only what it is about.

Before this, the same ten lines (version, name, reference, features, classifier, subjects,
sampling, requirements) were pasted into test after test, each copy with a number changed.
`spec_text(sampling={"n": 20})` says which part matters; every other part is a default that
validates and runs in well under a second (pixel features, no classifier, 40 replayed
Fashion-MNIST test images against 200 others).

A part given as a dict *replaces* the default (it is not merged), so the YAML holds exactly
what the call shows; `OMIT` leaves a key out (the spec's own default applies); `None` writes
`null`. Top-level keys without a parameter (`training`, `regression`, `report`, `confidence`,
`description`, ...) go through `**more`, in the order given.

The text is written key by key in block style with each value in flow style, one list item a
line, so a test that reads an error's `spec.yaml:LINE` can still find the line. Tests about
the YAML itself (marks, columns, anchors, comments) keep their YAML pasted: there the layout
is the subject.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()

REFERENCE = {"dataset": "fashion-mnist", "split": "test", "range": [0, 200]}
# Test images 5000.. are disjoint from the reference's 0..200: a replay that reads like real data.
SUBJECT = {"model": "dataset", "params": {"range": [5000, 5100]}}
SAMPLING = {"n": 40, "batch_size": 20, "seed": 1}
REQUIREMENT = {"name": "in range", "check": "in_range", "at_least": 0.9}

# A plain YAML 1.1 scalar that reads back as this same string: no indicator characters, and
# not a word PyYAML resolves to a bool, null, number or timestamp.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]*")
_RESOLVED = {"yes", "no", "on", "off", "true", "false", "null", "none", "~"}


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        text = repr(v)
        # PyYAML (YAML 1.1) reads 1e-05 as a string; it needs the mantissa's dot: 1.0e-05.
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(v, str):
        if _PLAIN.fullmatch(v) and v.lower() not in _RESOLVED and v == v.strip():
            return v
        # JSON's string escapes are YAML's double-quoted ones: quotes, backslashes, newlines survive.
        return json.dumps(v, ensure_ascii=False)
    raise TypeError(f"spec_text: cannot write {type(v).__name__} {v!r} as YAML")


def flow(v: Any) -> str:
    """One value in YAML flow style: {a: 1, b: [2, 3]}."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return _scalar(v)


def spec_text(
    *,
    name: str = "t",
    plugins: Any = OMIT,
    reference: Any = REFERENCE,
    training: Any = OMIT,
    features: Any = "pixels",
    classifier: Any = None,
    subjects: Any = (SUBJECT,),
    sampling: Any = SAMPLING,
    requirements: Any = (REQUIREMENT,),
    **more: Any,
) -> str:
    """The YAML of a spec: `version: 1` and the parts given (or their defaults)."""
    parts = {"name": name, "plugins": plugins, "reference": reference, "training": training,
             "features": features, "classifier": classifier, "subjects": subjects,
             "sampling": sampling, "requirements": requirements, **more}
    lines = ["version: 1"]
    for key, value in parts.items():
        if value is OMIT:
            continue
        if isinstance(value, (list, tuple)) and value and key in ("subjects", "requirements"):
            # One item a line: the item a test is about stays findable by line number.
            lines.append(f"{key}:")
            lines.extend(f"  - {flow(item)}" for item in value)
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines) + "\n"


def write_spec_file(folder: Path, filename: str = "spec.yaml", **parts: Any) -> Path:
    """Write `spec_text(**parts)` to folder/filename and return the path."""
    path = Path(folder) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(**parts))
    return path
