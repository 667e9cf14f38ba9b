"""``report.html``: one self-contained page built from ``report.json`` and the sample store.

No network at view time and no script: images are PNG ``data:`` URIs, plots are inline
SVG (``report/svg.py``), styles are inline. Every name from the spec (spec, subject,
requirement, metric) reaches the page through Jinja's autoescape or ``html.escape``.

Top to bottom: the verdict matrix (requirements x subjects; PASS / FAIL / INCONCLUSIVE /
REGRESSED by colour and word; value, bound and n in the cell, interval on hover), plots
across subjects (a forest plot per metric against its bound, precision vs recall), then
per subject: its verdicts, the sample grid, the failing examples of each requirement with
their measurements and ``evalkit reproduce`` command, per-class pass rates with intervals
for every rate requirement, the sequential trace, the comparison with the baseline, and
at the end the provenance of the run.
"""

from __future__ import annotations

import base64
import io
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from .feature_space import feature_space_text
from .._errors import present
from ..judge import stats
from . import svg
from ..records.model import Report, RequirementResult, SubjectResult
from .numbers import bound, number
from .provenance import networks_line
from .reference import reference_notes
from ..records.samples import THUMB_SIDE, SampleRecord
from .view import ReportView

WORDS = ("PASS", "FAIL", "INCONCLUSIVE", "REGRESSED", "ERROR")
GRID_CELL_PX = 56  # on-screen size of a sample cell (thumbnails are scaled without smoothing)
GALLERY_PX = 84  # on-screen longer side of a failing example


def verdict_word(s: SubjectResult, r: RequirementResult) -> str:
    """The word a requirement's cell shows: REGRESSED when the baseline comparison flags it
    (the requirement's own verdict is shown beside it), else its verdict."""
    return "REGRESSED" if bool(getattr(r, "regressed", False)) or r.name in s.regressions else r.verdict


def verdict_counts(report: Report) -> dict[str, int]:
    """How many cells of the matrix carry each word."""
    counts = dict.fromkeys(WORDS, 0)
    for s in report.subjects:
        for r in s.requirements:
            counts[verdict_word(s, r)] += 1
    return counts


# ---------------------------------------------------------------- images


def png_data_uri(image: torch.Tensor) -> str:
    """A uint8 (C, H, W) image (or a (C, H, W) montage) as a PNG data: URI."""
    from PIL import Image

    t = image.detach().cpu()
    if t.shape[0] in (1, 3, 4):
        arr = t.permute(1, 2, 0).numpy()
        arr = arr[..., 0] if arr.shape[2] == 1 else arr
    else:  # an odd channel count: show the mean as grey
        arr = t.float().mean(0).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def montage(cells: list[torch.Tensor], gap: int = 2) -> torch.Tensor:
    """Cells side by side in one strip, separated by white gaps (one PNG per grid row)."""
    c, h, w = cells[0].shape
    strip = torch.full((c, h, len(cells) * (w + gap) - gap), 255, dtype=torch.uint8)
    for i, cell in enumerate(cells):
        strip[:, :, i * (w + gap): i * (w + gap) + w] = cell
    return strip


def grid_scale(thumb_hw) -> int:
    """How many screen pixels a thumbnail pixel takes in the grid: the whole number nearest
    GRID_CELL_PX / longer side, at least 1 (28 px -> 2, 64 px -> 1). Whole, so that each pixel
    stays a crisp square under ``image-rendering: pixelated``, and never below 1, so a
    thumbnail (already at most ``THUMB_SIDE`` px) is never shrunk again by the browser."""
    return max(1, round(GRID_CELL_PX / max(int(v) for v in thumb_hw)))


