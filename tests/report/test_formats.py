"""Report formats are declared once and read everywhere: a format a plugin defines
(tests/plugins/tsv_format.py, one file) is written by a real `evalkit run`, listed by
`evalkit list formats`, accepted by the spec and by `evalkit render`; bad declarations
and unknown names are refused."""

from __future__ import annotations

import csv
import json

import pytest

import evalkit
from evalkit import registry
from evalkit._errors import RegistrationError, SpecError
from evalkit.cli import main
from evalkit.spec.load import parse_spec

from tests.specs import REFERENCE, REQUIREMENT, spec_text

import tsv_format  # noqa: F401  (tests/plugins is on sys.path: registers the "tsv" format)


def _spec(formats: list) -> str:
    return spec_text(name="tsv", plugins=["tsv_format"], reference=dict(REFERENCE, range=[0, 400]),
                     subjects=[{"name": "real", "model": "dataset", "params": {"range": [5000, 6000]}}],
                     sampling={"n": 100, "batch_size": 50, "seed": 3}, report={"formats": formats},
                     requirements=[dict(REQUIREMENT, at_least=0.5),
                                   {"name": "inky", "where": "0.02 < ink < 0.8", "at_least": 0.3}])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A report folder written by `evalkit run` (in-process) with the plugin's format asked by the spec."""
    tmp = tmp_path_factory.mktemp("tsv-run")
    spec = tmp / "spec.yaml"
    spec.write_text(_spec(["json", "tsv"]))
    assert main(["run", str(spec), "--out", str(tmp / "out"), "--quiet"]) == 0
    return tmp / "out"


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def test_a_run_writes_the_plugin_format_beside_the_record(run_folder):
    names = sorted(p.name for p in run_folder.iterdir() if p.is_file())
    assert "verdicts.tsv" in names and "report.json" in names
    assert "report.md" not in names  # only what the spec asked, and the record
    # the file agrees with the record, read here from report.json itself
    record = json.loads((run_folder / "report.json").read_text())
    expected = [["subject", "requirement", "verdict", "passed/n"]] + [
        [s["name"], r["name"], r["verdict"], f"{r['passed']}/{r['n']}"]
        for s in record["subjects"] for r in s["requirements"]]
    assert rows_of(run_folder / "verdicts.tsv") == expected
    assert [row[1] for row in expected[1:]] == ["in range", "inky"]
    assert {row[2] for row in expected[1:]} == {"PASS"}  # real images: both far above their bounds at n = 100


def test_list_formats_shows_builtins_and_the_plugin_with_their_files(capsys):
    assert main(["list", "formats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("formats:\n")
    for name, file in (("json", "report.json"), ("markdown", "report.md"), ("junit", "junit.xml"),
                       ("html", "report.html"), ("tsv", "verdicts.tsv")):
        assert f"  {name} " in out and f"file: {file}" in out
    assert "verdicts.partial.tsv for an interrupted run" in out
    assert "junit.xml (not written for an interrupted run)" in out


def test_the_spec_accepts_a_registered_format_and_suggests_a_near_one():
    spec = parse_spec(_spec(["json", "tsv"]), "s.yaml")
    assert spec.report.formats == ["json", "tsv"]
    with pytest.raises(SpecError) as info:
        parse_spec(_spec(["json", "tsvv"]), "s.yaml")
    (line,) = [p for p in info.value.problems if "report.formats[1]" in p]
    assert "unknown report format 'tsvv'" in line and "did you mean 'tsv'?" in line


def test_the_command_line_format_option_reads_the_registry(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(_spec(["json"]))
    assert main(["run", str(spec), "--out", str(tmp_path / "a"), "--quiet", "--format", "pdf"]) == 2
    assert "unknown report format 'pdf'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # refused before anything ran
    assert main(["run", str(spec), "--out", str(tmp_path / "b"), "--quiet", "--format", "tsv"]) == 0
    assert (tmp_path / "b" / "verdicts.tsv").is_file() and not (tmp_path / "b" / "report.md").exists()


def test_render_writes_the_plugin_format_again_but_never_the_record(run_folder, tmp_path, capsys):
    assert main(["render", str(run_folder), "--format", "tsv", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "verdicts.tsv").read_text() == (run_folder / "verdicts.tsv").read_text()
    assert main(["render", str(run_folder), "--format", "json", "--out", str(tmp_path)]) == 2
    assert "unknown report format 'json'" in capsys.readouterr().err


def test_an_interrupted_run_writes_only_the_formats_declared_for_it(tmp_path):
    from evalkit.report.folder import chosen

    files = [name for _, name in chosen(["json", "markdown", "junit", "html", "tsv"], partial=True)]
    assert files == ["report.partial.json", "report.partial.md", "verdicts.partial.tsv"]
    files = [name for _, name in chosen(["tsv"])]
    assert files == ["report.json", "verdicts.tsv"]  # the record is always written, first


@pytest.mark.parametrize("facts, needle", [
    ({}, "must declare file=NAME"),
    ({"file": "report.md"}, "already written by report format 'markdown'"),
    ({"file": "sub/x.txt"}, "plain file name"),
    ({"file": "x.txt", "needs": ("pixels",)}, "needs 'pixels'"),
    ({"file": "x.txt", "record": True}, "unknown fact 'record'"),
])
def test_bad_format_declarations_are_refused_naming_the_module(facts, needle):
    def fmt(view):
        return ""

    with pytest.raises(RegistrationError, match=needle):
        registry.formats.register("bad_fmt", fmt, **facts)
    assert "bad_fmt" not in registry.formats


def test_the_decorator_is_public():
    assert evalkit.report_format is registry.formats
    assert registry.formats.get("tsv").decl.module == "tsv_format"
