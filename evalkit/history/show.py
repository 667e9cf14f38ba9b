"""The history as text: ``evalkit history runs`` and ``evalkit history show``.

``history_rows`` is the table ``show`` prints, one row per point; the trend pages (and later
columns, such as a change point) extend the rows rather than the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from .db import Run
from .points import Point


@dataclass(frozen=True)
class Row:
    """One point of a series, as ``evalkit history show`` prints it."""

    subject: str
    name: str  # requirement, or metric with its arguments
    kind: str
    role: str  # "requirement" (judged, with a verdict) or "metric" (measured only)
    run_id: str
    finished: str
    value: str  # e.g. "93/100=0.9300" for a rate, "4.512 (N=300)" for a metric
    interval: str  # "[0.87, 0.97] @0.95", or "" where the report gave none
    verdict: str  # PASS / FAIL / INCONCLUSIVE, or "" for a metric without a requirement


def history_rows(points: list[Point]) -> list[Row]:
    """The rows of ``points``: grouped by subject and requirement/metric (in order of first
    appearance), oldest first within a group."""
    def series(p: Point) -> tuple[str, str, bool]:  # a metric judged by a requirement is also reported as measured
        return p.subject_key, p.name, p.verdict is None

    order: dict[tuple[str, str, bool], int] = {}
    for p in points:  # the database gives them oldest first
        order.setdefault(series(p), len(order))
    ranked = sorted(enumerate(points), key=lambda ip: (order[series(ip[1])], ip[1].finished, ip[0]))
    return [_row(p) for _, p in ranked]


def _row(p: Point) -> Row:
    if p.kind == "rate" and p.n:
        value = f"{p.passed}/{p.n}={p.value:.4f}" if p.passed is not None and p.value is not None else "-"
    elif p.value is not None:
        value = f"{p.value:.4g}" + (f" (N={p.n})" if p.n else "")
    else:
        value = "-"
    interval = ""
    if p.lower is not None or p.upper is not None:
        lo = f"{p.lower:.4g}" if p.lower is not None else "-inf"
        hi = f"{p.upper:.4g}" if p.upper is not None else "inf"
        interval = f"[{lo}, {hi}] @{p.confidence:.3g}"
    return Row(p.subject, p.name, p.kind, "metric" if p.verdict is None else "requirement", p.run_id, p.finished, value, interval, p.verdict or "")


def rows_text(rows: list[Row]) -> str:
    """The rows as the terminal shows them: a heading per series, then one line per run."""
    lines: list[str] = []
    for (subject, name, role), group in groupby(rows, key=lambda r: (r.subject, r.name, r.role)):
        series = list(group)
        what = "requirement on a rate" if series[0].kind == "rate" else role if role == "metric" else "requirement on a metric"
        lines.append(f"{subject}: {name} ({what}, {len(series)} run{'s' if len(series) != 1 else ''})")
        lines += [f"  {r.finished:<25} {r.run_id[:12]:<12}  {r.verdict:<12} {r.value:<22} {r.interval}" for r in series]
    return "\n".join(lines)


def runs_text(runs: list[Run]) -> str:
    """``evalkit history runs``: newest first, one line each."""
    head = f"{'run':<12}  {'finished':<25} {'spec':<20} {'commit':<8}  {'exit':>4}  subjects"
    lines = [head]
    for r in runs:
        commit = (r.git_commit or "-")[:8]
        subjects = ", ".join(s["name"] for s in r.subjects)
        step = f" (step {r.step})" if r.step is not None else ""
        lines.append(f"{r.run_id[:12]:<12}  {r.finished or r.started:<25} {r.spec:<20} {commit:<8}  {r.exit_code:>4}  "
                     f"{subjects}{step}")
    return "\n".join(lines)
