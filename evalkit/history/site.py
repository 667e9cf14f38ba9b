"""`evalkit site DIR`: a static site over report folders — an index of runs, a trend page per
spec × subject, and a diff page between each two consecutive runs of a subject.

Plain HTML with inline SVG and one CSS block per page: no script, no server, no network;
the site opens from the file system and survives being copied as a CI artifact (links
are relative). Every report is read as untrusted input (``records.reading``): a bad one
is skipped with a warning naming its file. Every string from a report reaches the page
escaped; every file is written atomically.

Layout of the site folder::

    index.html                   the runs, newest first; the trend pages, flagged ones first
    trends/<page>.html           one per spec × subject: a plot per requirement and metric
    diffs/<page>-<i>.html        run i against run i − 1 of that subject (i = 2 … K, oldest first)
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from .._errors import DataError, UsageError
from .._io import atomic_write_text
from ..records.model import Report
from ..report.escape import bounded, visible
from .db import run_id_of
from .index import read_indexable
from .plots import trend_plot
from .points import Point, points_of
from .trends import Page, Series, pages_of

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}.PASS{color:#1a7f37}.FAIL{color:#c62828}
.INCONCLUSIVE{color:#a15c00}.flag{color:#6a1b9a;font-weight:600}.muted{color:#666}nav a{margin-right:1rem}
svg.plot{display:block;max-width:100%;height:auto;margin:.5rem 0}
"""


@dataclass(frozen=True)
class Run:
    """One report folder: its report, where it lies, and its points."""

    path: Path  # the report.json
    report: Report
    run_id: str
    points: list[Point]

    @property
    def finished(self) -> str:
        return self.report.finished or self.report.started


def find_reports(root: Path) -> list[Path]:
    """Every report.json under ``root`` (links not followed), in path order."""
    found = []
    for here, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        if "report.json" in files:
            found.append(Path(here) / "report.json")
    return found


def load_runs(root: Path | str) -> list[Run]:
    """The finished runs under ``root``, oldest first; unreadable or interrupted reports skipped with a warning."""
    runs: dict[str, Run] = {}
    for path in find_reports(Path(root)):
        try:  # the history's own reader and run id: an id on a page is one `bless` and --baseline accept
            report, _, raw = read_indexable(path)
        except DataError as exc:
            log.warning("skipped a report: %s", exc)
            continue
        rid = run_id_of(raw)
        runs.setdefault(rid, Run(path, report, rid, points_of(report, rid, str(path))))
    return sorted(runs.values(), key=lambda r: (r.finished, r.run_id))


def points_from_history(db_path: Path | str) -> list[Point]:
    """Every point of the history database ``db_path`` (``history.db``), oldest first."""
    from .db import History, errors_named

    path = Path(db_path)
    if not path.is_file():
        raise UsageError(f"--history {db_path}: no such file; name the history database (or leave out --history)")
    with History.open(path) as h, errors_named(path):
        return h.points()


# ---------------------------------------------------------------- text and numbers


def _h(text: object) -> str:
    """Report text for the page: bounded, control characters shown, HTML-escaped."""
    return escape(visible(bounded(str(text))))


