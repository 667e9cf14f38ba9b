"""How numbers read in every rendering: one rule per kind of number, shared by the
Markdown, JUnit, HTML and comparison renderers and the printed tables.

They live here, public, so that no renderer reaches into another's private helpers
and a change to how a value reads changes every rendering at once.
"""

from __future__ import annotations


def number(x: float | None, digits: int = 4) -> str:
    """A value, bound or interval end: ``digits`` significant digits, 3 for very large or tiny ones; "-" for none."""
    if x is None:
        return "-"
    if abs(x) >= 1000 or (0 < abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.{digits}g}"


def short(x: float | None) -> str:
    """Four significant digits (the comparison tables and baseline lines); "-" for none."""
    return "-" if x is None else f"{x:.4g}"


def signed(x: float | None) -> str:
    """A difference, with its sign always shown; "-" for none."""
    return "-" if x is None else f"{x:+.4g}"


def p_value(p: float | None) -> str:
    """A p-value: three decimals, two significant digits below 0.001; "-" for none."""
    return "-" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def bound(r) -> str:
    """A requirement's bound as it reads beside its value: ">= 0.9", "<= 50", or both joined by "and"."""
    if r.kind == "rate":
        return f">= {number(r.at_least)}"
    parts = []
    if r.at_least is not None:
        parts.append(f">= {number(r.at_least)}")
    if r.at_most is not None:
        parts.append(f"<= {number(r.at_most)}")
    return " and ".join(parts)
