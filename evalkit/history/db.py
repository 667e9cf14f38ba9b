"""The run history database: an SQLite index of report folders (stdlib ``sqlite3``).

The report folders stay the source of truth: every row here is read from a report.json that
``records.reading`` accepted, and ``rebuild`` makes the index again from the folders. Only
the blessings (and the git commit a run saw) exist nowhere else, which is why a rebuild keeps
them.

Several runs may index into one database at once (CI jobs sharing a folder): the database is
in WAL mode with a busy timeout, and each report is indexed in one ``BEGIN IMMEDIATE``
transaction, so a writer waits for the other instead of failing, and a reader never sees
half a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .._errors import EXIT_USAGE, DataError, EvalkitError
from ..records.model import Report
from .points import Point, points_of, subject_key

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another's transaction (each takes milliseconds)

# One script per schema version: MIGRATIONS[k] takes a database from version k to k + 1.
# Append only; a released script is never edited (a database at version k ran it already).
MIGRATIONS: list[str] = [
    # 1: runs, their points, blessings (append-only: the latest blessing of a subject is the one in force)
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, spec TEXT NOT NULL, spec_sha256 TEXT NOT NULL, subjects TEXT NOT NULL,
        feature_space TEXT, evalkit_version TEXT, git_commit TEXT, git_branch TEXT,
        started TEXT NOT NULL, finished TEXT, report_path TEXT NOT NULL, exit_code INTEGER NOT NULL,
        indexed_at TEXT NOT NULL);
    CREATE TABLE points (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, finished TEXT NOT NULL, spec TEXT NOT NULL,
        subject TEXT NOT NULL, subject_key TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        value REAL, lower REAL, upper REAL, confidence REAL NOT NULL, n INTEGER, passed INTEGER,
        verdict TEXT, higher_is_better INTEGER, seed INTEGER);
    CREATE TABLE blessings (
        id INTEGER PRIMARY KEY AUTOINCREMENT, spec TEXT NOT NULL, subject_key TEXT NOT NULL,
        subject TEXT NOT NULL, run_id TEXT NOT NULL, blessed_at TEXT NOT NULL, note TEXT);
    CREATE INDEX runs_by_spec ON runs(spec, finished);
    """,
    # 2: the training step of an Evaluator's report (None for `evalkit run`), series read by spec and subject
    """
    ALTER TABLE runs ADD COLUMN step INTEGER;
    CREATE INDEX points_by_series ON points(spec, subject_key, name, finished);
    CREATE INDEX blessings_by_spec ON blessings(spec, subject_key, id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

_POINT_COLUMNS = [f.name for f in fields(Point) if f.name != "report"]


class HistoryError(DataError):
    """The history database cannot be used: unreadable, not an evalkit history, or from a newer evalkit.

    Exit code 2, as a report file that cannot be read: the file was named (or defaulted) and
    nothing ran."""

    exit_code = EXIT_USAGE


@contextmanager
def errors_named(path: Path) -> Iterator[None]:
    """A history that opened but holds what this evalkit did not write (a missing table, a forged
    row) is a ``HistoryError`` naming the file and the fix, not an exception from sqlite3."""
    try:
        yield
    except EvalkitError:  # a user error raised while reading (a baseline that cannot be resolved) is its own
        raise
    except sqlite3.Error as exc:
        raise HistoryError(f"{path}: the run history cannot be read ({exc}); move it away and run "
                           "`evalkit history rebuild DIR` to make it again from the report folders") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise HistoryError(f"{path}: the run history holds a malformed row ({type(exc).__name__}: {exc}); move it "
                           "away and run `evalkit history rebuild DIR`") from None


@dataclass(frozen=True)
class Run:
    """One indexed run, as ``evalkit history runs`` lists it."""

    run_id: str
    spec: str
    subjects: list[dict[str, str]]  # [{"name": ..., "key": ...}], in the report's order
    started: str
    finished: str | None
    report_path: str
    exit_code: int
    git_commit: str | None
    git_branch: str | None
    feature_space: str | None
    evalkit_version: str | None
    step: int | None


@dataclass(frozen=True)
class Blessing:
    spec: str
    subject_key: str
    subject: str
    run_id: str
    blessed_at: str
    note: str | None


def run_id_of(report_json: bytes) -> str:
    """A run's id: the digest of its report.json. Stable (a rebuild finds the same id) and the same
    for a copied folder, which is the same run."""
    return hashlib.sha256(report_json).hexdigest()[:16]


def git_state(where: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the git repository holding ``where``; (None, None) outside one or without git."""
    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(where), "rev-parse", *args], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        out = done.stdout.strip()
        return out if done.returncode == 0 and out else None

    commit = ask("HEAD")
    return commit, ask("--abbrev-ref", "HEAD") if commit else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _feature_space(report: Report) -> str | None:
    ref = report.reference or {}
    space = ref.get("feature_space")
    if isinstance(space, dict) and isinstance(space.get("name"), str):
        return space["name"]
    return report.features


