"""Where a field of a spec is: ``file:line:col`` of a field path, and the path as it is written.

The loader records a mark for every field path it builds; the spec model, the plan and
the loader's own error messages read them through these two functions.
"""

from __future__ import annotations

Marks = dict[tuple, tuple[int, int]]


def format_location(source: str | None, marks: Marks, path: tuple) -> str:
    name = source or "<spec>"
    p = tuple(path)
    while p and p not in marks:
        p = p[:-1]
    if p in marks:
        line, col = marks[p]
        return f"{name}:{line}:{col}"
    return name


def dotted(path: tuple) -> str:
    """'requirements[3].check' from a field path (the '<key>' markers of key marks are skipped)."""
    out = ""
    for part in path:
        if part == "<key>":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"
