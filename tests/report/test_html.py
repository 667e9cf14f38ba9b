"""report.html read as text and parsed: escaped names, self-contained, numbers from the report."""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from evalkit.report.html import to_html
from evalkit.records.reading import read_report

from .conftest import HOSTILE


class Page(HTMLParser):
    """Collects tags, attributes and text (the standard library's parser, not ours)."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def page(small_run):
    _, out, _ = small_run
    html = (out / "report.html").read_text()
    return html, parse(html)


def test_hostile_names_are_text_never_markup(page, small_run):
    html, p = page
    tags = {t for t, _ in p.tags}
    assert "script" not in tags
    assert not any(k.startswith("on") for _, a in p.tags for k in a)  # no onerror= / onclick= anywhere
    # the names are there, as text a reader sees
    text = "".join(p.text)
    for who in ("spec", "subject", "req"):
        assert HOSTILE.format(who) in text
    # the only <img> elements are our data: URIs (the hostile "<img src=x" stayed text)
    assert all(a.get("src", "").startswith("data:image/png;base64,") for t, a in p.tags if t == "img")


def test_self_contained(page):
    html, p = page
    for t, a in p.tags:
        for k in ("src", "href"):
            if k in a:
                assert a[k].startswith(("data:", "#")), (t, k, a[k][:60])
        assert t not in ("link", "iframe", "object", "embed")
    assert "url(" not in html.split("</style>")[0].split("<style>")[1]  # no fetched CSS resource
    assert 'loading="lazy"' not in html


def test_matrix_counts_match_the_json(page, small_run):
    _, out, _ = small_run
    _, p = page
    data = json.loads((out / "report.json").read_text())
    expect: dict[str, int] = {}
    for s in data["subjects"]:
        for r in s["requirements"]:
            w = "REGRESSED" if r["name"] in s["regressions"] else r["verdict"]
            expect[w] = expect.get(w, 0) + 1
    got: dict[str, int] = {}
    for t, a in p.tags:
        if t == "td" and "data-verdict" in a:
            got[a["data-verdict"]] = got.get(a["data-verdict"], 0) + 1
    assert got == expect and sum(got.values()) == 10


def _png(uri: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_grid_shows_the_first_samples_pixel_for_pixel(page, small_run):
    report, _, images = small_run
    _, p = page
    name = report.subjects[1].name  # the .npz subject: sample i is image i, unconditional
    strips = [a for t, a in p.tags if t == "img" and a.get("alt", "").startswith(name + ": samples")]
    assert len(strips) == 4  # 32 first samples in rows of 8
    first = _png(strips[0]["src"])
    expect = np.round(np.clip(images[:8], 0, 1) * 255).astype(np.uint8)
    for j in range(8):
        np.testing.assert_array_equal(first[:, j * 30: j * 30 + 28], expect[j])


def test_reproduce_commands_split_back_into_the_names(page, small_run):
    report, out, _ = small_run
    _, p = page
    sub = report.subjects[1]
    wanted = {f.index for r in sub.requirements for f in r.failing}
    commands = [shlex.split(a["title"]) for t, a in p.tags if t == "figure"]
    mine = [argv for argv in commands if argv[3] == sub.name]  # the hostile name survives quoting intact
    assert {int(argv[4]) for argv in mine} == wanted and len(commands) > len(mine)
    for argv in mine:
        assert argv[:2] == ["evalkit", "reproduce"] and argv[2] == str(out / "report.json")
        assert int(argv[4]) in wanted and argv[5:] == ["--spec", report.spec_path]
    # each gallery says how many of the requirement's failing samples it shows (hand count from the report)
    html, _ = page
    for r in (r for s in report.subjects for r in s.requirements if r.failing):
        total, shown = r.n - r.passed, len(r.failing)
        words = (("its one failing sample" if total == 1 else f"all {total} failing samples") if total == shown
                 else f"the first {shown} of {total} failing samples")
        assert f'<span class="note">({words})</span>' in html


def test_per_class_rates_have_simultaneous_bounds(page, small_run):
    report, out, _ = small_run
    html, _ = page
    sub = report.subjects[0]  # the dataset replay asks the 10 classes
    req = next(r for r in sub.requirements if r.name == HOSTILE.format("req"))
    section = html.split('id="subject-0"')[1].split("Per class")[1].split("</table>")[0]
    cells = re.findall(r"(\d+)/(\d+) = [^<]*</span> <span class=\"note nw\">\[([^,]+), ([^\]]+)\]", section)
    assert len(cells) == 20  # 10 classes x 2 rate requirements
    ink = cells[1::2]
    assert sum(int(k) for k, *_ in ink) == req.passed and sum(int(n) for _, n, *_ in ink) == req.n
    c = 1 - (1 - req.confidence) / 10  # Bonferroni over the 10 classes, from scipy's Beta quantiles
    for k, n, low, high in ink:
        k, n = int(k), int(n)
        lo = 0.0 if k == 0 else stats.beta.ppf(1 - c, k, n - k + 1)
        hi = 1.0 if k == n else stats.beta.ppf(c, k + 1, n - k)
        assert float(low) == pytest.approx(lo, rel=1e-3, abs=1e-6) and float(high) == pytest.approx(hi, rel=1e-3, abs=1e-6)


def test_an_older_report_without_a_store_renders(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "reports" / "example"
    report = read_report(example)
    html = to_html(report, {})
    assert "No sample store beside this report" in html
    assert html.count('data-verdict="') == sum(len(s.requirements) for s in report.subjects)


def test_regressed_cells_say_so(small_run):
    report, _, _ = small_run
    r = report.model_copy(deep=True)
    r.subjects[0].regressions = ["in range"]
    p = parse(to_html(r, {}))
    cells = [a for t, a in p.tags if t == "td" and a.get("data-verdict") == "REGRESSED"]
    assert len(cells) == 1 and "REGRESSED" in cells[0]["title"]
