"""``evalkit bless RUN``: record a run as the blessed baseline of its spec.

RUN is a report folder (indexed first when it is not yet: blessing a run the history never
saw is the usual first step) or a run id, or an unambiguous prefix of one.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import UsageError
from .db import History, errors_named, run_id_of
from .index import read_indexable

NOTE = "evalkit bless"


def bless(db_path: Path, run: str, subjects: list[str] | None = None) -> list[str]:
    """Bless ``run`` (for ``subjects``, by name; None: all); return what was recorded, a line per subject."""
    with History.open(db_path) as h, errors_named(db_path):
        run_id = _run_id(h, run)
        known = h.run(run_id)
        if known is None:  # only an id that was found gets here, or a folder just indexed
            raise UsageError(f"evalkit bless {run}: no such run in {db_path}")
        names = [s["name"] for s in known.subjects]
        unknown = [s for s in subjects or [] if s not in names]
        if unknown:
            raise UsageError(f"evalkit bless {run} --subject {unknown[0]}: run {run_id} has no subject {unknown[0]!r} "
                             f"(its subjects: {', '.join(names)})")
        done = h.bless(run_id, subjects, note=NOTE)
    return [f"blessed run {b.run_id} ({known.report_path}) for spec {b.spec!r}, subject {b.subject!r}, at {b.blessed_at}"
            for b in done]


def _run_id(h: History, run: str) -> str:
    """The id of ``run``: a report folder's (indexing it when it is not indexed yet), or a run id (prefix)."""
    if Path(run).exists():
        report, json_path, raw = read_indexable(run)
        run_id = run_id_of(raw)
        if h.run(run_id) is None:
            h.index(report, json_path, raw, git=None)
        return run_id
    found = h.find(run.lower())
    if not found:
        raise UsageError(f"evalkit bless {run}: neither a report folder nor a run id in {h.path} "
                         "(`evalkit history runs` lists them)")
    if len(found) > 1:
        raise UsageError(f"evalkit bless {run}: {len(found)} runs start with it "
                         f"({', '.join(r.run_id for r in found[:5])}): give more of the id")
    return found[0].run_id
