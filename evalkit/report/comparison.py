"""The renderings of a comparison record: the terminal table, comparison.md, comparison.html
(and comparison.json beside them).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .._io import atomic_write_text
from ..records.comparison import Comparison, Row
from .escape import md_cell_code, md_text
from . import svg
from .numbers import p_value, short, signed


def _interval(r: Row) -> str:
    if r.adjusted_low is not None and r.adjusted_high is not None:  # the bounds the verdict used
        return f"[{signed(r.adjusted_low)}, {signed(r.adjusted_high)}]"
    return "-" if r.low is None or r.high is None else f"[{signed(r.low)}, {signed(r.high)}]"


HEADER = ["requirement / metric", "A", "B", "value A", "value B", "B - A", "adjusted interval", "p (Holm)", "B vs A", "test"]


def _cells(r: Row) -> list[str]:
    method = r.method
    if r.note and r.note.startswith("unpaired:"):  # the note says it, with the reason
        method = method.replace(" (unpaired)", "")
    test = method + (f"; {r.note}" if r.note else "")
    arrow = "higher is better" if r.higher_is_better else "lower is better"
    return [r.name, r.a, r.b, short(r.value_a), short(r.value_b), signed(r.difference), _interval(r), p_value(r.p_value),
            r.verdict, f"{test} ({arrow})"]


def _summary(c: Comparison) -> list[str]:
    lines = [f"confidence {c.confidence:g}; multiplicity: {c.correction}",
             "adjusted intervals: bounds of B - A at the confidence each row's Holm step decided at "
             "(1 - alpha*p/p_adj), so they exclude 0 exactly when the row says better or worse"]
    if c.ranking:
        lines.append("ranking: " + " > ".join(c.ranking) + f" ({c.ranking_note})")
    else:
        lines.append(c.ranking_note)
    return lines + c.notes


def to_text(c: Comparison) -> str:
    out = []
    if not c.comparable:
        out += ["NOT COMPARABLE (--force): " + "; ".join(c.not_comparable), ""]
    # the terminal names each row's test in a word or two (the files carry the whole method and note)
    table = [HEADER] + [_cells(r)[:9] + [r.method.split(" (")[0].split(";")[0] or "-"] for r in c.rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    out += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(out + [""] + _summary(c)) + "\n"


def _md(text: str) -> str:
    """Text in comparison.md: escaped as in report.md (one module, ``escape``)."""
    return md_text(text)


def to_markdown(c: Comparison) -> str:
    lines = ["# evalkit comparison", ""]
    if not c.comparable:
        lines += ["> **NOT COMPARABLE** (compared with --force): " + _md("; ".join(c.not_comparable)), ""]
    lines += [f"- {md_text(x.label)}: subject {md_cell_code(x.subject)} of {md_cell_code(x.report)}, n = {x.n}"
              for x in c.contenders]
    lines += [""] + [f"- {_md(x)}" for x in _summary(c)] + [""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in c.rows:
        cells = [_md(x) for x in _cells(r)]
        if r.verdict in ("better", "worse"):
            cells[8] = f"**{cells[8]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def decision_bounds(r: Row) -> tuple[float | None, float | None, bool]:
    """(low, high, adjusted): the interval the row's decision rests on, the multiplicity-adjusted one
    where the record carries it (``adjusted_low``/``adjusted_high``), else the row's own bounds."""
    lo, hi = getattr(r, "adjusted_low", None), getattr(r, "adjusted_high", None)
    if lo is not None or hi is not None:
        return lo, hi, True
    return r.low, r.high, False


def forest_plots(c: Comparison) -> list[str]:
    """One difference forest per requirement or metric: every pair's B - A with the interval its
    decision rests on, against zero and the row's tolerance band (where the record has one),
    coloured by the row's verdict."""
    names = list(dict.fromkeys(r.name for r in c.rows))
    plots = []
    for name in names:
        rows = [r for r in c.rows if r.name == name]
        diffs = []
        for r in rows:
            lo, hi, adjusted = decision_bounds(r)
            diffs.append(svg.DiffRow(f"{r.b} vs {r.a}", r.difference, lo, hi, r.verdict, adjusted))
        tol = getattr(rows[0], "tolerance", None)
        band = None if not tol else ((-tol, 0.0) if rows[0].higher_is_better else (0.0, tol))
        arrow = "higher is better" if rows[0].higher_is_better else "lower is better"
        plots.append(svg.differences(f"{name}: B \u2212 A ({arrow})", diffs, band=band))
    return plots


def to_html(c: Comparison) -> str:
    e = html.escape
    colour = {"better": "#1a7f37", "worse": "#cf222e", "no significant difference": "#57606a", "not tested": "#9a6700"}
    rows = []
    for r in c.rows:
        cells = _cells(r)
        # names may break anywhere (a long subject name must not widen the page); numbers never
        tds = "".join(f'<td class="{"num" if i >= 3 else "name"}">{e(x)}</td>' for i, x in enumerate(cells[:8]))
        tds += f'<td style="color:{colour[r.verdict]};font-weight:bold">{e(cells[8])}</td><td class="m">{e(cells[9])}</td>'
        rows.append(f"<tr>{tds}</tr>")
    banner = ""
    if not c.comparable:
        banner = f'<p class="nc"><strong>NOT COMPARABLE</strong> (compared with --force): {e("; ".join(c.not_comparable))}</p>'
    who = "".join(f"<li>{e(x.label)}: subject <code>{e(x.subject)}</code> of <code>{e(x.report)}</code>, n = {x.n}</li>"
                  for x in c.contenders)
    summary = "".join(f"<li>{e(x)}</li>" for x in _summary(c))
    head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
    plots = "".join(forest_plots(c))
    forest = (f'<h2>Differences</h2><p class="note">Dot: B &minus; A; bar: the interval the verdict rests on (Holm-adjusted '
              f'where the record has it); solid line: no difference; shaded: the tolerance; colour: the row\'s verdict '
              f'(green better, red worse, grey no significant difference, amber not tested); an arrow: no bound on that side.</p>'
              f'<div class="plots">{plots}</div>') if plots else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evalkit comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1f2328; max-width: 1240px; }}
table {{ border-collapse: collapse; width: 100%; table-layout: auto; }}
th, td {{ border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }} td.m {{ font-size: 12px; color: #57606a; width: 30%; overflow-wrap: anywhere; }}
td.name {{ overflow-wrap: anywhere; min-width: 6em; }} td.num {{ white-space: nowrap; }}
.nc {{ background: #fff8c5; border: 1px solid #d4a72c; padding: 8px; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1rem; }} .plots svg {{ max-width: 100%; height: auto; border: 1px solid #eee; }}
.note {{ color: #57606a; font-size: 13px; }}
</style></head><body>
<h1>evalkit comparison</h1>
{banner}<ul>{who}</ul><ul>{summary}</ul>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{forest}
</body></html>
"""


def write(c: Comparison, out_dir: Path) -> list[Path]:
    """comparison.json, comparison.md and comparison.html, each written atomically."""
    files = {
        "comparison.json": json.dumps(c.model_dump(mode="json"), indent=2, allow_nan=False) + "\n",
        "comparison.md": to_markdown(c),
        "comparison.html": to_html(c),
    }
    paths = []
    for name, text in files.items():
        atomic_write_text(out_dir / name, text)
        paths.append(out_dir / name)
    return paths
