"""The trend plot: one value per run with its interval as a bar, the flagged change point marked.

Pure SVG text in the house style of ``report.svg`` (no script, no plotting library, every
string escaped, every number formatted before it reaches an attribute). The value axis is
logarithmic when the values span more than 1.5 orders of magnitude (a FID that went from
3 to 300 would otherwise flatten every other run onto the floor)."""

from __future__ import annotations

import math
from html import escape

from ..report.svg import COLOURS, FONT, Axis, axis_number, nice_ticks
from .trends import Series

LOG_SPAN = 1.5  # orders of magnitude beyond which the axis is logarithmic
CHANGE = "#6a1b9a"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def uses_log_axis(values: list[float]) -> bool:
    """Log axis: every value positive and the largest over the smallest beyond 10^LOG_SPAN."""
    vals = [v for v in values if math.isfinite(v)]
    return bool(vals) and min(vals) > 0 and math.log10(max(vals) / min(vals)) > LOG_SPAN


class _ValueAxis:
    """Data value -> pixel, linear or log10, with its tick positions."""

    def __init__(self, values: list[float], bottom: float, top: float):
        vals = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
        self.log = uses_log_axis(vals)
        f = math.log10 if self.log else (lambda v: v)
        lo, hi = f(min(vals)), f(max(vals))
        if hi == lo:
            lo, hi = lo - (abs(lo) * 0.1 or 0.5), hi + (abs(hi) * 0.1 or 0.5)
        pad = (hi - lo) * 0.06
        self.lo, self.hi = lo - pad, hi + pad
        self.axis = Axis(self.lo, self.hi, bottom, top)
        self.f = f

    def __call__(self, v: float) -> float:
        return self.axis(self.f(v) if not self.log or v > 0 else self.lo)

    def ticks(self) -> list[float]:
        if not self.log:
            return [t for t in nice_ticks(self.lo, self.hi, 4) if self.lo <= t <= self.hi]
        first, last = math.floor(self.lo), math.ceil(self.hi)
        mults = (1, 2, 5) if last - first <= 3 else (1,)
        return [m * 10.0 ** e for e in range(first, last + 1) for m in mults if self.lo <= math.log10(m * 10.0 ** e) <= self.hi]


def trend_plot(series: Series, *, width: int = 640, height: int = 240) -> str:
    """One series as an SVG: runs left to right (oldest first), each value with its interval as a bar,
    coloured by the run's verdict; a flagged change point as a dashed line before its first run, with
    the levels before and after it."""
    pts = series.points
    left, top, right, bottom = 56, 30, width - 14, height - 40
    values = [v for p in pts for v in (p.value, p.lower, p.upper) if v is not None]
    ay = _ValueAxis(values, bottom, top)
    ax = Axis(-0.5, len(pts) - 0.5, left, right)
    title = f"{series.name} ({series.kind})" + (" · log scale" if ay.log else "")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(title)}" class="plot trend" {FONT}><title>{escape(title)}</title>',
           f'<text x="4" y="16" font-weight="600" fill="#222">{escape(_clip(title, 80))}</text>']
    for t in ay.ticks():
        y = ay(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eeeeee"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{axis_number(t)}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>'
               f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>')
    step = max(1, math.ceil(len(pts) / 15))
    for i in range(0, len(pts), step):
        out.append(f'<text x="{ax(i):.1f}" y="{bottom + 14}" text-anchor="middle" fill="#444">{i + 1}</text>')
    out.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 30}" text-anchor="middle" fill="#222">run (oldest first)</text>')
    test = series.test
    if test is not None and test.flagged:
        out.append(_change_mark(ax, ay, test.split, len(pts), test.before, test.after, test.p_adjusted, top, bottom))
    for i, p in enumerate(pts):
        out.append(_run_mark(ax(i), ay, p))
    out.append("</svg>")
    return "".join(out)


def _run_mark(x: float, ay: _ValueAxis, p) -> str:
    colour = COLOURS.get(p.verdict or "", "#1f4e79")
    lo = p.lower if p.lower is not None else p.value
    hi = p.upper if p.upper is not None else p.value
    tip = f"run {p.finished}: {axis_number(p.value)}"
    if p.lower is not None or p.upper is not None:
        tip += f" [{axis_number(lo)}, {axis_number(hi)}]"
    tip += f" {p.verdict}" if p.verdict else ""
    bar = (f'<line x1="{x:.1f}" y1="{ay(lo):.1f}" x2="{x:.1f}" y2="{ay(hi):.1f}" stroke="{colour}" stroke-width="2.5" '
           f'stroke-opacity="0.55"/>' if lo != hi else "")
    return (f'<g class="run"><title>{escape(tip)}</title>{bar}'
            f'<circle cx="{x:.1f}" cy="{ay(p.value):.1f}" r="3.5" fill="{colour}"/></g>')


def _change_mark(ax: Axis, ay: _ValueAxis, split: int, k: int, before: float, after: float, p_adj: float,
                 top: float, bottom: float) -> str:
    x = (ax(split - 1) + ax(split)) / 2
    label = f"change at run {split + 1}, p_adj = {p_adj:.2g}"
    anchor = "end" if split > k / 2 else "start"
    dx = -4 if anchor == "end" else 4
    return (f'<g class="change"><title>{escape(label)}</title>'
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{CHANGE}" stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<line x1="{ax(-0.4):.1f}" y1="{ay(before):.1f}" x2="{x:.1f}" y2="{ay(before):.1f}" stroke="{CHANGE}" stroke-opacity="0.6"/>'
            f'<line x1="{x:.1f}" y1="{ay(after):.1f}" x2="{ax(k - 0.6):.1f}" y2="{ay(after):.1f}" stroke="{CHANGE}" stroke-opacity="0.6"/>'
            f'<text x="{x + dx:.1f}" y="{top + 12}" text-anchor="{anchor}" fill="{CHANGE}">{escape(label)}</text></g>')