def gallery_size(thumb_hw) -> tuple[int, int]:
    """(width, height) on screen of a failing example: its longer side GALLERY_PX, its aspect kept."""
    h, w = (int(v) for v in thumb_hw)
    scale = GALLERY_PX / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def thumbnail_note(rec: SampleRecord | None) -> str:
    """The scaling rule, in words, for the page: from which size to which, and how."""
    if rec is None or "grid" not in rec.tensors:
        return ""
    c, h, w = (int(v) for v in rec.tensors["grid"].shape[1:])
    src = rec.meta.get("thumbnail", {}).get("source_shape") or [c, h, w]
    how = ("as drawn" if list(src)[-2:] == [h, w] else
           f"area-averaged from {src[-2]}x{src[-1]} so the longer side is at most {THUMB_SIDE} px")
    colour = "colour" if c == 3 else ("grey" if c == 1 else f"{c} channels")
    return (f"{colour} thumbnails {h}x{w} ({how}, clamped to [0, 1]), each pixel shown as "
            f"{grid_scale((h, w))}x{grid_scale((h, w))} screen pixels")


@dataclass
class GridRow:
    label: str
    uri: str
    width: int
    height: int
    indices: list[int]


def grid_rows(rec: SampleRecord | None) -> list[GridRow]:
    """The sample grid: one strip per asked class (or rows of the first samples when unconditional)."""
    if rec is None or "grid" not in rec.tensors:
        return []
    t = rec.tensors
    labels, indices = t["grid_label"].tolist(), t["grid_index"].tolist()
    columns = int(rec.meta.get("grid", {}).get("columns", 8))
    groups: dict[int, list[int]] = {}
    for pos, c in enumerate(labels):
        groups.setdefault(c, []).append(pos)
    rows = []
    for c in sorted(groups):
        positions = groups[c]
        for start in range(0, len(positions), columns):
            chunk = positions[start:start + columns]
            img = montage([t["grid"][p] for p in chunk])
            scale = grid_scale(t["grid"].shape[-2:])
            label = f"class {c}" if c >= 0 else f"samples {indices[chunk[0]]}\u2013{indices[chunk[-1]]}"
            rows.append(GridRow(label, png_data_uri(img), round(img.shape[2] * scale), round(img.shape[1] * scale),
                                [indices[p] for p in chunk]))
    return rows


# ---------------------------------------------------------------- per subject views


@dataclass
class FailingView:
    index: int
    label: int | None
    values: dict[str, float]
    uri: str | None
    command: str
    width: int = GALLERY_PX
    height: int = GALLERY_PX


@dataclass
class ClassCell:
    passed: int
    n: int
    lower: float
    upper: float
    state: str  # "above", "below" or "open": where the interval lies against the target


@dataclass
class SubjectView:
    s: SubjectResult
    anchor: str
    grid: list[GridRow] = field(default_factory=list)
    grid_note: str = ""
    failing: list[tuple[RequirementResult, list[FailingView], str]] = field(default_factory=list)
    class_reqs: list[RequirementResult] = field(default_factory=list)
    class_rows: list[tuple[int, list[ClassCell | None]]] = field(default_factory=list)
    class_note: str = ""
    traces: list[Markup] = field(default_factory=list)
    baseline: list[dict[str, Any]] = field(default_factory=list)
    has_store: bool = False


def _command(report_path: str, subject: str, indices: list[int], spec_path: str | None) -> str:
    """The shell command that regenerates the samples (``evalkit reproduce`` rebuilds the model
    from the user's spec, never from the report's copy): every argument shell-quoted."""
    spec = shlex.quote(spec_path) if spec_path else "SPEC.yaml"
    return " ".join(["evalkit", "reproduce", shlex.quote(report_path), shlex.quote(subject)]
                    + [str(i) for i in indices] + ["--spec", spec])


def failing_views(s: SubjectResult, rec: SampleRecord | None, report_path: str, spec_path: str | None = None):
    thumbs = rec.thumbs("failing") if rec is not None else {}
    out = []
    for r in s.requirements:
        if not r.failing:
            continue
        views = []
        for f in r.failing:
            thumb = thumbs.get(f.index)
            uri = png_data_uri(thumb) if thumb is not None else None
            w, h = gallery_size(thumb.shape[-2:]) if thumb is not None else (GALLERY_PX, GALLERY_PX)
            views.append(FailingView(f.index, f.label, f.values, uri, _command(report_path, s.name, [f.index], spec_path),
                                     w, h))
        out.append((r, views, _command(report_path, s.name, [f.index for f in r.failing], spec_path)))
    return out