class History:
    """An open history database. ``History.open(path)`` creates or migrates it; use as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    @classmethod
    def open(cls, path: str | Path) -> History:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{p}: cannot open the run history: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, p)
        except sqlite3.Error as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise HistoryError(f"{p}: the run history stayed locked by another process for over "
                                   f"{BUSY_TIMEOUT_S:g} s ({exc})") from None
            raise HistoryError(f"{p}: not a usable evalkit run history ({exc}); move it away and run "
                               f"`evalkit history rebuild DIR` to make it again from the report folders") from None
        except HistoryError:
            conn.close()
            raise
        return cls(conn, p)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def index(self, report: Report, report_path: str | Path, report_json: bytes, *,
              git: tuple[str | None, str | None] | None = None, step: int | None = None) -> str:
        """Index one finished run (its points replace any earlier indexing of the same run); return its id.

        ``git`` is the (commit, branch) the run saw; None keeps what an earlier indexing recorded
        (a rebuild cannot know it)."""
        run_id = run_id_of(report_json)
        subjects = [{"name": s.name, "key": subject_key(s), "weights": s.weights_sha256} for s in report.subjects]
        row = {"run_id": run_id, "spec": report.name, "spec_sha256": report.spec_sha256,
               "subjects": json.dumps(subjects), "feature_space": _feature_space(report),
               "evalkit_version": report.environment.evalkit, "started": report.started,
               "finished": report.finished or report.started, "report_path": str(report_path),
               "exit_code": report.exit_code, "indexed_at": _now(), "step": step}
        points = points_of(report, run_id, str(report_path))
        with self._transaction():
            old = self.conn.execute("SELECT git_commit, git_branch, step FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            commit, branch = git if git is not None else (old[0], old[1]) if old else (None, None)
            if step is None and old is not None:
                row["step"] = old[2]
            row.update(git_commit=commit, git_branch=branch)
            self.conn.execute("DELETE FROM points WHERE run_id = ?", (run_id,))
            self.conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            cols = ", ".join(row)
            self.conn.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            self.conn.executemany(
                f"INSERT INTO points ({', '.join(_POINT_COLUMNS)}) VALUES ({', '.join('?' * len(_POINT_COLUMNS))})",
                [[getattr(pt, c) for c in _POINT_COLUMNS] for pt in points])
        return run_id

    def bless(self, run_id: str, subjects: list[str] | None = None, note: str | None = None) -> list[Blessing]:
        """Bless run ``run_id`` for each of ``subjects`` (names; None: every subject). Appended, never
        overwritten: the blessing in force for a subject is its latest."""
        run = self.run(run_id)
        if run is None:
            raise HistoryError(f"no run {run_id} in the history {self.path}")
        chosen = [s for s in run.subjects if subjects is None or s["name"] in subjects]
        when = _now()
        out = [Blessing(run.spec, s["key"], s["name"], run.run_id, when, note) for s in chosen]
        with self._transaction():
            self.conn.executemany(
                "INSERT INTO blessings (spec, subject_key, subject, run_id, blessed_at, note) VALUES (?, ?, ?, ?, ?, ?)",
                [(b.spec, b.subject_key, b.subject, b.run_id, b.blessed_at, b.note) for b in out])
        return out

    # ------------------------------------------------------------------ reading

    def runs(self, spec: str | None = None) -> list[Run]:
        """The indexed runs, newest first (by when they finished; in one second, the later indexed first)."""
        where, args = ("WHERE spec = ?", (spec,)) if spec is not None else ("", ())
        rows = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY finished DESC, rowid DESC", args)
        return [_run(r) for r in rows.fetchall()]

    def run(self, run_id: str) -> Run | None:
        row = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def find(self, prefix: str) -> list[Run]:
        """The runs whose id starts with ``prefix`` (a run id as `history runs` shows it, or shorter)."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id LIKE ? ESCAPE '\\'", (like,))
        return [_run(r) for r in rows.fetchall()]

    def points(self, spec: str | None = None, subject: str | None = None, name: str | None = None) -> list[Point]:
        """Points, oldest first; ``subject`` matches a subject's name or key, ``name`` a requirement or metric."""
        clauses, args = [], []
        if spec is not None:
            clauses.append("p.spec = ?")
            args.append(spec)
        if subject is not None:
            clauses.append("(p.subject = ? OR p.subject_key = ?)")
            args += [subject, subject]
        if name is not None:
            clauses.append("p.name = ?")
            args.append(name)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        cols = ", ".join(f"p.{c}" for c in _POINT_COLUMNS)
        rows = self.conn.execute(f"SELECT {cols}, r.report_path FROM points p JOIN runs r ON r.run_id = p.run_id "
                                 f"{where} ORDER BY p.finished, r.rowid, p.rowid", args).fetchall()
        return [_point(r) for r in rows]

    def blessings(self, spec: str) -> list[Blessing]:
        """The blessing in force for each subject of ``spec`` (its latest), oldest first."""
        rows = self.conn.execute(
            "SELECT spec, subject_key, subject, run_id, blessed_at, note FROM blessings b WHERE spec = ? AND id = "
            "(SELECT MAX(id) FROM blessings c WHERE c.spec = b.spec AND c.subject_key = b.subject_key) ORDER BY id",
            (spec,)).fetchall()
        return [Blessing(*r) for r in rows]

    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    """``BEGIN IMMEDIATE`` (the write lock up front: two writers queue instead of deadlocking) ... COMMIT."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


_RUN_FIELDS = ["run_id", "spec", "subjects", "started", "finished", "report_path", "exit_code", "git_commit",
               "git_branch", "feature_space", "evalkit_version", "step"]
_RUN_COLUMNS = ", ".join(_RUN_FIELDS)


def _run(row: tuple[Any, ...]) -> Run:
    data = dict(zip(_RUN_FIELDS, row))
    data["subjects"] = json.loads(data["subjects"])
    return Run(**data)


def _point(row: tuple[Any, ...]) -> Point:
    data = dict(zip(_POINT_COLUMNS, row[:-1]))
    if data["higher_is_better"] is not None:
        data["higher_is_better"] = bool(data["higher_is_better"])
    return Point(report=row[-1], **data)


def migrate(conn: sqlite3.Connection, path: Path, upto: int = SCHEMA_VERSION) -> None:
    """Bring the database to schema version ``upto``, one migration per transaction.

    Two processes opening a new database at once both get here: the version is read again
    under the write lock, so each migration runs once."""
    for _ in _pending(conn, path, upto):
        pass


def _pending(conn: sqlite3.Connection, path: Path, upto: int) -> Iterator[int]:
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(f"{path}: the run history is at schema version {version}, newer than this "
                                   f"evalkit's {SCHEMA_VERSION}: upgrade evalkit, or give another --history")
            if version >= upto:
                conn.execute("COMMIT")
                return
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        yield version + 1


def _statements(script: str) -> list[str]:
    """A migration's statements (``executescript`` would COMMIT the transaction the migration runs in)."""
    return [s.strip() for s in script.split(";") if s.strip()]
