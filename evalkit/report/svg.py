"""Small inline SVG plots for the HTML report: forest plots, a scatter with error bars,
and the sequential bound trace.

Drawn by hand rather than with matplotlib: the report must open anywhere without
network or scripts, a few kilobytes of SVG per plot keep it small, text stays text
(searchable, crisp at any zoom), and evalkit needs no plotting library at run time.
Every piece of text is escaped; every number is formatted before it reaches the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = {"PASS": "#1a7f37", "FAIL": "#c62828", "INCONCLUSIVE": "#a15c00", "REGRESSED": "#6a1b9a",
           "ERROR": "#555555", "baseline": "#8c8c8c",
           # a difference's verdict (evalkit compare, --baseline)
           "better": "#1a7f37", "worse": "#c62828", "no significant difference": "#6e7781",
           "no significant regression": "#6e7781", "not tested": "#a15c00"}
FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def axis_number(x: float) -> str:
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


LOG_RATIO = 30.0  # values spanning more than this factor get a log axis: on a linear one the small ones merge


def wants_log(values: Sequence[float | None]) -> bool:
    """Whether a log axis reads better: every plotted value positive and the largest at least
    ``LOG_RATIO`` times the smallest (FID 1.8 and 23 beside 1,413 look alike on a linear axis)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return bool(vals) and min(vals) > 0 and max(vals) / min(vals) >= LOG_RATIO


@dataclass
class LogAxis:
    """A log10 map from positive data values to pixels (values at or below ``lo`` sit at ``p0``)."""

    lo: float
    hi: float
    p0: float
    p1: float

    def __call__(self, v: float) -> float:
        v = min(max(v, self.lo), self.hi) if math.isfinite(v) else (self.hi if v > 0 else self.lo)
        a, b = math.log10(self.lo), math.log10(self.hi)
        return self.p0 + (math.log10(v) - a) / (b - a) * (self.p1 - self.p0)


def log_span(values: Sequence[float | None]) -> tuple[float, float]:
    """A padded positive range around the positive values (a tenth of a decade each side)."""
    vals = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    lo, hi = min(vals), max(vals)
    return lo / 10 ** 0.1, hi * 10 ** 0.1


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi]; with 1, 2 and 5 times them where fewer than four decades show."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1, 2, 5) if b - a < 4 else (1,)
    return [m * 10.0 ** k for k in range(a, b + 1) for m in steps if lo <= m * 10.0 ** k <= hi]


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


