"""Small inline SVG plots for the HTML report: forest plots, a scatter with error bars,
and the sequential bound trace.

Drawn by hand rather than with matplotlib: the report must open anywhere without
network or scripts, a few kilobytes of SVG per plot keep it small, text stays text
(searchable, crisp at any zoom), and evalkit needs no plotting library at run time.
Every piece of text is escaped; every number is formatted before it reaches the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

COLOURS = {"PASS": "#1a7f37", "FAIL": "#c62828", "INCONCLUSIVE": "#a15c00", "REGRESSED": "#6a1b9a",
           "ERROR": "#555555", "baseline": "#8c8c8c"}
FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def _num(x: float) -> str:
    """A number for axis labels and attributes: short, never 'nan' in a coordinate."""
    if x == 0 or not math.isfinite(x):
        return "0"
    if abs(x) >= 1000 or abs(x) < 1e-3:
        return f"{x:.2g}"
    return f"{x:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick positions covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (or a sliver): an axis around it
        lo, hi = lo - (abs(lo) * 0.1 or 0.5), hi + (abs(hi) * 0.1 or 0.5)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)  # the ticks enclose [lo, hi]
    digits = max(0, 3 - math.floor(math.log10(step)))  # drop float noise (0.30000000000000004), keep the step
    return [round(k * step, digits) for k in range(first, last + 1)]


@dataclass
class Axis:
    """A linear map from data values to pixels."""

    lo: float
    hi: float
    p0: float
    p1: float

    def __call__(self, v: float) -> float:
        if self.hi == self.lo:
            return (self.p0 + self.p1) / 2
        v = min(max(v, self.lo), self.hi)
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def _span(values: list[float], pad: float = 0.05) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.1 or 0.5), hi + (abs(hi) * 0.1 or 0.5)
    d = (hi - lo) * pad
    return lo - d, hi + d


def _open(width: int, height: int, label: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(label)}" class="plot" {FONT}><title>{escape(label)}</title>']


def _x_axis(out: list[str], ax: Axis, y: float, ticks: list[float], top: float, caption: str = "") -> None:
    for t in ticks:
        if ax.lo <= t <= ax.hi:
            x = ax(t)
            out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
            out.append(f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" fill="#444">{_num(t)}</text>')
    out.append(f'<line x1="{ax.p0:.1f}" y1="{y:.1f}" x2="{ax.p1:.1f}" y2="{y:.1f}" stroke="#888"/>')
    if caption:
        out.append(f'<text x="{(ax.p0 + ax.p1) / 2:.1f}" y="{y + 30:.1f}" text-anchor="middle" fill="#222">{escape(caption)}</text>')


@dataclass
class ForestRow:
    """One interval of a forest plot."""

    label: str
    value: float
    lower: float
    upper: float
    verdict: str
    baseline: tuple[float, float, float] | None = None  # (value, lower, upper) of the baseline run


def forest(title: str, rows: list[ForestRow], *, at_most: float | None = None, at_least: float | None = None,
           width: int = 560) -> str:
    """Each subject's value with its interval (one row each) against the requirement's bound(s)."""
    label_w, row_h, top = 200, 26, 42
    extra = sum(1 for r in rows if r.baseline)
    height = top + row_h * (len(rows) + extra) + 44
    values = [v for r in rows for v in (r.value, r.lower, r.upper) + (r.baseline or ())]
    values += [b for b in (at_most, at_least) if b is not None]
    lo, hi = _span(values)
    ax = Axis(lo, hi, label_w + 10, width - 16)
    out = _open(width, height, title)
    out.append(f'<text x="4" y="16" font-weight="600" fill="#222">{escape(title)}</text>')
    bottom = height - 40
    _x_axis(out, ax, bottom, nice_ticks(lo, hi), top)
    y = top + row_h / 2
    for r in rows:
        if r.baseline:
            bv, bl, bu = r.baseline
            out.append(f'<text x="{label_w}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{escape(_clip(r.label, 18))} (baseline)</text>')
            out.append(_interval(ax, y, bv, bl, bu, COLOURS["baseline"], "baseline"))
            y += row_h
        colour = COLOURS.get(r.verdict, "#333")
        out.append(f'<text x="{label_w}" y="{y + 4:.1f}" text-anchor="end" fill="#222">{escape(_clip(r.label, 27))}</text>')
        out.append(_interval(ax, y, r.value, r.lower, r.upper, colour, r.verdict))
        y += row_h
    for bound, word in ((at_most, "at most"), (at_least, "at least")):
        if bound is not None:
            x = ax(bound)
            out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#222" stroke-dasharray="4 3"/>')
            anchor = "end" if x > width - 60 else ("start" if x < label_w + 40 else "middle")
            out.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="{anchor}" fill="#222">{word} {_num(bound)}</text>')
    out.append("</svg>")
    return "".join(out)


def _interval(ax: Axis, y: float, value: float, lower: float, upper: float, colour: str, word: str) -> str:
    x0, x1, xv = ax(lower), ax(upper), ax(value)
    tip = f"{word}: {_num(value)} [{_num(lower)}, {_num(upper)}]"
    return (f'<g><title>{escape(tip)}</title><line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>'
            f'<line x1="{x0:.1f}" y1="{y - 5:.1f}" x2="{x0:.1f}" y2="{y + 5:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{x1:.1f}" y1="{y - 5:.1f}" x2="{x1:.1f}" y2="{y + 5:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{xv:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/></g>')


@dataclass
class Point:
    """A subject in the precision-recall plane, with one-sided bounds on each axis."""

    label: str
    x: float
    x_lower: float
    x_upper: float
    y: float
    y_lower: float
    y_upper: float


def scatter(title: str, points: list[Point], *, x_caption: str, y_caption: str, size: int = 420) -> str:
    """Points with error bars on both axes, on the unit square (rates and shares)."""
    legend_w = 190
    left, top, right, bottom = 48, 28, size - 16, size - 48
    ax, ay = Axis(0.0, 1.0, left, right), Axis(0.0, 1.0, bottom, top)
    out = _open(size + legend_w, size, title)
    out.append(f'<text x="4" y="16" font-weight="600" fill="#222">{escape(title)}</text>')
    ticks = nice_ticks(0, 1, 5)
    _x_axis(out, ax, bottom, ticks, top, x_caption)
    for t in ticks:
        y = ay(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{_num(t)}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>')
    out.append(f'<text transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#222">{escape(y_caption)}</text>')
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    for i, p in enumerate(points):
        c = palette[i % len(palette)]
        x, y = ax(p.x), ay(p.y)
        tip = f"{p.label}: {x_caption} {_num(p.x)} [{_num(p.x_lower)}, {_num(p.x_upper)}], {y_caption} {_num(p.y)} [{_num(p.y_lower)}, {_num(p.y_upper)}]"
        out.append(f'<g><title>{escape(tip)}</title>'
                   f'<line x1="{ax(p.x_lower):.1f}" y1="{y:.1f}" x2="{ax(p.x_upper):.1f}" y2="{y:.1f}" stroke="{c}" stroke-width="2"/>'
                   f'<line x1="{x:.1f}" y1="{ay(p.y_lower):.1f}" x2="{x:.1f}" y2="{ay(p.y_upper):.1f}" stroke="{c}" stroke-width="2"/>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{c}"/></g>')
        ly = top + 14 + 15 * i
        out.append(f'<circle cx="{right + 16}" cy="{ly - 4}" r="4" fill="{c}"/>'
                   f'<text x="{right + 24}" y="{ly}" fill="#222">{escape(_clip(p.label, 26))}</text>')
    out.append("</svg>")
    return "".join(out)


def trace(title: str, looks: list[tuple[int, float, float, float]], target: float, *, width: int = 360, height: int = 200) -> str:
    """The sequential bound closing in: (n, rate, lower, upper) at every look, against the target."""
    left, top, right, bottom = 44, 24, width - 12, height - 40
    ns = [n for n, *_ in looks] or [0]
    ax = Axis(0, max(ns), left, right)
    lo, hi = _span([v for _, *vals in looks for v in vals] + [target], pad=0.08)
    lo, hi = max(0.0, lo), min(1.0, hi)
    ay = Axis(lo, hi, bottom, top)
    out = _open(width, height, title)
    out.append(f'<text x="4" y="14" font-weight="600" fill="#222">{escape(_clip(title, 52))}</text>')
    _x_axis(out, ax, bottom, nice_ticks(0, max(ns), 4), top, "samples")
    for t in nice_ticks(lo, hi, 4):
        if lo <= t <= hi:
            out.append(f'<text x="{left - 4}" y="{ay(t) + 4:.1f}" text-anchor="end" fill="#444">{_num(t)}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>')
    if looks:
        upper = " ".join(f"{ax(n):.1f},{ay(u):.1f}" for n, _, _, u in looks)
        lower = " ".join(f"{ax(n):.1f},{ay(lw):.1f}" for n, _, lw, _ in reversed(looks))
        out.append(f'<polygon points="{upper} {lower}" fill="#1f77b4" fill-opacity="0.18" stroke="none"/>')
        out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="'
                   + " ".join(f"{ax(n):.1f},{ay(r):.1f}" for n, r, _, _ in looks) + '"/>')
    yt = ay(target)
    out.append(f'<line x1="{left}" y1="{yt:.1f}" x2="{right}" y2="{yt:.1f}" stroke="#222" stroke-dasharray="4 3"/>'
               f'<text x="{right}" y="{yt - 4:.1f}" text-anchor="end" fill="#222">target {_num(target)}</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