def _n(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-4 else "< 0.0001"


def _href(target: Path, here: Path) -> str:
    return escape(quote(os.path.relpath(target, here).replace(os.sep, "/")))


def page_slug(page: Page) -> str:
    """A file name for a page: the readable part sanitised, the identity hashed (no collision, no traversal)."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{page.spec}-{page.subject}")[:48].strip("-") or "page"
    identity = f"{page.spec}\0{page.subject_key}".encode()
    return f"{readable}-{hashlib.sha256(identity).hexdigest()[:10]}"


def _document(title: str, body: list[str], nav: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{_h(title)}</title>"
            f"<style>{CSS}</style></head><body>{nav}<h1>{_h(title)}</h1>" + "".join(body) + "</body></html>\n")


# ---------------------------------------------------------------- index


def _verdicts(report: Report) -> str:
    counts = Counter(r.verdict for s in report.subjects for r in s.requirements)
    broken = sum(s.status != "ok" for s in report.subjects)
    parts = [f'<span class="{v}">{counts[v]} {v}</span>' for v in ("PASS", "FAIL", "INCONCLUSIVE") if counts[v]]
    if broken:
        parts.append(f"{broken} broken")
    return ", ".join(parts) or "—"


def _index(runs: list[Run], pages: list[Page], out: Path) -> str:
    body = ["<p class=\"muted\">Every run found, newest first, and a trend page per spec and subject. Change points are "
            "flagged only where significant after correcting for every comparison over the page's history "
            "(family-wise error at most 1 − confidence per page).</p>", "<h2>Trends</h2>"]
    body.append("<table><tr><th>spec</th><th>subject</th><th>runs</th><th>change points</th></tr>")
    for page in sorted(pages, key=lambda p: (not p.flagged, p.spec, p.subject)):
        runs_n = max((len(s.points) for s in page.series), default=0)
        flags = ", ".join(_h(s.name) for s in page.flagged)
        flag_cell = f'<span class="flag">{flags}</span>' if flags else "none"
        body.append(f'<tr><td>{_h(page.spec)}</td><td><a href="trends/{page_slug(page)}.html">{_h(page.subject)}</a></td>'
                    f'<td class="num">{runs_n}</td><td>{flag_cell}</td></tr>')
    body.append("</table><h2>Runs</h2><table><tr><th>finished</th><th>spec</th><th>subjects</th><th>verdicts</th>"
                "<th>report</th></tr>")
    for run in reversed(runs):
        html_file = run.path.parent / "report.html"
        link = (f'<a href="{_href(html_file, out)}">report.html</a>' if html_file.is_file()
                else f'<span class="muted">{_h(run.path.parent.name)}/report.json</span>')
        subjects = ", ".join(_h(s.name) for s in run.report.subjects)
        body.append(f"<tr><td>{_h(run.finished)}</td><td>{_h(run.report.name)}</td><td>{subjects}</td>"
                    f"<td>{_verdicts(run.report)}</td><td>{link}</td></tr>")
    body.append("</table>")
    return _document("evalkit runs", body)


# ---------------------------------------------------------------- trend pages


def _series_section(s: Series) -> str:
    t = s.test
    if t is None:
        note = f"{len(s.points)} run(s): too few to test for a change."
    elif t.flagged:
        change = s.points[t.split]
        note = (f'<span class="flag">change point at run {t.split + 1} ({_h(change.finished)}): {_n(t.before)} → '
                f"{_n(t.after)}, adjusted p = {_p(t.p_adjusted)}</span> (raw p = {_p(t.p_value)}).")
    else:
        note = f"no significant change (adjusted p = {_p(t.p_adjusted)} at its best split, run {t.split + 1})."
    method = f'<p class="muted">{_h(t.method)}; {t.permutations} orders{" (all)" if t.exact else ""}.</p>' if t else ""
    return f"<h2>{_h(s.name)}</h2><p>{note}</p>{trend_plot(s)}{method}"


def _trend_page(page: Page, diffs: list[tuple[int, str]]) -> str:
    nav = '<nav><a href="../index.html">all runs</a></nav>'
    body = [f'<p>spec {_h(page.spec)}, subject key <code>{_h(page.subject_key)}</code>. Family-wise error over this '
            f"page at most {_n(1 - page.confidence)}: each series' max-over-splits statistic is referred to its "
            f"permutation distribution, Bonferroni over the page's {sum(s.test is not None for s in page.series)} "
            "tested series.</p>"]
    flagged = page.flagged
    if flagged:
        body.append("<h2>Change points</h2><table><tr><th>requirement / metric</th><th>from run</th><th>before</th>"
                    "<th>after</th><th>adjusted p</th></tr>")
        for s in flagged:
            t = s.test
            if t is None:  # flagged implies tested; for the type checker
                continue
            body.append(f'<tr><td>{_h(s.name)}</td><td>{t.split + 1} ({_h(s.points[t.split].finished)})</td>'
                        f'<td class="num">{_n(t.before)}</td><td class="num">{_n(t.after)}</td>'
                        f'<td class="num">{_p(t.p_adjusted)}</td></tr>')
        body.append("</table>")
    body += [_series_section(s) for s in page.series]
    if diffs:
        body.append("<h2>Run to run</h2><ul>" + "".join(
            f'<li><a href="../diffs/{name}">run {i + 1} against run {i}</a></li>' for i, name in diffs) + "</ul>")
    return _document(f"{page.subject} — {page.spec}", body, nav)


# ---------------------------------------------------------------- diff pages


def _run_order(page: Page) -> list[str]:
    """The page's runs, oldest first (a run counts if any series of the page has a point of it)."""
    seen = {p.run_id: p.finished for s in page.series for p in s.points}
    return sorted(seen, key=lambda r: (seen[r], r))


def _diff_page(page: Page, i: int, before: str, after: str, slug: str) -> str:
    nav = f'<nav><a href="../index.html">all runs</a><a href="../trends/{slug}.html">trend page</a></nav>'
    rows = ["<table><tr><th>requirement / metric</th><th>before</th><th>after</th><th>difference</th></tr>"]
    when = {}
    for s in page.series:
        by_run = {p.run_id: p for p in s.points}
        a, b = by_run.get(before), by_run.get(after)
        when.update({p.run_id: p.finished for p in (a, b) if p is not None})
        va, vb = (a.value if a else None), (b.value if b else None)
        diff = vb - va if va is not None and vb is not None else None
        rows.append(f"<tr><td>{_h(s.name)}</td><td class=\"num\">{_cell(a)}</td><td class=\"num\">{_cell(b)}</td>"
                    f"<td class=\"num\">{_n(diff)}</td></tr>")
    rows.append("</table>")
    intro = (f"<p>run {i} ({_h(when.get(before, '?'))}) → run {i + 1} ({_h(when.get(after, '?'))}). "
             "Values with their one-sided bounds as each report gave them; the difference is after − before "
             "(not a test: the trend page's change-point test is the one corrected for the history).</p>")
    return _document(f"{page.subject} — run {i + 1} against run {i}", [intro] + rows, nav)


def _cell(p: Point | None) -> str:
    if p is None:
        return '<span class="muted">not measured</span>'
    bounds = f' <span class="muted">[{_n(p.lower)}, {_n(p.upper)}]</span>' if p.lower is not None or p.upper is not None else ""
    verdict = f' <span class="{_h(p.verdict)}">{_h(p.verdict)}</span>' if p.verdict else ""
    return f"{_n(p.value)}{bounds}{verdict}"


# ---------------------------------------------------------------- the site


def build_site(runs: Iterable[Run] | None, out: Path | str, *, points: list[Point] | None = None,
               confidence: float | None = None, permutations: int | None = None) -> list[Path]:
    """Write the site for ``runs`` (or bare ``points``, e.g. from a history database) into ``out``;
    return the files written."""
    out = Path(out)
    runs = list(runs or [])
    all_points = points if points is not None else [p for r in runs for p in r.points]
    kwargs = {"permutations": permutations} if permutations else {}
    pages = pages_of(all_points, confidence=confidence, **kwargs)
    written = [out / "index.html"]
    atomic_write_text(written[0], _index(runs, pages, out))
    for page in pages:
        slug = page_slug(page)
        order = _run_order(page)
        diffs = [(i, f"{slug}-{i + 1}.html") for i in range(1, len(order))]
        for i, name in diffs:
            path = out / "diffs" / name
            atomic_write_text(path, _diff_page(page, i, order[i - 1], order[i], slug))
            written.append(path)
        path = out / "trends" / f"{slug}.html"
        atomic_write_text(path, _trend_page(page, diffs))
        written.append(path)
    return written