def _class_cell(k: int, n: int, target: float, confidence: float) -> ClassCell:
    lower, upper = stats.cp_lower(k, n, confidence), stats.cp_upper(k, n, confidence)
    state = "above" if lower >= target else ("below" if upper < target else "open")
    return ClassCell(k, n, lower, upper, state)


def class_table(s: SubjectResult, rec: SampleRecord | None):
    """Per-class pass rates of every rate requirement, with simultaneous intervals.

    A ``per_class`` requirement shows the judge's own rows. Any other rate requirement is
    broken down from the stored per-sample outcomes: one-sided Clopper-Pearson bounds at
    confidence 1 - (1 - c) / m for m classes (Bonferroni), so all of a requirement's class
    intervals hold together at confidence c.
    """
    reqs = [r for r in s.requirements if r.kind == "rate" and (r.per_class or _stored(rec, r))]
    if not reqs:
        return [], []
    asked = rec.tensors["asked"] if rec is not None and "asked" in rec.tensors else None
    classes = sorted({c.label for r in reqs for c in r.per_class} | (set(asked.tolist()) if asked is not None else set()))
    m = max(1, len(classes))
    return reqs, [(c, [_cell_of(r, c, rec, asked, m) for r in reqs]) for c in classes]


def _cell_of(r: RequirementResult, c: int, rec: SampleRecord | None, asked, m: int) -> ClassCell | None:
    """Class ``c`` of requirement ``r``: the judge's own row (per_class), else from the stored outcomes."""
    if r.per_class:
        row = next((x for x in r.per_class if x.label == c), None)
        return None if row is None else ClassCell(row.passed, row.n, row.lower, row.upper,
                                                   {"PASS": "above", "FAIL": "below"}.get(row.verdict, "open"))
    mask = asked == c
    passed = present(present(rec, "the sample record").passed(r.name), f"the stored outcomes of {r.name!r}")  # _stored
    k, n = int(passed[mask].sum()), int(mask.sum())
    return _class_cell(k, n, float(present(r.at_least, f"at_least of {r.name!r}")), 1 - (1 - r.confidence) / m) if n else None


def _stored(rec: SampleRecord | None, r: RequirementResult) -> bool:
    return rec is not None and "asked" in rec.tensors and rec.passed(r.name) is not None


def trace_plots(s: SubjectResult) -> list[Markup]:
    return [Markup(svg.trace(f"{r.name}: bound at each look", [(lk.n, lk.passed / lk.n if lk.n else 0.0, lk.lower, lk.upper)
                                                                 for lk in r.looks], float(r.at_least or 0)))
            for r in s.requirements if r.looks]


def is_regressed(s: SubjectResult, r: RequirementResult) -> bool:
    return bool(getattr(r, "regressed", False)) or r.name in s.regressions


def baseline_rows(s: SubjectResult, base: Report | None) -> list[dict[str, Any]]:
    """Current beside baseline for every requirement compared: from the comparison the run
    recorded (``r.baseline``), with the baseline's own interval when its report can be read."""
    subjects = {x.name: x for x in base.subjects} if base is not None else {}
    rows = []
    for r in s.requirements:
        cmp = getattr(r, "baseline", None)
        b = subjects.get(cmp.baseline_subject if cmp is not None else s.name)
        br = next((x for x in b.requirements if x.name == r.name), None) if b is not None else None
        if cmp is not None:
            rows.append(_recorded_row(s, r, br, cmp))
        elif br is not None and br.value is not None and r.value is not None:
            # an older report without the recorded comparison: the two values only
            rows.append({"name": r.name, "now": r, "base": br, "base_value": br.value, "diff": r.value - br.value,
                         "low": None, "high": None, "tolerance": None, "method": None, "regressed": is_regressed(s, r)})
    return rows


def _recorded_row(s: SubjectResult, r: RequirementResult, br: RequirementResult | None, cmp) -> dict[str, Any]:
    """A baseline row from the comparison the run recorded on the requirement."""
    return {"name": r.name, "now": r, "base": br, "base_value": cmp.baseline_value, "diff": cmp.difference,
            "low": cmp.low, "high": cmp.high, "tolerance": cmp.tolerance, "method": cmp.method,
            "regressed": is_regressed(s, r)}


