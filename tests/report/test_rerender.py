"""`evalkit render`: the same files from report.json and the sample store, no sampling; bad input refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.records.samples import samples_path

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "example"


@pytest.fixture
def folder(small_run, tmp_path):
    _, out, _ = small_run
    dst = tmp_path / "run"
    shutil.copytree(out, dst)
    return dst


def test_render_gives_back_the_files_the_run_wrote(folder, small_run, tmp_path, capsys):
    import shlex

    _, original, _ = small_run
    again = tmp_path / "again"
    code = main(["render", str(folder), "--format", "html", "--format", "markdown", "--format", "junit", "--out", str(again)])
    assert code == 0
    assert (again / "report.md").read_text() == (folder / "report.md").read_text()
    assert (again / "junit.xml").read_text() == (folder / "junit.xml").read_text()
    # the page names the report it was rendered from in its reproduce commands; otherwise identical
    page = (again / "report.html").read_text()
    quoted = shlex.quote(str(original / "report.json"))
    assert page == (folder / "report.html").read_text().replace(quoted, shlex.quote(str(folder / "report.json")))
    assert page.count("data:image/png;base64,") > 10


def test_render_of_a_report_by_an_older_evalkit(tmp_path, capsys):
    # reports/example was written before looks, strict and the sample store existed
    data = json.loads((EXAMPLE / "report.json").read_text())
    assert "strict" not in data and '"looks":' not in json.dumps(data)
    code = main(["render", str(EXAMPLE / "report.json"), "--out", str(tmp_path), "--format", "html", "--format", "junit"])
    assert code == 0
    html = (tmp_path / "report.html").read_text()
    assert html.count('data-verdict="') == sum(len(s["requirements"]) for s in data["subjects"])
    assert "No sample store" in html


def _unchanged(folder: Path):
    return {p.name: p.read_bytes() for p in folder.glob("report.*")}


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_text(p.read_text()[:500]), "not valid JSON"),
    (lambda p: p.write_text(p.read_text().replace('"seed": 3', '"seed": "three"')), "seed: Input should be a valid integer"),
    (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "schema_version": 2})), "reads major version 1 only"),
])
def test_bad_report_json_exits_2_naming_the_file_and_writes_nothing(folder, capsys, damage, needle):
    damage(folder / "report.json")
    before = _unchanged(folder)
    assert main(["render", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder / "report.json") in err and needle in err and "Traceback" not in err
    assert _unchanged(folder) == before


def test_truncated_sample_store_exits_2_and_keeps_the_old_page(folder, small_run, capsys):
    report, _, _ = small_run
    rec = samples_path(folder, report.subjects[1].name)
    rec.write_bytes(rec.read_bytes()[:1000])
    before = _unchanged(folder)
    assert main(["render", str(folder), "--format", "markdown", "--format", "html"]) == 2
    err = capsys.readouterr().err
    assert rec.name in err
    assert _unchanged(folder) == before  # report.md was not rewritten either: checks come first


def test_unknown_format_is_a_usage_error(folder, capsys):
    assert main(["render", str(folder), "--format", "pdf"]) == 2
