"""report.html in a real browser (headless Chromium via Playwright, the system's Chromium).

What a person opening the page gets: no console error, every image decoded, the verdict
matrix saying what report.json says, nothing wider than a 1280-px window, no request
leaving the file, and the same matrix with JavaScript off.
"""

from __future__ import annotations

import json

import pytest

from .browser import WIDTH, chromium_path

pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
if chromium_path() is None:
    pytest.skip("no Chromium on this machine (install Debian's `chromium`; CI does)", allow_module_level=True)

from .browser import inspect_report  # noqa: E402


def json_counts(report_json) -> dict[str, int]:
    """Verdict words counted from report.json itself (REGRESSED where the baseline flagged it)."""
    data = json.loads(report_json.read_text())
    counts: dict[str, int] = {}
    for s in data["subjects"]:
        for r in s["requirements"]:
            w = "REGRESSED" if r["name"] in s.get("regressions", []) else r["verdict"]
            counts[w] = counts.get(w, 0) + 1
    return counts


@pytest.fixture(scope="module")
def seen(small_run, tmp_path_factory):
    _, out, _ = small_run
    shot = tmp_path_factory.mktemp("browser") / "report.png"
    return inspect_report(out / "report.html", screenshot=shot), shot, out


def test_no_console_error_no_network_no_dialog(seen):
    found, _, _ = seen
    assert found["console_errors"] == []
    assert found["network"] == []  # self-contained: nothing fetched at view time
    assert found["dialogs"] == []  # the <script> names in the spec stayed text


def test_every_image_decodes(seen):
    found, _, _ = seen
    images = found["images"]
    assert len(images) > 20  # sample grids and failing examples of both subjects
    assert all(i["ok"] and i["width"] > 0 for i in images), [i for i in images if not i["ok"]]
    assert not any(i["loading"] == "lazy" for i in images)


def test_matrix_counts_equal_the_json(seen):
    found, _, out = seen
    expect = json_counts(out / "report.json")
    assert found["counts"] == expect
    assert found["words"] == expect  # the word shown in each cell, not only its colour class


def test_fits_a_1280_px_window(seen):
    found, shot, _ = seen
    assert found["scrollWidth"] <= WIDTH
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_same_matrix_with_javascript_disabled(seen):
    found, _, out = seen
    off = inspect_report(out / "report.html", javascript=False)
    assert off["counts"] == json_counts(out / "report.json") == found["counts"]
    assert off["words"] == found["words"]
    assert off["svgs"] == found["svgs"] > 0 and len(off["images"]) == len(found["images"])
    assert all(i["ok"] for i in off["images"])
