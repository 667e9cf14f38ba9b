"""The run's journal: every completed batch, recorded atomically, so a killed run resumes.

Layout, in the output folder::

    journal/manifest.json           what was run: evalkit version, the spec (canonical) and its SHA-256
    journal/s000/subject.json       subject 0: its name, weights SHA-256, image shape
    journal/s000/b000012.safetensors  batch 12's contribution to the fold (a SubjectState delta,
                                    and the batch's pixels when no_duplicate needs them)
    journal/s000/final.safetensors  the gathered state and the looks' outcome (what rejudge reads)

Each record is written to a temporary name and renamed into place, so a record is
whole or absent. On ``--resume`` a batch record that does not load is dropped and its
batch sampled again (with a warning naming the file and the reason); a manifest that
does not match the spec, or a subject whose weights changed, is refused (exit 2),
naming what changed. A batch is the same samples whatever process drew it, so a run
may be resumed with another number of processes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from .._version import __version__
from .._errors import DataError, UsageError
from .._io import adopt, atomic_write_text, read_regular, remove_file, remove_tree, replace_file
from ..plan import Plan, SubjectPlan
from ..store import load_record, save_record
from .faults import kill_point
from .state import SubjectState, state_from_record, state_to_record

log = logging.getLogger(__name__)
JOURNAL_FORMAT = "evalkit-journal"
JOURNAL_VERSION = 1
JSON_MAX = 64 << 20  # bytes of a journal JSON file (the canonical spec): far above any real one


class JournalMismatch(UsageError):
    """``--resume`` was asked on a journal that another spec, evalkit or model wrote."""


@dataclass
class BatchRecord:
    delta: SubjectState
    history: tuple[Tensor, Tensor] | None  # (sample indices, flattened pixels) for no_duplicate


@dataclass
class FinalRecord:
    state: SubjectState
    stopped_early: bool
    look_conf: dict[int, float] | None
    counts: list[list[tuple[int, int]]] | None = None  # sequential: (passed, n) per requirement at every look


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list):
        out = {}
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: d}


def spec_changes(old: dict, new: dict, limit: int = 5) -> list[str]:
    """The fields that differ between two canonical specs, as ``field: old -> new``."""
    a, b = _flatten(old), _flatten(new)
    keys = sorted(set(a) | set(b))
    diffs = [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}" for k in keys if a.get(k, None) != b.get(k, None)
             or (k in a) != (k in b)]
    return diffs[:limit] + ([f"... and {len(diffs) - limit} more"] if len(diffs) > limit else [])


class Journal:
    """The journal of one run, rooted at ``OUT/journal``."""

    def __init__(self, out_dir: Path, plan: Plan, *, resume: bool, writer: bool = True):
        self.root = Path(out_dir) / "journal"
        self.plan, self.resume, self.writer = plan, resume, writer
        self.entries = 0  # batch records this process wrote
        self.off: str | None = None  # why journaling stopped (the folder became unwritable), if it did
        spec = plan.spec.canonical()
        self.manifest = {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "evalkit": __version__,
                         "spec_sha256": plan.spec.digest(), "spec": spec}
        if resume:
            self._check_manifest()
        elif writer:
            self.attempt(self._start)

    def _start(self) -> None:
        remove_tree(self.root)  # a fresh run starts a fresh journal (never through a link: _io)
        atomic_write_text(self.root / "manifest.json", json.dumps(self.manifest, indent=1, sort_keys=True))

    def attempt(self, write) -> None:
        """Run a journal write. The journal only serves a later --resume: when the folder cannot
        take it (read-only, disk full), the run goes on without one, and says so once."""
        if self.off is not None:
            return
        try:
            write()
        except OSError as exc:
            self.off = f"{exc.strerror or exc}"
            log.warning("%s: cannot write the journal (%s); the run goes on without one (it cannot be resumed)",
                        self.root, self.off)

    def _check_manifest(self) -> None:
        path = self.root / "manifest.json"
        if not path.is_file():
            raise JournalMismatch(f"--resume {self.root.parent}: no journal there ({path} not found); "
                                  "run without --resume to start afresh")
        try:
            old = json.loads(read_regular(path, limit=JSON_MAX, why="a journal manifest is a spec and a digest"))
        except (OSError, ValueError, RecursionError) as exc:
            raise JournalMismatch(f"{path}: unreadable journal manifest ({exc}); run without --resume to start afresh") from None
        if not isinstance(old, dict) or old.get("format") != JOURNAL_FORMAT or old.get("version") != JOURNAL_VERSION:
            raise JournalMismatch(f"{path}: not an evalkit journal of version {JOURNAL_VERSION}; run without --resume")
        if old.get("evalkit") != __version__:
            raise JournalMismatch(f"{path}: the journal was written by evalkit {old.get('evalkit')}, this is {__version__}; "
                                  "a resumed run would mix two versions' measurements: run without --resume")
        if old.get("spec_sha256") != self.manifest["spec_sha256"]:
            changes = spec_changes(old.get("spec") or {}, self.manifest["spec"])
            raise JournalMismatch(f"{path}: the spec changed since the journal was written ("
                                  + "; ".join(changes or ["its digest differs"]) + "); run without --resume to start afresh")
        adopt(path)  # verified as this run's: the folder's manifest lists it

    def subject(self, sp: SubjectPlan) -> "SubjectJournal":
        return SubjectJournal(self, sp)


class SubjectJournal:
    def __init__(self, journal: Journal, sp: SubjectPlan):
        self.journal, self.sp = journal, sp
        self.dir = journal.root / f"s{sp.index:03d}"

    # ---- the subject's identity: refuse a resume whose model changed
    def bind(self, weights_sha256: str | None, image_shape: list[int]) -> None:
        ident = {"name": self.sp.name, "weights_sha256": weights_sha256, "image_shape": list(image_shape)}
        path = self.dir / "subject.json"
        if self.journal.resume and path.is_file():
            try:
                old = json.loads(read_regular(path, limit=JSON_MAX, why="a subject record is a few lines"))
            except (OSError, ValueError, RecursionError) as exc:
                old = None
                log.warning("%s: unreadable (%s); the subject's journal is rebuilt", path, exc)
            if old is not None:
                for key, what in (("weights_sha256", "weights"), ("image_shape", "image shape"), ("name", "name")):
                    if old.get(key) != ident[key]:
                        raise JournalMismatch(
                            f"{path}: subject {self.sp.name!r}: its {what} changed since the journal was written "
                            f"({old.get(key)!r} -> {ident[key]!r}); run without --resume to start afresh")
                adopt(path)
                return
            self.clear()
        if self.journal.writer:
            self.journal.attempt(lambda: atomic_write_text(path, json.dumps(ident, indent=1)))

    def clear(self) -> None:
        if os.path.lexists(self.dir) and self.journal.writer:
            self.journal.attempt(lambda: remove_tree(self.dir))

    def _write(self, path: Path, tensors: dict[str, Tensor], meta: dict) -> None:
        def write() -> None:
            tmp = path.with_name(f".{path.name}.part")
            try:
                save_record(tmp, tensors, meta, kind="journal")
                kill_point("rename")
                replace_file(tmp, path)
            finally:
                if os.path.lexists(tmp):
                    remove_file(tmp)

        self.journal.attempt(write)

    # ---- batches
    def batch_path(self, j: int) -> Path:
        return self.dir / f"b{j:06d}.safetensors"

    def write_batch(self, j: int, rec: BatchRecord) -> None:
        if self.journal.entries == 0:
            kill_point("journal-first")
        self.journal.entries += 1
        tensors, meta = state_to_record(rec.delta)
        if rec.history is not None:
            tensors["history.idx"], tensors["history.rows"] = rec.history
        meta.update(subject=self.sp.name, batch=j, spec_sha256=self.journal.manifest["spec_sha256"])
        self._write(self.batch_path(j), tensors, meta)

    def load_batch(self, j: int) -> BatchRecord | None:
        """The journaled record of batch j, or None (absent, or dropped with a warning)."""
        if not self.journal.resume:
            return None
        path = self.batch_path(j)
        if not path.is_file():
            return None
        try:
            tensors, meta = load_record(path, kind="journal")
            self._belongs(meta, j, path)
            history = (tensors.pop("history.idx"), tensors.pop("history.rows")) if "history.idx" in tensors else None
            rec = BatchRecord(state_from_record(tensors, meta), history)
            adopt(path)
            return rec
        except (DataError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            log.warning("%s: dropped from the journal (%s); batch %d is sampled again", path, exc, j)
            return None

    def _belongs(self, meta: dict, j: int, path: Path) -> None:
        if meta.get("spec_sha256") != self.journal.manifest["spec_sha256"] or meta.get("subject") != self.sp.name \
                or meta.get("batch") != j:
            raise ValueError(f"it records batch {meta.get('batch')} of subject {meta.get('subject')!r} "
                             f"of spec {str(meta.get('spec_sha256'))[:12]}, not this run's")

    # ---- the subject's final state
    def write_final(self, rec: FinalRecord) -> None:
        tensors, meta = state_to_record(rec.state)
        meta.update(subject=self.sp.name, spec_sha256=self.journal.manifest["spec_sha256"], final=True,
                    stopped_early=rec.stopped_early,
                    look_conf=None if rec.look_conf is None else [[k, v] for k, v in sorted(rec.look_conf.items())],
                    counts=None if rec.counts is None else [[list(c) for c in row] for row in rec.counts])
        self._write(self.dir / "final.safetensors", tensors, meta)

    def load_final(self) -> FinalRecord | None:
        path = self.dir / "final.safetensors"
        if not self.journal.resume or not path.is_file():
            return None
        try:
            tensors, meta = load_record(path, kind="journal")
            if meta.get("spec_sha256") != self.journal.manifest["spec_sha256"] or meta.get("subject") != self.sp.name:
                raise ValueError("it records another spec or subject")
            rec = final_from_record(tensors, meta)
            adopt(path)
            return rec
        except (DataError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            log.warning("%s: dropped from the journal (%s); the subject's batches are folded again", path, exc)
            return None


def read_final(out_dir: Path, sp: SubjectPlan) -> FinalRecord:
    """The final state of subject ``sp`` in a finished run's journal (for rejudge)."""
    path = Path(out_dir) / "journal" / f"s{sp.index:03d}" / "final.safetensors"
    if not path.is_file():
        raise DataError(f"{path}: not found; subject {sp.name!r} did not finish in that run (resume it first)")
    tensors, meta = load_record(path, kind="journal")
    if meta.get("subject") != sp.name:
        raise DataError(f"{path}: records subject {meta.get('subject')!r}, not {sp.name!r}")
    return final_from_record(tensors, meta)


def final_from_record(tensors: dict[str, Tensor], meta: dict) -> FinalRecord:
    lc, counts = meta.get("look_conf"), meta.get("counts")
    return FinalRecord(state_from_record(tensors, meta), bool(meta["stopped_early"]),
                       None if lc is None else {int(k): float(v) for k, v in lc},
                       None if counts is None else [[(int(k), int(n)) for k, n in row] for row in counts])


