"""The history database: what it indexes (checked against report.json read as plain JSON), its
schema migrations, append-only blessings, and two processes indexing at once."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
from pathlib import Path

import pytest

from evalkit.history.db import SCHEMA_VERSION, History, HistoryError, git_state, migrate, run_id_of
from evalkit.history.index import read_indexable

from .conftest import copies


def _index(db: Path, folder: Path, git=None) -> str:
    report, path, raw = read_indexable(folder)
    with History.open(db) as h:
        return h.index(report, path, raw, git=git)


def test_points_are_the_report_files_numbers(one_run, tmp_path):
    db = tmp_path / "h.sqlite"
    run_id = _index(db, one_run, git=("abc123", "main"))
    raw = (one_run / "report.json").read_bytes()
    data = json.loads(raw)
    import hashlib

    assert run_id == hashlib.sha256(raw).hexdigest()[:16]
    with History.open(db) as h:
        [run] = h.runs()
        points = h.points()
    assert (run.run_id, run.spec, run.exit_code, run.git_commit, run.git_branch) == (run_id, "hist", 0, "abc123", "main")
    assert run.report_path == str((one_run / "report.json").resolve())
    # one point per requirement and metric of the subject, with the file's own numbers
    s = data["subjects"][0]
    expected = [(r["name"], r.get("passed"), r["n"], r["value"], r["lower"], r["upper"], r["verdict"])
                for r in s["requirements"]]
    expected += [(m["name"], None, m["n"], m["value"], m["lower"], m["upper"], None) for m in s["metrics"]]
    got = [(p.name, p.passed, p.n, p.value, p.lower, p.upper, p.verdict) for p in points]
    assert got == expected and len(got) == 4
    assert all(p.subject == "fashion-vae" and p.finished == data["finished"] for p in points)


def test_indexing_again_replaces_and_keeps_the_git_commit_a_rebuild_cannot_know(one_run, tmp_path):
    db = tmp_path / "h.sqlite"
    first = _index(db, one_run, git=("c0ffee", "dev"))
    assert _index(db, one_run, git=None) == first
    with History.open(db) as h:
        assert [(r.run_id, r.git_commit, r.git_branch) for r in h.runs()] == [(first, "c0ffee", "dev")]
        assert len(h.points()) == 4  # not 8


def test_a_version_1_database_is_migrated_to_the_current_version(one_run, tmp_path):
    assert SCHEMA_VERSION == 2
    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, db, upto=1)  # the database an evalkit of schema 1 made
    conn.execute("INSERT INTO runs (run_id, spec, spec_sha256, subjects, started, finished, report_path, exit_code, "
                 "indexed_at) VALUES ('00aa', 'old', 'x', '[]', '2026-01-01', '2026-01-01', '/r.json', 0, 'now')")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "step" not in [c[1] for c in conn.execute("PRAGMA table_info(runs)")]
    conn.close()
    with History.open(db) as h:
        assert h.conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "step" in [c[1] for c in h.conn.execute("PRAGMA table_info(runs)")]
        indexes = {r[0] for r in h.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"points_by_series", "blessings_by_spec", "runs_by_spec"} <= indexes
        [old] = h.runs()
        assert (old.run_id, old.spec, old.step) == ("00aa", "old", None)
    run_id = _index(db, one_run)  # and the migrated database takes new runs
    with History.open(db) as h:
        assert [r.run_id for r in h.runs()] == [run_id, "00aa"]


def test_a_newer_schema_or_a_file_that_is_no_database_is_refused_with_the_fix(tmp_path):
    db = tmp_path / "new.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HistoryError, match="schema version 99, newer than this evalkit's 2: upgrade evalkit"):
        History.open(db)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="not a usable evalkit run history .*evalkit history rebuild DIR"):
        History.open(junk)


def test_blessings_are_appended_and_the_latest_is_in_force(one_run, tmp_path):
    db = tmp_path / "h.sqlite"
    a, b = (_index(db, d) for d in copies(one_run, tmp_path / "c", 2))
    with History.open(db) as h:
        h.bless(a)
        assert [x.run_id for x in h.blessings("hist")] == [a]
        h.bless(b, note="me")
        h.bless(a, subjects=["no such subject"])  # blesses nothing
        assert [(x.run_id, x.note) for x in h.blessings("hist")] == [(b, "me")]
        assert h.conn.execute("SELECT COUNT(*) FROM blessings").fetchone()[0] == 2  # nothing overwritten
        with pytest.raises(HistoryError, match="no run ffff"):
            h.bless("ffff")


def test_find_by_prefix_escapes_like_patterns(one_run, tmp_path):
    db = tmp_path / "h.sqlite"
    run_id = _index(db, one_run)
    with History.open(db) as h:
        assert [r.run_id for r in h.find(run_id[:6])] == [run_id]
        assert h.find("%") == [] and h.find("_") == []


def _index_all(db: str, folders: list[str]) -> None:
    for f in folders:
        report, path, raw = read_indexable(f)
        with History.open(db) as h:
            h.index(report, path, raw, git=None)


def test_two_processes_indexing_20_reports_each_at_once(one_run, tmp_path):
    folders = [str(p) for p in copies(one_run, tmp_path / "c", 40)]
    db = str(tmp_path / "shared.sqlite")  # not created yet: both processes also race to make the schema
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_index_all, args=(db, folders[i::2])) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    with History.open(db) as h:
        runs = h.runs()
        assert h.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert len(h.points()) == 40 * 4
    expected = {run_id_of((Path(f) / "report.json").read_bytes()) for f in folders}
    assert len(expected) == 40 and {r.run_id for r in runs} == expected


def test_git_state_reads_the_repository_or_says_nothing(tmp_path):
    assert git_state(tmp_path) == (None, None)  # tmp is in no repository
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q", "-b", "feature"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    head = (repo / ".git" / "refs" / "heads" / "feature").read_text().strip()  # the commit, read without git
    assert git_state(repo) == (head, "feature")