def _x_axis(out: list[str], ax: Axis | LogAxis, y: float, ticks: list[float], top: float, caption: str = "") -> None:
    for t in ticks:
        if ax.lo <= t <= ax.hi:
            x = ax(t)
            out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
            label = _log_label(t) if isinstance(ax, LogAxis) else axis_number(t)
            out.append(f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" fill="#444" class="tick">{label}</text>')
    out.append(f'<line x1="{ax.p0:.1f}" y1="{y:.1f}" x2="{ax.p1:.1f}" y2="{y:.1f}" stroke="#888"/>')
    if caption:
        out.append(f'<text x="{(ax.p0 + ax.p1) / 2:.1f}" y="{y + 30:.1f}" text-anchor="middle" fill="#222">{escape(caption)}</text>')


def _log_label(t: float) -> str:
    """A log axis tick: whole numbers with thousands separators from 1 up, else 3 significant digits."""
    if t >= 1:
        return f"{t:,.0f}"
    return f"{t:.3g}" if t >= 1e-3 else f"{t:.0e}"


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
    bottom = height - 40
    out = _open(width, height, title)
    out.append(f'<text x="4" y="16" font-weight="600" fill="#222">{escape(title)}</text>')
    ax = _value_axis(out, values, label_w + 10, width - 16, bottom, top)
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
            out.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="{anchor}" fill="#222">{word} {axis_number(bound)}</text>')
    out.append("</svg>")
    return "".join(out)


def _value_axis(out: list[str], values: list[float], p0: float, p1: float, bottom: float, top: float) -> Axis | LogAxis:
    """The x axis of a forest plot, drawn into ``out``: log10 where the values span orders of magnitude
    (then labelled "log scale"), else linear."""
    if wants_log(values):
        lo, hi = log_span(values)
        log_ax = LogAxis(lo, hi, p0, p1)
        _x_axis(out, log_ax, bottom, log_ticks(lo, hi), top, "log scale")
        out.append('<desc>log-scale axis</desc>')
        return log_ax
    lo, hi = _span(values)
    ax = Axis(lo, hi, p0, p1)
    _x_axis(out, ax, bottom, nice_ticks(lo, hi), top)
    return ax


def _interval(ax: Axis | LogAxis, y: float, value: float, lower: float, upper: float, colour: str, word: str) -> str:
    x0, x1, xv = ax(lower), ax(upper), ax(value)
    tip = f"{word}: {axis_number(value)} [{axis_number(lower)}, {axis_number(upper)}]"
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
    verdict: str | None = None  # the colour's meaning: PASS / FAIL / INCONCLUSIVE / REGRESSED; None: not judged


NEUTRAL = "#6e7781"  # a point whose subject has no verdict on what the plot shows


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
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{axis_number(t)}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>')
    out.append(f'<text transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#222">{escape(y_caption)}</text>')
    # colour means the verdict (green is never a subject's mere place in a palette); the number beside each
    # point names it in the legend
    for i, p in enumerate(points):
        c = COLOURS.get(p.verdict or "", NEUTRAL)
        x, y = ax(p.x), ay(p.y)
        n = axis_number
        tip = (f"{p.label}: {x_caption} {n(p.x)} [{n(p.x_lower)}, {n(p.x_upper)}], "
               f"{y_caption} {n(p.y)} [{n(p.y_lower)}, {n(p.y_upper)}]")
        out.append(f'<g><title>{escape(tip)}</title>'
                   f'<line x1="{ax(p.x_lower):.1f}" y1="{y:.1f}" x2="{ax(p.x_upper):.1f}" y2="{y:.1f}" stroke="{c}" stroke-width="2"/>'
                   f'<line x1="{x:.1f}" y1="{ay(p.y_lower):.1f}" x2="{x:.1f}" y2="{ay(p.y_upper):.1f}" stroke="{c}" stroke-width="2"/>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{c}"/>'
                   f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" fill="{c}" font-weight="700">{i + 1}</text></g>')
        ly = top + 14 + 30 * i
        word = p.verdict or "not judged"
        out.append(f'<g class="legend" data-shows="{escape(word)}"><circle cx="{right + 16}" cy="{ly - 4}" r="4" fill="{c}"/>'
                   f'<text x="{right + 24}" y="{ly}" fill="#222">{i + 1} {escape(_clip(p.label, 24))}</text>'
                   f'<text x="{right + 24}" y="{ly + 13}" fill="{c}" font-size="11">{escape(word)}</text></g>')
    ly = top + 14 + 30 * len(points)
    out.append(f'<text x="{right + 10}" y="{ly + 4}" fill="#555" font-size="11">colour: the verdict on</text>'
               f'<text x="{right + 10}" y="{ly + 17}" fill="#555" font-size="11">{escape(_clip(x_caption, 14))} and '
               f'{escape(_clip(y_caption, 14))}</text>')
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
            out.append(f'<text x="{left - 4}" y="{ay(t) + 4:.1f}" text-anchor="end" fill="#444">{axis_number(t)}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>')
    if looks:
        upper = " ".join(f"{ax(n):.1f},{ay(u):.1f}" for n, _, _, u in looks)
        lower = " ".join(f"{ax(n):.1f},{ay(lw):.1f}" for n, _, lw, _ in reversed(looks))
        out.append(f'<polygon points="{upper} {lower}" fill="#1f77b4" fill-opacity="0.18" stroke="none"/>')
        out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="'
                   + " ".join(f"{ax(n):.1f},{ay(r):.1f}" for n, r, _, _ in looks) + '"/>')
    yt = ay(target)
    out.append(f'<line x1="{left}" y1="{yt:.1f}" x2="{right}" y2="{yt:.1f}" stroke="#222" stroke-dasharray="4 3"/>'
               f'<text x="{right}" y="{yt - 4:.1f}" text-anchor="end" fill="#222">target {axis_number(target)}</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


@dataclass
class DiffRow:
    """One difference (B - A) of a difference forest: its estimate and confidence bounds (None: unbounded
    on that side), the verdict its colour shows, and whether the bounds are multiplicity-adjusted."""

    label: str
    difference: float | None
    low: float | None
    high: float | None
    verdict: str
    adjusted: bool = False


def differences(title: str, rows: list[DiffRow], *, band: tuple[float, float] | None = None, width: int = 620) -> str:
    """Differences with their intervals against zero (solid line) and the tolerance band (shaded):
    one row each, coloured by its verdict; a side with no bound runs to the edge with an arrow."""
    label_w, row_h, top = 230, 24, 36
    height = top + row_h * len(rows) + 44
    values = [v for r in rows for v in (r.difference, r.low, r.high) if v is not None] + [0.0] + list(band or ())
    lo, hi = _span(values, pad=0.08)
    ax = Axis(lo, hi, label_w + 10, width - 16)
    bottom = height - 40
    out = _open(width, height, title)
    out.append(f'<text x="4" y="16" font-weight="600" fill="#222">{escape(_clip(title, 90))}</text>')
    if band is not None and band[1] > band[0]:
        x0, x1 = ax(band[0]), ax(band[1])
        out.append(f'<rect class="tolerance" x="{x0:.1f}" y="{top - 4}" width="{max(1.0, x1 - x0):.1f}" '
                   f'height="{bottom - top + 4:.1f}" fill="#d4a72c" fill-opacity="0.18"><title>tolerance '
                   f'[{axis_number(band[0])}, {axis_number(band[1])}]</title></rect>')
    _x_axis(out, ax, bottom, nice_ticks(lo, hi), top, "difference B \u2212 A")
    xz = ax(0.0)
    out.append(f'<line class="zero" x1="{xz:.1f}" y1="{top - 4}" x2="{xz:.1f}" y2="{bottom:.1f}" stroke="#222" stroke-width="1.5"/>')
    y = top + row_h / 2
    for r in rows:
        out.append(f'<text x="{label_w}" y="{y + 4:.1f}" text-anchor="end" fill="#222">{escape(_clip(r.label, 34))}</text>')
        out.append(_diff_interval(ax, y, r))
        y += row_h
    out.append("</svg>")
    return "".join(out)


def _diff_interval(ax: Axis, y: float, r: DiffRow) -> str:
    colour = COLOURS.get(r.verdict, "#333")
    x0 = ax(r.low) if r.low is not None else ax.p0
    x1 = ax(r.high) if r.high is not None else ax.p1
    kind = "adjusted" if r.adjusted else "unadjusted"
    tip = (f"{r.label}: {r.verdict}; difference {axis_number(r.difference) if r.difference is not None else '-'}, "
           f"{kind} interval [{axis_number(r.low) if r.low is not None else '-inf'}, {axis_number(r.high) if r.high is not None else 'inf'}]")
    parts = [f'<g class="diff" data-shows="{escape(r.verdict)}"><title>{escape(tip)}</title>',
             f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>']
    for x, bounded, sign in ((x0, r.low is not None, -1), (x1, r.high is not None, 1)):
        if bounded:
            parts.append(f'<line x1="{x:.1f}" y1="{y - 5:.1f}" x2="{x:.1f}" y2="{y + 5:.1f}" stroke="{colour}" stroke-width="2"/>')
        else:  # unbounded on this side: an arrow head at the edge
            parts.append(f'<path d="M{x:.1f},{y:.1f} l{-sign * 7},-5 l0,10 z" fill="{colour}"/>')
    if r.difference is not None:
        parts.append(f'<circle cx="{ax(r.difference):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
    return "".join(parts) + "</g>"