def baseline_plot(s: SubjectResult, rows: list[dict[str, Any]]) -> Markup | None:
    """Metric requirements, baseline above current, with regressions drawn in the REGRESSED colour."""
    parts = []
    for x in rows:
        r, br = x["now"], x["base"]
        if r.kind != "metric" or r.lower is None or x["base_value"] is None:
            continue
        base = (br.value, br.lower, br.upper) if br is not None and br.lower is not None else (x["base_value"],) * 3
        row = svg.ForestRow(r.name, r.value, r.lower, r.upper, "REGRESSED" if x["regressed"] else r.verdict, baseline=base)
        parts.append(svg.forest(f"{r.name}: current vs baseline", [row], at_most=r.at_most, at_least=r.at_least, width=520))
    return Markup("".join(parts)) if parts else None


# ---------------------------------------------------------------- plots across subjects


def forest_plots(report: Report) -> list[Markup]:
    """One forest plot per metric requirement: every subject's value and interval against the bound."""
    names: list[str] = []
    for s in report.subjects:
        names += [r.name for r in s.requirements if r.kind == "metric" and r.name not in names]
    plots = []
    for name in names:
        rows, decl = [], None
        for s in report.subjects:
            r = next((x for x in s.requirements if x.name == name), None)
            if r is None or r.value is None or r.lower is None or r.upper is None:
                continue
            decl = r
            rows.append(svg.ForestRow(s.name, r.value, r.lower, r.upper, verdict_word(s, r)))
        if rows:
            decl = present(decl, "the requirement plotted")  # set with the first row
            conf = f" (one-sided bounds at {decl.confidence:g} each)"
            plots.append(Markup(svg.forest(name + conf, rows, at_most=decl.at_most, at_least=decl.at_least)))
    return plots


def precision_recall_plot(report: Report) -> Markup | None:
    points = []
    for s in report.subjects:
        ms = {m.name: m for m in s.metrics}
        p, r = ms.get("precision"), ms.get("recall")
        if p is not None and r is not None:
            points.append(svg.Point(s.name, r.value, r.lower, r.upper, p.value, p.lower, p.upper,
                                    verdict=pr_verdict(s, (p.name, r.name))))
    if not points:
        return None
    return Markup(svg.scatter("Precision vs recall per subject", points, x_caption="recall", y_caption="precision"))


def pr_verdict(s: SubjectResult, names: tuple[str, ...]) -> str | None:
    """The one word a subject's point carries: the worst of the words of its requirements on these
    metrics (REGRESSED, then FAIL, then INCONCLUSIVE; PASS only when every one PASSes); None when no
    requirement judges them (the point is then drawn neutral grey)."""
    words = [verdict_word(s, r) for r in s.requirements if r.kind == "metric" and r.name in names]
    for w in ("REGRESSED", "FAIL", "ERROR", "INCONCLUSIVE"):
        if w in words:
            return w
    return "PASS" if words else None


# ---------------------------------------------------------------- the page


def matrix(view: ReportView) -> tuple[list[str], list[list[tuple[str, RequirementResult] | None]]]:
    """(requirement names, per name one cell per subject: (word, result) or None where it has none)."""
    rows = []
    for name in view.requirement_names:
        cells = []
        for s in view.report.subjects:
            r = view.result(s, name)
            cells.append(None if r is None else (verdict_word(s, r), r))
        rows.append(cells)
    return view.requirement_names, rows


def cell_title(r: RequirementResult, word: str) -> str:
    value = f"{r.passed}/{r.n} = {number(r.value)}" if r.kind == "rate" else number(r.value)
    return (f"{word}: {value}; bound {bound(r)}; one-sided interval [{number(r.lower)}, {number(r.upper)}] "
            f"at confidence {r.confidence:.4g}" + (f"; n = {r.n}" if r.n is not None else ""))


def to_html(report: Report, samples: dict[str, SampleRecord | None] | None = None, *, baseline: Report | None = None,
            report_path: str | Path = "report.json") -> str:
    """The page of ``report`` with these ``samples`` and ``baseline`` beside it (see ``ReportView``)."""
    return page(ReportView(report, samples or {}, baseline, str(report_path)))


