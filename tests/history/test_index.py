"""Where the history lives, every run indexing itself (CLI and Evaluator), and rebuilding from folders."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from evalkit.history.db import History
from evalkit.history.index import history_path, index_run, rebuild, report_folders

from .conftest import cli, copies, write_spec


def test_history_path_option_then_env_then_beside_the_reports(monkeypatch, tmp_path):
    out = tmp_path / "reports" / "run-1"
    assert history_path(out_dir=out) == tmp_path / "reports" / "history.sqlite"
    assert history_path() == Path("reports") / "history.sqlite"
    monkeypatch.setenv("EVALKIT_HISTORY", str(tmp_path / "env.sqlite"))
    assert history_path(out_dir=out) == tmp_path / "env.sqlite"
    assert history_path("given.sqlite", out_dir=out) == Path("given.sqlite")
    assert history_path("given.sqlite", off=True) is None
    monkeypatch.setenv("EVALKIT_HISTORY", "OFF")
    assert history_path(out_dir=out) is None


def _manifest_files(folder: Path) -> set[str]:
    return set(json.loads((folder / "manifest.json").read_text())["files"])


def test_a_run_indexes_itself_beside_its_folder_and_never_inside_it(tmp_path, capsys):
    spec = write_spec(tmp_path)
    out = tmp_path / "reports" / "a"
    code, _, err = cli(["run", spec, "--out", out, "--quiet"], capsys)
    assert code == 0, err
    db = tmp_path / "reports" / "history.sqlite"
    assert db.is_file()
    inside = {p.name for p in out.iterdir()}
    assert not any("history" in name or name.endswith(("-wal", "-shm")) for name in inside)
    with History.open(db) as h:
        [run] = h.runs()
    assert run.report_path == str((out / "report.json").resolve()) and run.exit_code == 0


def test_no_history_and_the_env_switch_write_no_database(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path)
    assert cli(["run", spec, "--out", tmp_path / "r1" / "a", "--quiet", "--no-history"], capsys)[0] == 0
    monkeypatch.setenv("EVALKIT_HISTORY", "off")
    assert cli(["run", spec, "--out", tmp_path / "r2" / "a", "--quiet"], capsys)[0] == 0
    assert not list(tmp_path.rglob("*.sqlite*"))


def test_a_database_that_cannot_be_written_costs_a_warning_not_the_run(tmp_path, capsys, caplog):
    spec = write_spec(tmp_path)
    blocked = tmp_path / "is-a-folder.sqlite"
    blocked.mkdir()
    with caplog.at_level(logging.WARNING):
        code, stdout, err = cli(["run", spec, "--out", tmp_path / "a", "--quiet", "--history", blocked], capsys)
    assert code == 0 and "report:" in stdout
    [warning] = [r.getMessage() for r in caplog.records if "run history" in r.getMessage()]
    assert warning.startswith(f"run history {blocked}: this run was not indexed (cannot open the run history")
    assert warning.endswith("the run itself is unaffected")
    assert json.loads((tmp_path / "a" / "report.json").read_text())["exit_code"] == 0


def test_an_evaluator_indexes_its_folders_with_the_step(tmp_path, monkeypatch):
    import torch

    import evalkit

    class Flat(torch.nn.Module):
        image_shape, num_classes = (1, 28, 28), 10

        def sample(self, n, *, labels=None, generator=None):
            return torch.rand(n, 1, 28, 28, generator=generator) * 0.3

    spec = write_spec(tmp_path).read_text().replace("  - model: fashion-vae", "  - {name: tiny, model: evalkit:in_training}")
    (tmp_path / "t.yaml").write_text(spec)
    ev = evalkit.Evaluator(tmp_path / "t.yaml", history=tmp_path / "train.sqlite")
    for step in (10, 20):
        ev.evaluate(Flat(), step=step, out=tmp_path / f"step-{step}")
    with History.open(tmp_path / "train.sqlite") as h:
        assert [(r.step, Path(r.report_path).parent.name) for r in h.runs()] == [(20, "step-20"), (10, "step-10")]
    ev_off = evalkit.Evaluator(tmp_path / "t.yaml", history=False)
    ev_off.evaluate(Flat(), out=tmp_path / "off" / "r")
    assert not (tmp_path / "off" / "history.sqlite").exists()


def test_rebuild_indexes_every_folder_and_skips_what_the_reader_refuses(one_run, tmp_path):
    root = tmp_path / "tree"
    good = copies(one_run, root / "good", 3)
    bad = root / "bad" / "truncated"
    bad.mkdir(parents=True)
    (bad / "report.json").write_text((one_run / "report.json").read_text()[:200])
    forged = root / "bad" / "forged"
    forged.mkdir()
    data = json.loads((one_run / "report.json").read_text())
    data["subjects"][0]["requirements"][0]["passed"] = 10 ** 9  # more passed than were drawn
    (forged / "report.json").write_text(json.dumps(data))
    stopped = root / "bad" / "stopped"
    stopped.mkdir()
    (stopped / "report.json").write_text(json.dumps(dict(json.loads((one_run / "report.json").read_text()),
                                                         interrupted=True)))
    (root / "link").symlink_to(root / "good")  # a link is not followed: each run once
    assert len(report_folders(root)) == 6
    with History.open(tmp_path / "h.sqlite") as h:
        indexed, skipped = rebuild(h, root)
        assert len(indexed) == 3 and len(h.runs()) == 3
        assert {Path(r.report_path).parent for r in h.runs()} == {g.resolve() for g in good}
    assert len(skipped) == 3 and all("\n" not in line for line in skipped)
    for folder, why in ((bad, "report.json"), (forged, "passed"), (stopped, "interrupted")):
        [line] = [x for x in skipped if str(folder / "report.json") in x]
        assert line.startswith("skipped ") and why in line


def test_history_rebuild_verb_warns_per_file_and_exits_0(one_run, tmp_path, capsys):
    root = tmp_path / "tree"
    copies(one_run, root, 2)
    (root / "broken").mkdir()
    (root / "broken" / "report.json").write_text("{")
    db = tmp_path / "h.sqlite"
    code, out, err = cli(["history", "rebuild", root, "--history", db], capsys)
    assert code == 0 and "indexed 2 run(s)" in out and "skipped 1" in out
    assert err.count("warning: skipped") == 1 and str(root / "broken" / "report.json") in err
    code, out, err = cli(["history", "rebuild", tmp_path / "nowhere", "--history", db], capsys)
    assert code == 2 and "not a folder" in err


def test_index_run_on_a_locked_database_waits_for_the_writer(one_run, tmp_path, caplog):
    db = tmp_path / "h.sqlite"
    History.open(db).close()
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer's transaction, ended soon
    import threading

    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    with caplog.at_level(logging.WARNING):
        assert index_run(db, one_run) is not None
    assert not caplog.records
    holder.close()


@pytest.mark.parametrize("verb", [["history", "runs"], ["history", "show"], ["bless", "abcd1234"]])
def test_verbs_that_read_the_history_say_how_to_make_one(verb, tmp_path, capsys):
    code, _, err = cli([*verb, "--history", tmp_path / "none.sqlite"], capsys)
    assert code == 2 and "no run history at" in err and "evalkit history rebuild DIR" in err
    assert not (tmp_path / "none.sqlite").exists()
