"""The static site over report folders: pages written, links resolve, no script, bad reports skipped."""

import re
from pathlib import Path

from evalkit.history.site import build_site, load_runs
from tests.history.test_points import _report


def _write(root: Path, i: int, seed: int) -> None:
    r = _report(seed=seed).model_copy(update={"finished": f"2026-12-01T00:0{i}:00+00:00"})
    (root / f"r{i}").mkdir()
    (root / f"r{i}" / "report.json").write_text(r.model_dump_json())


def test_site_pages_link_and_carry_no_script(tmp_path, caplog):
    for i in range(4):
        _write(tmp_path, i, seed=i)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    runs = load_runs(tmp_path)
    assert len(runs) == 4 and "bad" in caplog.text
    out = tmp_path / "site"
    files = build_site(runs, out)
    assert (out / "index.html") in files and len(list((out / "diffs").glob("*.html"))) == 3
    for f in files:
        text = f.read_text()
        assert "<script" not in text.lower()
        for href in re.findall(r'href="([^"]+)"', text):
            assert (f.parent / href).resolve().exists(), (f, href)
    trend_page = next((out / "trends").glob("*.html")).read_text()
    assert trend_page.count("<svg") == 2