def page(view: ReportView) -> str:
    """The ``html`` format: the page, from the report's view (its sample store and baseline loaded)."""
    report, samples = view.report, view.samples
    views = []
    for i, s in enumerate(report.subjects):
        rec = samples.get(s.name)
        v = SubjectView(s, f"subject-{i}", has_store=rec is not None)
        v.grid = grid_rows(rec)
        v.grid_note = thumbnail_note(rec)
        v.failing = failing_views(s, rec, view.report_path, report.spec_path)
        v.class_reqs, v.class_rows = class_table(s, rec)
        v.traces = trace_plots(s)
        v.baseline = baseline_rows(s, view.baseline)
        views.append(v)
    names, rows = matrix(view)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(
        r=report, views=views, names=names, rows=rows, counts=verdict_counts(report), words=WORDS,
        forests=forest_plots(report), pr=precision_recall_plot(report), baseline_plot=baseline_plot,
        fmt=number, bound=bound, title=cell_title, spec_text=_spec_text(report), word=verdict_word,
        feature_space=feature_space_text(report.reference), ref_notes=reference_notes(report.reference),
        networks=networks_line(report),
    )


def _spec_text(report: Report) -> str:
    import json

    return json.dumps(report.spec, indent=2, sort_keys=False, default=str)


_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1rem 1.5rem 3rem;max-width:1240px;color:#1d1d1d;line-height:1.4}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin-top:2.2rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.scroll{overflow-x:auto;max-width:100%}
.matrix{table-layout:fixed;width:100%}.matrix th,.matrix td{overflow-wrap:anywhere}.matrix td{text-align:center}
.matrix td.v{padding:.2rem .3rem}.v b{font-size:.82rem;letter-spacing:.02em;margin-right:.3rem}.v small{display:block;color:inherit;opacity:.85;font-size:.75rem}
.v-PASS{background:#e3f4e6;color:#0f5c27}.v-FAIL{background:#fde2e2;color:#9b1111}
.v-INCONCLUSIVE{background:#fff1d6;color:#7a4600}.v-REGRESSED{background:#f0e0f7;color:#561480}.v-ERROR{background:#ececec;color:#333}
.tag{display:inline-block;padding:0 .35rem;border-radius:.25rem;font-weight:700;font-size:.8rem}
.counts span{margin-right:.8rem}.note{color:#555;font-size:.88rem}.nw{white-space:nowrap}
.plots{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.plots svg{max-width:100%;height:auto;border:1px solid #eee;background:#fff}
.grid th{font-weight:500;white-space:nowrap}.grid img,.gallery img{image-rendering:pixelated;display:block}
.gallery{display:flex;flex-wrap:wrap;gap:.6rem;margin:.4rem 0}
.gallery figure{margin:0;padding:.3rem;border:1px solid #ddd;width:7.6rem;font-size:.78rem}
.gallery figcaption{overflow-wrap:anywhere}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;max-width:100%;white-space:pre}pre.cmd{white-space:pre-wrap;overflow-wrap:anywhere}
.above{color:#0f5c27}.below{color:#9b1111;font-weight:600}.open{color:#7a4600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;font-size:.9rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
details{margin:.5rem 0}summary{cursor:pointer}
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>evalkit: {{ r.name }}</title><style>""" + _STYLE + """</style></head><body>
<h1>evalkit report: {{ r.name }}</h1>
<p class="note">{{ r.subjects|length }} subjects &middot; seed {{ r.seed }} &middot; started {{ r.started }}
{% if r.finished %}&middot; finished {{ r.finished }}{% endif %} &middot; spec sha256 <code>{{ r.spec_sha256[:12] }}</code>
{% if r.strict %}&middot; <b>--strict</b>: INCONCLUSIVE counts as a failure{% endif %}
{% if r.interrupted %}&middot; <b>interrupted: partial results</b>{% endif %}</p>
{% if networks %}<p class="note">Networks: {{ networks }}</p>{% endif %}

<h2 id="verdicts">Verdicts</h2>
<p class="counts" id="verdict-counts">{% for w in words %}{% if counts[w] %}<span class="tag v-{{ w }}" data-word="{{ w }}" data-count="{{ counts[w] }}">{{ counts[w] }} {{ w }}</span>{% endif %}{% endfor %}</p>
{% if names %}<table class="matrix" id="verdict-matrix"><thead><tr><th scope="col">requirement</th>
{% for v in views %}<th scope="col"><a href="#{{ v.anchor }}">{{ v.s.name }}</a>{% if v.s.status != "ok" %} <span class="tag v-ERROR">{{ v.s.status }}</span>{% endif %}</th>{% endfor %}</tr></thead><tbody>
{% for name in names %}{% set row = rows[loop.index0] %}<tr><th scope="row">{{ name }}</th>
{% for cell in row %}{% if cell %}{% set w, q = cell %}<td class="v v-{{ w }}" data-verdict="{{ w }}" title="{{ title(q, w) }}"><b>{{ w }}</b>
{% if w == "REGRESSED" %}<small>(verdict {{ q.verdict }})</small>{% endif %}
<span>{{ fmt(q.value) }}</span>
<small>{{ bound(q)|replace(">=", "≥")|replace("<=", "≤") }}{% if q.n is not none %} &middot; n {{ q.n }}{% endif %}</small></td>
{% else %}<td class="note">&ndash;</td>{% endif %}{% endfor %}</tr>{% endfor %}
</tbody></table>
<p class="note">Each word holds at its stated confidence: PASS when the one-sided lower bound meets the bound, FAIL when
the upper bound misses it, INCONCLUSIVE otherwise; REGRESSED: significantly worse than the baseline. Hover a cell for its interval.</p>{% endif %}

{% if forests or pr %}<h2 id="plots">Metrics across subjects</h2>
<p class="note">Dot: the estimate; bar: from the one-sided lower to the one-sided upper bound; dashed line: the requirement's bound.
Colour means the verdict: <span class="above">green PASS</span>, <span class="below">red FAIL</span>, <span class="open">amber INCONCLUSIVE</span>, purple REGRESSED;
in the precision-recall plot, the worst verdict of the subject's precision and recall requirements (grey: neither is judged), and the number names the subject.
An axis whose values span more than a factor of 30 is on a log scale (and says so).</p>
<div class="plots">{% for p in forests %}{{ p }}{% endfor %}{% if pr %}{{ pr }}{% endif %}</div>{% endif %}

{% for v in views %}{% set s = v.s %}
<h2 id="{{ v.anchor }}">{{ s.name }}</h2>
<p>status <b>{{ s.status }}</b> &middot; n = {{ s.n }} of {{ s.n_planned }}{% if s.stopped_early %} (stopped early: every requirement decided){% endif %}
{% if s.samples_per_second %} &middot; {{ s.samples_per_second }} samples/s{% endif %} &middot; {{ "%.1f"|format(s.seconds) }} s
{% if s.nonfinite %} &middot; {{ s.nonfinite }} samples with NaN/Inf{% endif %}</p>
{% if s.error %}<p class="v-FAIL">{{ s.error }}</p>{% endif %}
{% if s.requirements %}<div class="scroll"><table><thead><tr><th>requirement</th><th>verdict</th><th>value</th><th>bound</th><th>interval (one-sided)</th><th>n</th><th>confidence</th><th>note</th></tr></thead><tbody>
{% for q in s.requirements %}{% set w = word(s, q) %}<tr><td>{{ q.name }}</td><td><span class="tag v-{{ w }}">{{ w }}</span></td>
<td class="nw">{% if q.kind == "rate" %}{{ q.passed }}/{{ q.n }} = {{ fmt(q.value) }}{% else %}{{ fmt(q.value) }}{% endif %}</td>
<td class="nw">{{ bound(q) }}</td><td class="nw">[{{ fmt(q.lower) }}, {{ fmt(q.upper) }}]</td><td>{{ q.n if q.n is not none else "-" }}</td><td>{{ "%.4g"|format(q.confidence) }}</td>
<td class="note">{{ q.message or "" }}{% if q.correction %} {{ q.correction }}{% endif %}{% if q.method %} ({{ q.method }}){% endif %}</td></tr>{% endfor %}
</tbody></table></div>{% endif %}

{% if v.grid %}<h3>Sample grid</h3>
<p class="note">Fixed cells: {% if v.grid[0].label.startswith("class") %}per asked class, the first {{ v.grid[0].indices|length }} sample indices asked for it{% else %}the first sample indices{% endif %}; the same seed shows the same cells; {{ v.grid_note }}.</p>
<table class="grid"><tbody>{% for g in v.grid %}<tr><th scope="row">{{ g.label }}</th><td><img src="{{ g.uri }}" width="{{ g.width }}" height="{{ g.height }}" alt="{{ s.name }}: {{ g.label }}, samples {{ g.indices|join(', ') }}" title="samples {{ g.indices|join(', ') }}"></td></tr>{% endfor %}</tbody></table>
{% elif not v.has_store %}<p class="note">No sample store beside this report: no images to show (older report, or written without one).</p>{% endif %}

{% if v.failing %}<h3>Failing examples</h3>
{% for q, items, cmd in v.failing %}{% set total = (q.n or 0) - (q.passed or 0) %}<h4>{{ q.name }} <span class="note">({% if total == items|length %}{% if total == 1 %}its one failing sample{% else %}all {{ total }} failing samples{% endif %}{% else %}the first {{ items|length }} of {{ total }} failing samples{% endif %})</span></h4>
<div class="gallery">{% for f in items %}<figure title="{{ f.command }}">{% if f.uri %}<img src="{{ f.uri }}" width="{{ f.width }}" height="{{ f.height }}" alt="sample {{ f.index }}">{% endif %}
<figcaption><b>#{{ f.index }}</b>{% if f.label is not none %} asked class {{ f.label }}{% endif %}{% for k, val in f.values.items() %}<br>{{ k }} = {{ "%.3g"|format(val) }}{% endfor %}</figcaption></figure>{% endfor %}</div>
<pre class="cmd">{{ cmd }}</pre>{% endfor %}{% endif %}

{% if v.class_reqs %}<h3>Per class</h3>
<p class="note">Pass rate k/n per asked class with one-sided bounds at confidence 1 &minus; (1 &minus; c)/m over the m classes (Bonferroni), so a requirement's class intervals hold together;
green: lower bound meets the target, red: upper bound below it.</p>
<div class="scroll"><table><thead><tr><th>class</th>{% for q in v.class_reqs %}<th>{{ q.name }} (&ge; {{ fmt(q.at_least) }})</th>{% endfor %}</tr></thead><tbody>
{% for c, cells in v.class_rows %}<tr><th scope="row">{{ c }}</th>{% for cell in cells %}<td>{% if cell %}<span class="{{ cell.state }} nw">{{ cell.passed }}/{{ cell.n }} = {{ fmt(cell.passed / cell.n) }}</span> <span class="note nw">[{{ fmt(cell.lower) }}, {{ fmt(cell.upper) }}]</span>{% else %}&ndash;{% endif %}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></div>{% endif %}

{% if s.metrics %}<h3>Metrics</h3><div class="scroll"><table><thead><tr><th>metric</th><th>value</th><th>interval (one-sided)</th><th>n</th><th>method</th></tr></thead><tbody>
{% for m in s.metrics %}<tr><td>{{ m.name }}</td><td class="nw">{{ fmt(m.value) }}</td><td class="nw">[{{ fmt(m.lower) }}, {{ fmt(m.upper) }}]</td><td class="nw">{{ m.n }}{% if m.n_reference %} vs {{ m.n_reference }} real{% endif %}</td><td class="note">{{ m.method }}{% if m.note %}; {{ m.note }}{% endif %}</td></tr>{% endfor %}
</tbody></table></div>{% endif %}

{% if v.traces %}<h3>Sequential looks</h3><p class="note">The observed rate (line) and its bounds (band) at every look, each at the confidence that look could spend, closing in on the target until the verdict is decided.</p>
<div class="plots">{% for t in v.traces %}{{ t }}{% endfor %}</div>{% endif %}

{% if v.baseline %}<h3>Against the baseline</h3>
<div class="scroll"><table><thead><tr><th>requirement</th><th>baseline</th><th>current</th><th>difference</th><th>interval of the difference</th><th>tolerance</th><th></th></tr></thead><tbody>
{% for b in v.baseline %}<tr><td>{{ b.name }}</td><td>{{ fmt(b.base_value) }}{% if b.base and b.base.lower is not none %} [{{ fmt(b.base.lower) }}, {{ fmt(b.base.upper) }}]{% endif %}</td>
<td>{{ fmt(b.now.value) }} [{{ fmt(b.now.lower) }}, {{ fmt(b.now.upper) }}]</td><td>{{ "%+.4g"|format(b.diff) if b.diff is not none else "-" }}</td>
<td>{% if b.low is not none or b.high is not none %}[{{ fmt(b.low) }}, {{ fmt(b.high) }}]{% else %}-{% endif %}</td><td>{{ fmt(b.tolerance) }}</td>
<td>{% if b.regressed %}<span class="tag v-REGRESSED">REGRESSED</span>{% else %}no significant regression{% endif %}{% if b.method %} <span class="note">({{ b.method }})</span>{% endif %}</td></tr>{% endfor %}</tbody></table></div>
{% set bp = baseline_plot(s, v.baseline) %}{% if bp %}<div class="plots">{{ bp }}</div>{% endif %}
{% elif s.regressions %}<p><span class="tag v-REGRESSED">REGRESSED</span> against the baseline: {{ s.regressions|join(", ") }}</p>{% endif %}
{% endfor %}

<h2 id="provenance">Provenance</h2>
<dl>
<dt>spec</dt><dd>{{ r.spec_path or "(in memory)" }}; sha256 <code>{{ r.spec_sha256 }}</code></dd>
<dt>seed</dt><dd>{{ r.seed }}</dd>
<dt>started / finished</dt><dd>{{ r.started }} / {{ r.finished or "-" }}</dd>
{% if r.reference %}<dt>reference</dt><dd>{{ r.reference.source }} ({% if r.reference.n is not none %}{{ r.reference.n }} images{% else %}imported statistics{% endif %}; sha256 <code>{{ r.reference.sha256 }}</code>); features {{ r.reference.features }} (d = {{ r.reference.feature_dim }}, <code>{{ r.reference.extractor_digest }}</code>)</dd>{% endif %}
{% if feature_space %}<dt>feature space</dt><dd>{{ feature_space }}</dd>{% endif %}
{% for label, note in ref_notes %}<dt>{{ label }}</dt><dd>{{ note }}</dd>{% endfor %}
{% if networks %}<dt>networks</dt><dd>{{ networks }}</dd>{% endif %}
{% if r.baseline %}<dt>baseline</dt><dd>{{ r.baseline }}</dd>{% endif %}
<dt>device</dt><dd>{{ r.environment.device }}{% if r.environment.world_size > 1 %}; {{ r.environment.world_size }} processes{% endif %}</dd>
<dt>versions</dt><dd>evalkit {{ r.environment.evalkit }}, torch {{ r.environment.torch }}, python {{ r.environment.python }}{% for k, val in r.environment.packages.items() %}, {{ k }} {{ val }}{% endfor %}; {{ r.environment.platform }}</dd>
{% for v in views %}<dt>{{ v.s.name }}</dt><dd>{% if v.s.model %}model {{ v.s.model }}{% endif %}{% if v.s.path %}path {{ v.s.path }}{% endif %}{% if v.s.params %}; params {% for k, val in v.s.params.items() %}{{ k }}={{ val }}{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}
{%- if v.s.weights_sha256 %}; weights sha256 <code>{{ v.s.weights_sha256 }}</code>{% endif %}; {{ "%.1f"|format(v.s.seconds) }} s{% if v.s.samples_per_second %}, {{ v.s.samples_per_second }} samples/s{% endif %}</dd>{% endfor %}
</dl>
<details><summary>The spec, as run (canonical form)</summary><pre>{{ spec_text }}</pre></details>
</body></html>
"""
