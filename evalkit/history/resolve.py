"""``--baseline blessed|previous|RUN-ID``: which report a run compares with, found in the history.

* ``blessed``: the run blessed (``evalkit bless``) for this spec and its subjects. Blessings
  are appended, never edited, and the one in force for a subject is its latest: a blessed
  baseline stays where it is, whatever runs come after, until a subject is blessed again.
* ``previous``: the latest run of this spec in the history (the current run is indexed only
  once it finishes, so it is never its own baseline).
* ``RUN-ID``: a run id, or a prefix of one, as ``evalkit history runs`` lists them.

An existing file or folder of that name wins: ``--baseline PATH`` works as it always did.
What is resolved is the run's report.json, which the baseline check then reads as any
``--baseline PATH`` (untrusted input, every check of ``records.reading``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import UsageError
from ..spec.model import Spec
from .db import Blessing, History, Run, errors_named

KEYWORDS = ("blessed", "previous")
MIN_PREFIX = 4  # shorter run-id prefixes are refused: too likely to be a typo for a path


@dataclass(frozen=True)
class Resolved:
    path: str  # the baseline's report.json
    source: str  # which baseline and why, as Report.baseline_source records it
    run_id: str


def resolve_baseline(text: str, spec: Spec, db_path: Path | None) -> Resolved | None:
    """The report ``--baseline text`` means, or None when ``text`` is a path (as before the history)."""
    if Path(text).exists():
        return None
    keyword = text in KEYWORDS
    if not keyword and not _looks_like_id(text):
        return None  # a missing path: preflight says so, as it always did
    if db_path is None:
        if keyword:
            raise UsageError(f"--baseline {text}: the run history is off (--no-history or EVALKIT_HISTORY=off), "
                             "and it is where the baseline is looked up: turn it on, or give --baseline PATH")
        return None
    if not db_path.is_file():
        if keyword:
            raise UsageError(f"--baseline {text}: no run history at {db_path} yet: {_how_to(text, spec)}")
        return None
    with History.open(db_path) as h, errors_named(db_path):
        if text == "blessed":
            return _blessed(h, spec, db_path)
        if text == "previous":
            return _previous(h, spec, db_path)
        return _by_id(h, text)


def _how_to(keyword: str, spec: Spec) -> str:
    if keyword == "blessed":
        return (f"bless a run of spec {spec.name!r} first with `evalkit bless RUN` (RUN: a report folder, or a run id "
                "from `evalkit history runs`)")
    return f"run spec {spec.name!r} once without --baseline (every run indexes itself), or give --baseline PATH"


def _looks_like_id(text: str) -> bool:
    return len(text) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in text.lower())


def _blessed(h: History, spec: Spec, db_path: Path) -> Resolved:
    names = {s.display_name for s in spec.subjects}
    blessings = h.blessings(spec.name)
    mine = [b for b in blessings if b.subject in names] or blessings  # a renamed subject: its key still matches
    if not mine:
        raise UsageError(f"--baseline blessed: no run of spec {spec.name!r} is blessed in {db_path}: "
                         f"{_how_to('blessed', spec)}")
    runs = sorted({b.run_id for b in mine})
    if len(runs) > 1:
        which = "; ".join(f"{b.subject}: run {b.run_id[:12]}" for b in mine)
        raise UsageError(f"--baseline blessed: the subjects of spec {spec.name!r} are blessed in different runs ({which}), "
                         "and a baseline is one report: bless one run for all of them (`evalkit bless RUN`), "
                         "or name one with --baseline RUN-ID")
    run = _present(h, runs[0], db_path)
    return Resolved(run.report_path, f"blessed run {run.run_id} ({_blessed_when(mine)})", run.run_id)


def _blessed_when(mine: list[Blessing]) -> str:
    last = max(mine, key=lambda b: b.blessed_at)
    return f"blessed {last.blessed_at} by {last.note or 'evalkit bless'}"


def _previous(h: History, spec: Spec, db_path: Path) -> Resolved:
    runs = [r for r in h.runs(spec.name) if r.exit_code != 3]  # a broken run measured nothing whole
    if not runs:
        raise UsageError(f"--baseline previous: no finished run of spec {spec.name!r} in {db_path}: "
                         f"{_how_to('previous', spec)}")
    run = _present(h, runs[0].run_id, db_path)
    return Resolved(run.report_path, f"previous run {run.run_id} (the latest run of spec {spec.name!r} in the "
                    f"history, finished {run.finished})", run.run_id)


def _by_id(h: History, prefix: str) -> Resolved | None:
    runs = h.find(prefix.lower())
    if not runs:
        return None  # neither a file nor a run: preflight names the missing file
    if len(runs) > 1:
        raise UsageError(f"--baseline {prefix}: {len(runs)} runs start with it ({', '.join(r.run_id for r in runs[:5])}): "
                         "give more of the id")
    run = _present(h, runs[0].run_id, h.path)
    return Resolved(run.report_path, f"run {run.run_id} (named with --baseline {prefix})", run.run_id)


def _present(h: History, run_id: str, db_path: Path) -> Run:
    run = h.run(run_id)
    if run is None:
        raise UsageError(f"--baseline: run {run_id} is no longer in {db_path}: index its report "
                         "folder again (`evalkit history rebuild DIR`) or bless another run")
    if not Path(run.report_path).is_file():
        raise UsageError(f"--baseline: the report of run {run_id} is gone from {run.report_path}: put the folder back, "
                         "or index it where it is now with `evalkit history rebuild DIR`")
    return run
