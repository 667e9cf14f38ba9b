"""Putting report folders into the history: where the database lives, one run, a whole tree.

Where: ``--history PATH``, else ``$EVALKIT_HISTORY``, else ``history.sqlite`` beside the
report folders (in the folder that holds the run's report folder: ``reports/history.sqlite``
for the default ``reports/<name>-<time>``); ``--no-history`` or ``EVALKIT_HISTORY=off`` turns
it off. The database is never inside a report folder, so a folder's files stay its manifest's.

A report is untrusted input here as everywhere: only what ``records.reading`` accepts is
indexed. Indexing a run never breaks it: a database that cannot be written costs a warning.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from .._errors import DataError, UsageError
from ..records.model import Report
from ..records.reading import read_report
from .db import History, HistoryError, git_state

log = logging.getLogger(__name__)

ENV = "EVALKIT_HISTORY"
FILENAME = "history.sqlite"
DEFAULT_REPORTS = Path("reports")  # the default reports folder of `evalkit run` (api.default_out_dir)


def history_path(option: str | Path | None = None, *, off: bool = False, out_dir: Path | None = None) -> Path | None:
    """The database a run (``out_dir``: its report folder) or a verb (no ``out_dir``) uses; None when off."""
    if off:
        return None
    if option is not None and str(option) != "":
        return Path(option)
    env = os.environ.get(ENV, "").strip()
    if env.lower() == "off":
        return None
    if env:
        return Path(env)
    return (out_dir.parent if out_dir is not None else DEFAULT_REPORTS) / FILENAME


def existing_history(path: Path | None) -> Path:
    """``path`` for a verb that reads the history: it must be on and exist (the verbs never create one)."""
    if path is None:
        raise UsageError(f"the run history is off ({ENV}=off or --no-history): give --history PATH")
    if not path.is_file():
        raise UsageError(f"no run history at {path}: runs index themselves there as they finish "
                         f"(`evalkit run SPEC`), or make it from report folders with "
                         f"`evalkit history rebuild DIR --history {path}`; another place: --history PATH or ${ENV}")
    return path


def read_indexable(folder: str | Path) -> tuple[Report, Path, bytes]:
    """The report of a finished run in ``folder`` (or a report.json), its path and its bytes.

    Raises ``DataError`` (``ReportFileError``) for anything the reader refuses, and for a run
    that was interrupted (its counts stop part-way: no point of a series)."""
    p = Path(folder)
    json_path = p / "report.json" if p.is_dir() else p
    report = read_report(json_path)
    if report.interrupted:
        raise DataError(f"{json_path}: interrupted: true: the run stopped part-way (finish it with "
                        "`evalkit run SPEC --resume DIR`)")
    try:
        raw = json_path.read_bytes()
    except OSError as exc:
        raise DataError(f"{json_path}: unreadable: {exc.strerror or exc}") from None
    return report, Path(os.path.abspath(json_path)), raw


def index_run(db_path: Path, folder: Path, *, cwd: Path | None = None, step: int | None = None) -> str | None:
    """Index the run just written to ``folder``; return its id, or None after a warning when it could not be.

    The git commit and branch are those of the working folder's repository (``cwd``), read now."""
    try:
        report, json_path, raw = read_indexable(folder)
        git = git_state(cwd or Path.cwd())
        with History.open(db_path) as h:
            return h.index(report, json_path, raw, git=git, step=step)
    except (HistoryError, DataError, sqlite3.Error, OSError) as exc:
        log.warning("run history %s: this run was not indexed (%s); the run itself is unaffected", db_path,
                    _first_line(exc, db_path))
        return None


def report_folders(root: Path) -> list[Path]:
    """Every report.json under ``root``, in path order; links are not followed (a tree is read, not a graph)."""
    found = []
    for here, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        if "report.json" in files and not os.path.islink(os.path.join(here, "report.json")):
            found.append(Path(here) / "report.json")
    return sorted(found)


def rebuild(h: History, root: Path) -> tuple[list[str], list[str]]:
    """(Re)index every report folder under ``root``: (ids indexed, one warning line per file skipped).

    A run indexed before keeps the git commit it was indexed with (a rebuild cannot know it) and
    every blessing stays: the database can be deleted and rebuilt, losing only those two."""
    if not root.is_dir():
        raise UsageError(f"evalkit history rebuild {root}: not a folder (give the folder that holds report folders)")
    indexed, skipped = [], []
    for path in report_folders(root):
        try:
            report, json_path, raw = read_indexable(path)
        except DataError as exc:
            skipped.append(f"skipped {path}: {_first_line(exc, path)}")
            continue
        indexed.append(h.index(report, json_path, raw, git=None))
    return indexed, skipped


def _first_line(exc: Exception, path: Path) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text
