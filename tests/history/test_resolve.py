"""--baseline blessed|previous|RUN-ID through the CLI, with real runs indexed in a real history.

Runs of one spec under different --n, so each run's report is told apart by what it measured:
the baseline a run compared with is read back from its differences (n_baseline), not only
from the path the report names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit._errors import UsageError
from evalkit.history.db import History
from evalkit.history.resolve import resolve_baseline
from evalkit.records.reading import read_report
from evalkit.spec.load import load_spec

from .conftest import cli, write_spec


@pytest.fixture
def tree(tmp_path, capsys):
    """A spec and two runs of it in tmp/reports (n=64, then n=72), indexed in tmp/reports/history.sqlite."""
    spec = write_spec(tmp_path)
    for name, n in (("a", 64), ("b", 72)):
        code, _, err = cli(["run", spec, "--out", tmp_path / "reports" / name, "--n", n, "--quiet"], capsys)
        assert code == 0, err
    return spec, tmp_path / "reports", tmp_path / "reports" / "history.sqlite"


def _baseline_n(folder: Path) -> set[int | None]:
    rep = read_report(folder)
    return {d.n_baseline for s in rep.subjects for d in s.differences if d.n_baseline is not None}


def _run_id(db: Path, folder: Path) -> str:
    with History.open(db) as h:
        return next(r.run_id for r in h.runs() if Path(r.report_path).parent == folder.resolve())


def test_blessed_stays_put_when_newer_runs_are_indexed_until_blessed_again(tree, capsys):
    spec, reports, db = tree
    a = _run_id(db, reports / "a")
    code, out, err = cli(["bless", reports / "a", "--history", db], capsys)
    assert code == 0 and f"blessed run {a}" in out and "subject 'fashion-vae'" in out
    # a newer run is indexed; the blessed baseline does not move to it
    assert cli(["run", spec, "--out", reports / "c", "--n", 80, "--quiet"], capsys)[0] == 0
    code, out, err = cli(["run", spec, "--out", reports / "d", "--baseline", "blessed"], capsys)
    assert code == 0, err
    d = read_report(reports / "d")
    assert d.baseline == str((reports / "a" / "report.json").resolve()) and _baseline_n(reports / "d") == {64}
    assert d.baseline_source.startswith(f"blessed run {a} (blessed ") and "by evalkit bless" in d.baseline_source
    assert f"baseline: blessed run {a}" in out
    # blessed again (by id prefix): now, and only now, it moves
    c = _run_id(db, reports / "c")
    assert cli(["bless", c[:8], "--history", db], capsys)[0] == 0
    assert cli(["run", spec, "--out", reports / "e", "--baseline", "blessed", "--quiet"], capsys)[0] == 0
    assert _baseline_n(reports / "e") == {80} and read_report(reports / "e").baseline_source.startswith(f"blessed run {c}")


def test_previous_is_the_latest_run_of_the_spec_and_a_run_id_names_one(tree, capsys):
    spec, reports, db = tree
    assert cli(["run", spec, "--out", reports / "p", "--baseline", "previous", "--quiet"], capsys)[0] == 0
    p = read_report(reports / "p")
    assert _baseline_n(reports / "p") == {72} and p.baseline_source.startswith(f"previous run {_run_id(db, reports / 'b')}")
    a = _run_id(db, reports / "a")
    assert cli(["run", spec, "--out", reports / "q", "--baseline", a[:6], "--quiet"], capsys)[0] == 0
    q = read_report(reports / "q")
    assert _baseline_n(reports / "q") == {64} and q.baseline_source == f"run {a} (named with --baseline {a[:6]})"


def test_no_blessing_no_history_or_history_off_is_a_usage_error_before_sampling(tree, tmp_path, capsys):
    spec, reports, db = tree
    code, _, err = cli(["run", spec, "--out", reports / "x", "--baseline", "blessed"], capsys)
    assert code == 2 and "no run of spec 'hist' is blessed" in err and "evalkit bless RUN" in err
    code, _, err = cli(["run", spec, "--out", tmp_path / "elsewhere" / "x", "--baseline", "previous"], capsys)
    assert code == 2 and f"no run history at {tmp_path / 'elsewhere' / 'history.sqlite'}" in err
    code, _, err = cli(["run", spec, "--out", reports / "y", "--baseline", "previous", "--no-history"], capsys)
    assert code == 2 and "the run history is off" in err
    assert not (reports / "x").exists() and not (reports / "y").exists()  # nothing ran, no folder made
    assert not (tmp_path / "elsewhere" / "history.sqlite").exists()  # looking up made no database


def test_a_path_still_wins_and_is_recorded_as_given(tree, tmp_path, capsys, monkeypatch):
    spec, reports, db = tree
    shutil.copytree(reports / "a", tmp_path / "previous")  # a folder that happens to be called "previous"
    monkeypatch.chdir(tmp_path)
    assert cli(["run", spec, "--out", reports / "z", "--baseline", "previous", "--quiet"], capsys)[0] == 0
    z = read_report(reports / "z")
    assert _baseline_n(reports / "z") == {64} and z.baseline == "previous"
    assert z.baseline_source == "previous (given as --baseline)"


def test_subjects_blessed_in_different_runs_are_refused_with_the_way_out(tmp_path):
    two = tmp_path / "two.yaml"
    two.write_text(write_spec(tmp_path).read_text().replace(
        "  - model: fashion-vae\n", "  - {name: one, model: fashion-vae}\n  - {name: two, model: fashion-dcgan}\n"))
    spec = load_spec(two)
    db = tmp_path / "h.sqlite"
    with History.open(db) as h:
        h.conn.executemany("INSERT INTO blessings (spec, subject_key, subject, run_id, blessed_at) VALUES (?, ?, ?, ?, ?)",
                           [("hist", "k1", "one", "aaaa1111", "2026-12-01"), ("hist", "k2", "two", "bbbb2222", "2026-12-02")])
    with pytest.raises(UsageError, match=r"blessed in different runs \(one: run aaaa1111; two: run bbbb2222\).*"
                                         r"evalkit bless RUN"):
        resolve_baseline("blessed", spec, db)
    assert resolve_baseline("not/a/path", spec, db) is None  # neither keyword nor id: preflight names the file
    assert resolve_baseline("ffff0000", spec, db) is None  # an id in no history: the same
