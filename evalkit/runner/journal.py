"""The run's journal: every completed batch, recorded atomically, so a killed run resumes.

Layout, in the output folder::

    journal/manifest.json           what was run: evalkit version, the spec (canonical) and its SHA-256,
                                    the run's id (a random nonce every record is bound to)
    journal/s000/subject.json       subject 0: its name, weights identity and files (runner.identity),
                                    image shape, feature extractor's and classifier's digests
    journal/s000/b000012.safetensors  batch 12's contribution to the fold (a SubjectState delta,
                                    and the batch's pixels when no_duplicate needs them)
    journal/s000/final.safetensors  the gathered state and the looks' outcome (what rejudge reads)

Each record is written to a temporary name and renamed into place, so a record is
whole or absent. Every file is sealed (``evalkit._seal``: a content digest and an
HMAC-SHA256 under the user's cache key, bound to the run's id), and on read checked for
consistency (passed <= n, the batch's sample indices unique and inside the batch, counts
within the spec's n). On ``--resume`` a batch or final record that does not load, verify
or add up is dropped and sampled (or folded) again, with a warning naming the file and
the reason; a manifest that does not verify or does not match the spec, or a subject
whose weights, checkpoint, module source, feature extractor or classifier changed, is
refused (exit 2), naming what changed. ``rejudge`` refuses (exit 2, naming the file) any
record that does not verify. A batch is the same samples whatever process drew it, so a
run may be resumed with another number of processes.

A finished run whose spec sets ``sampling.anytime`` may be topped up: ``--resume OUT --n
LARGER`` on it keeps the journal's complete batches (sample i is the same image whatever n
is: block-seeded latents, index-based labels), drops the final records and a last partial
batch, records the earlier spec's digest in the manifest's ``extends`` (so its batches stay
this run's) and samples the rest. Everything else about such a change is refused, naming
why (``top_up_from``).

Version 2 (this one) added the seals, the run id and the subject's weights files and model
digests; a version 1 journal is not resumed or rejudged (it cannot be verified).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from .._version import __version__
from .._errors import DataError, SavedStateError, UsageError
from .._io import adopt, atomic_write_text, remove_file, remove_tree, replace_file
from .._seal import check_json_seal, check_seal, content_digest, make_seal, seal_json
from ..plan import Plan, SubjectPlan
from ..records.reading import read_json_object
from ..spec.model import MAX_SAMPLES
from ..store import load_record, save_record
from .identity import changed_files
from .faults import kill_point
from .state import SubjectState, state_from_record, state_to_record

log = logging.getLogger(__name__)
JOURNAL_FORMAT = "evalkit-journal"
JOURNAL_VERSION = 2  # 2: sealed records bound to a run id; weights files and model digests per subject


TOP_UP_REFUSED = ("a fixed-n bound would lose its promise when extended after looking; "
                  "set sampling.anytime: true before the first run")


class JournalMismatch(UsageError):
    """``--resume`` was asked on a journal that another spec, evalkit or model wrote."""


def n_only_change(old_spec: dict, new_spec: dict) -> tuple[int, int] | None:
    """(old n, new n) when the two canonical specs differ at most in sampling.n and sampling.batch_size
    (what ``--n`` changes), else None."""
    old_s, new_s = old_spec.get("sampling"), new_spec.get("sampling")
    if not isinstance(old_s, dict) or not isinstance(new_s, dict):
        return None
    n_old, n_new = old_s.get("n"), new_s.get("n")
    if type(n_old) is not int or type(n_new) is not int or n_old == n_new:
        return None
    same = {**old_spec, "sampling": {**old_s, "n": n_new, "batch_size": new_s.get("batch_size")}}
    return (n_old, n_new) if same == new_spec else None


def top_up_from(path: Path, old_spec: dict, plan: Plan) -> int | None:
    """The finished run's n when ``plan`` tops it up (only --n grew, the spec is anytime, the run
    finished, every requirement a rate); None when the specs differ otherwise. A top-up that
    cannot keep its verdicts' promise is refused (JournalMismatch, exit 2) with the reason."""
    new_spec = plan.spec.canonical()
    change = n_only_change(old_spec, new_spec)
    if change is None:
        return None
    n_old, n_new = change
    where = f"{path}: the spec changed since the journal was written (sampling.n: {n_old} -> {n_new})"
    if n_new < n_old:
        raise JournalMismatch(f"{where}; a top-up only adds samples: give --n larger than {n_old} "
                              f"(or --n {n_old} to finish the run as it was)")
    if not plan.spec.sampling.anytime:
        raise JournalMismatch(f"{where}; its rate bounds are fixed-n (sampling.anytime is off): {TOP_UP_REFUSED}")
    bs_old, bs_new = old_spec["sampling"].get("batch_size"), plan.spec.sampling.batch_size
    if bs_old != bs_new:
        raise JournalMismatch(f"{where}; sampling.batch_size changed ({bs_old} -> {bs_new}) and the journal's batches "
                              f"hold {bs_old} samples each; top up with --n on the spec of the first run")
    report = path.parent.parent / "report.json"
    if not report.is_file():
        raise JournalMismatch(f"{where}; the run has not finished ({report} not found); finish it first at its own n "
                              f"(--resume with --n {n_old}), then top it up")
    metrics = [rp.name for rp in plan.metric_requirements]
    if metrics:
        raise JournalMismatch(
            f"{where}; requirement(s) {', '.join(repr(m) for m in metrics)} are metric bounds, which hold at the n "
            "fixed before looking: extended after looking they would lose their confidence. A top-up extends rate "
            f"requirements only; run the spec afresh at --n {n_new} (a new folder) for the metrics")
    return n_old


def _extends(old: dict, path: Path) -> list[dict]:
    """The manifest's earlier specs of a topped-up run ([] for one never topped up), checked."""
    extends = old.get("extends", [])
    ok = isinstance(extends, list) and len(extends) <= 1000 and all(
        isinstance(e, dict) and isinstance(e.get("spec_sha256"), str) and type(e.get("n")) is int for e in extends)
    if not ok:
        raise JournalMismatch(f"{path}: field 'extends': not a list of earlier specs (spec_sha256, n); "
                              "run the spec again without --resume")
    return [{"spec_sha256": e["spec_sha256"], "n": e["n"]} for e in extends]


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


def binding(run_id: str) -> str:
    """What every seal of a journal is bound to: its run, so no record of another run verifies."""
    return f"evalkit-journal/{run_id}"


def read_manifest(root: Path, error=SavedStateError) -> dict:
    """The journal's manifest, read and verified; ``error`` (naming the file and field) otherwise."""
    path = root / "manifest.json"
    if not path.is_file():
        raise error(f"{path}: no journal there (file not found); run without --resume to start afresh")
    try:
        old = read_json_object(path, "journal manifest")
    except DataError as exc:
        raise error(str(exc)) from None
    if old.get("format") != JOURNAL_FORMAT or old.get("version") != JOURNAL_VERSION:
        raise error(f"{path}: field 'format'/'version': not an evalkit journal of version {JOURNAL_VERSION} "
                    f"(found {str(old.get('format'))[:40]!r} version {str(old.get('version'))[:20]!r}, written by evalkit "
                    f"{str(old.get('evalkit'))[:20]}); "
                    "run the spec again without --resume")
    run_id = old.get("run_id")
    check = check_json_seal(old, binding(run_id)) if isinstance(run_id, str) else None
    if check is None or not check.trusted:
        why = "field 'run_id' is missing" if check is None else check.why
        raise error(f"{path}: the journal manifest does not verify ({why}); evalkit believes only saved state "
                    "this user's evalkit wrote: run the spec again without --resume")
    return old


class Journal:
    """The journal of one run, rooted at ``OUT/journal``."""

    def __init__(self, out_dir: Path, plan: Plan, *, resume: bool, writer: bool = True):
        self.root = Path(out_dir) / "journal"
        self.plan, self.resume, self.writer = plan, resume, writer
        self.entries = 0  # batch records this process wrote
        self.off: str | None = None  # why journaling stopped (the folder became unwritable), if it did
        self.dropped: list[str] = []  # records --resume did not believe
        spec = plan.spec.canonical()
        self.manifest: dict[str, Any] = {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "evalkit": __version__,
                         "spec_sha256": plan.spec.digest(), "spec": spec, "run_id": secrets.token_hex(16),
                         "extends": []}  # a topped-up run: the digests (and n) of its earlier specs
        if resume:
            self._check_manifest()
        elif writer:
            self.attempt(self._start)

    @classmethod
    def reader(cls, out_dir: Path, plan: Plan, manifest: dict) -> "Journal":
        """The journal of a finished run, to read only (rejudge): bound to the run id of ``manifest``
        (already verified by ``read_manifest``), its records checked against ``plan``'s sampling."""
        journal = cls(out_dir, plan, resume=False, writer=False)
        journal.resume = True
        journal.manifest.update({k: manifest[k] for k in ("evalkit", "spec_sha256", "spec", "run_id")})
        journal.manifest["extends"] = _extends(manifest, journal.root / "manifest.json")
        return journal

    @property
    def binding(self) -> str:
        return binding(self.manifest["run_id"])

    @property
    def spec_digests(self) -> set[str]:
        """The specs whose batch records are this run's: its own and, topped up, the earlier ones."""
        return {self.manifest["spec_sha256"]} | {e["spec_sha256"] for e in self.manifest.get("extends", [])}

    def _start(self) -> None:
        remove_tree(self.root)  # a fresh run starts a fresh journal (never through a link: _io)
        sealed = seal_json(self.manifest, self.binding)
        atomic_write_text(self.root / "manifest.json", json.dumps(sealed, indent=1, sort_keys=True))

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
        old = read_manifest(self.root, JournalMismatch)
        if old.get("evalkit") != __version__:
            raise JournalMismatch(f"{path}: the journal was written by evalkit {old.get('evalkit')}, this is {__version__}; "
                                  "a resumed run would mix two versions' measurements: run without --resume")
        self.manifest["run_id"] = old["run_id"]
        self.manifest["extends"] = _extends(old, path)
        if old.get("spec_sha256") != self.manifest["spec_sha256"]:
            given = old.get("spec")
            old_spec: dict = given if isinstance(given, dict) else {}
            n_old = top_up_from(path, old_spec, self.plan)
            if n_old is None:
                changes = spec_changes(old_spec, self.manifest["spec"])
                raise JournalMismatch(f"{path}: the spec changed since the journal was written ("
                                      + "; ".join(changes or ["its digest differs"]) + "); run without --resume to start afresh")
            self._top_up(str(old["spec_sha256"]), n_old)
            return
        adopt(path)  # verified as this run's: the folder's manifest lists it

    def _top_up(self, old_digest: str, n_old: int) -> None:
        """Extend the finished run of n_old samples to the plan's n: its complete batches stay (sample i is
        the same whatever n is), its final records and a last partial batch go, the manifest names the
        earlier spec (its batches stay this run's) and the new one."""
        self.manifest["extends"] = self.manifest["extends"] + [{"spec_sha256": old_digest, "n": n_old}]
        log.info("%s: topping the run up from n = %d to n = %d (anytime-valid rate bounds)", self.root, n_old,
                 self.plan.spec.sampling.size)
        if not self.writer:
            return
        bs = self.plan.spec.sampling.batch_size
        for sp in self.plan.subjects:
            folder = self.root / f"s{sp.index:03d}"
            stale = [folder / "final.safetensors"] + ([folder / f"b{n_old // bs:06d}.safetensors"] if n_old % bs else [])
            for path in stale:
                try:
                    if os.path.lexists(path):
                        remove_file(path)
                except OSError as exc:
                    raise JournalMismatch(f"{path}: cannot remove it to top the run up ({exc.strerror or exc}); "
                                          "the folder must be writable") from None
        sealed = seal_json(self.manifest, self.binding)
        atomic_write_text(self.root / "manifest.json", json.dumps(sealed, indent=1, sort_keys=True))

    def drop(self, path: Path, why: str, then: str) -> None:
        """Say that ``path`` is not believed (one warning line naming it) and remember it."""
        self.dropped.append(str(path))
        log.warning("%s: dropped from the journal (%s); %s", path, why, then)

    def subject(self, sp: SubjectPlan) -> "SubjectJournal":
        return SubjectJournal(self, sp)


class SubjectJournal:
    def __init__(self, journal: Journal, sp: SubjectPlan):
        self.journal, self.sp = journal, sp
        self.dir = journal.root / f"s{sp.index:03d}"

    # ---- the subject's identity: refuse a resume whose model changed
    def bind(self, weights_sha256: str | None, image_shape: list[int], files: list[dict] | None = None,
             models: dict[str, str | None] | None = None) -> None:
        ident = {"name": self.sp.name, "weights_sha256": weights_sha256, "weights_files": list(files or []),
                 "image_shape": list(image_shape), "models": dict(models or {})}
        path = self.dir / "subject.json"
        if self.journal.resume and path.is_file():
            old = self._read_ident(path)
            if old is not None:
                self._refuse_changes(path, old, ident)
                adopt(path)
                return
            self.clear()
        if self.journal.writer:
            sealed = seal_json(ident, self.journal.binding)
            self.journal.attempt(lambda: atomic_write_text(path, json.dumps(sealed, indent=1)))

    def _read_ident(self, path: Path) -> dict | None:
        try:
            old = read_json_object(path, "subject record")
        except DataError as exc:
            self.journal.drop(path, str(exc).removeprefix(f"{path}: "), "the subject's journal is rebuilt")
            return None
        check = check_json_seal(old, self.journal.binding)
        if not check.trusted:
            self.journal.drop(path, f"it does not verify: {check.why}", "the subject's journal is rebuilt")
            return None
        return old

    def _refuse_changes(self, path: Path, old: dict, ident: dict) -> None:
        changed = changed_files(old.get("weights_files") or [], ident["weights_files"])
        if changed or old.get("weights_sha256") != ident["weights_sha256"]:
            raise JournalMismatch(
                f"{path}: subject {self.sp.name!r}: its weights changed since the journal was written ("
                + (", ".join(changed) if changed else f"{old.get('weights_sha256')!r} -> {ident['weights_sha256']!r}")
                + "); a resumed run would mix samples of two models: run without --resume to start afresh")
        for key, what in (("image_shape", "image shape"), ("name", "name"), ("models", "feature extractor or classifier")):
            if old.get(key) != ident[key]:
                raise JournalMismatch(
                    f"{path}: subject {self.sp.name!r}: its {what} changed since the journal was written "
                    f"({str(old.get(key))[:200]} -> {str(ident[key])[:200]}); run without --resume to start afresh")

    def clear(self) -> None:
        if os.path.lexists(self.dir) and self.journal.writer:
            self.journal.attempt(lambda: remove_tree(self.dir))

    def _write(self, path: Path, tensors: dict[str, Tensor], meta: dict) -> None:
        meta["seal"] = make_seal(content_digest(meta, tensors), self.journal.binding)

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

    def _verified(self, path: Path, error=ValueError) -> tuple[dict[str, Tensor], dict]:
        """A record's (tensors, meta), its seal checked against this run; ``error`` when it does not verify."""
        tensors, meta = load_record(path, kind="journal")
        check = check_seal(meta.get("seal"), content_digest(meta, tensors), self.journal.binding)
        if not check.trusted:
            raise error(f"it does not verify: {check.why}")
        return tensors, meta

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
            tensors, meta = self._verified(path)
            self._belongs(meta, j, path)
            history = (tensors.pop("history.idx"), tensors.pop("history.rows")) if "history.idx" in tensors else None
            rec = BatchRecord(state_from_record(tensors, meta), history)
            bs = self.journal.plan.spec.sampling.batch_size
            problem = state_problems(rec.delta, range(j * bs, (j + 1) * bs))
            if problem:
                raise ValueError(problem)
            adopt(path)
            return rec
        except (DataError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            self.journal.drop(path, str(exc), f"batch {j} is sampled again")
            return None

    def _belongs(self, meta: dict, j: int, path: Path) -> None:
        if meta.get("spec_sha256") not in self.journal.spec_digests or meta.get("subject") != self.sp.name \
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
            rec = self.read_final(path, ValueError)
            adopt(path)
            return rec
        except (DataError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            self.journal.drop(path, str(exc), "the subject's batches are folded again")
            return None

    def read_final(self, path: Path, error=SavedStateError) -> FinalRecord:
        """The final record at ``path``, verified and checked (``error`` naming what is wrong)."""
        tensors, meta = self._verified(path, error)
        if meta.get("spec_sha256") != self.journal.manifest["spec_sha256"] or meta.get("subject") != self.sp.name:
            raise error(f"it records subject {str(meta.get('subject'))[:80]!r} of another spec or subject, "
                        f"not {self.sp.name!r} of this run")
        final = final_from_record(tensors, meta)
        problem = state_problems(final.state, range(0, self.journal.plan.spec.sampling.size))
        if problem:
            raise error(problem)
        return final


def state_problems(state: SubjectState, indices: range) -> str | None:
    """Why a saved state cannot come from a run whose samples are ``indices`` (None when it can):
    counts within 0..n, n within the range, the sample log's indices unique and inside it."""
    if not 0 <= state.n <= min(len(indices), MAX_SAMPLES) or not 0 <= state.nonfinite <= state.n:
        return f"field 'n': {state.n} samples (nonfinite {state.nonfinite}), where this record holds at most {len(indices)}"
    for i, rs in enumerate(state.rates):
        if not (0 <= rs.passed <= rs.n <= state.n and 0 <= rs.undefined <= rs.n):
            return f"field 'rates[{i}]': passed {rs.passed} (undefined {rs.undefined}) of n = {rs.n} in {state.n} samples"
        if any(not 0 <= k <= m <= rs.n for k, m in rs.per_class.values()):
            return f"field 'rates[{i}].per_class': a class count is not within 0..n"
    if state.samples is not None and state.samples.index:
        import torch

        idx = torch.cat(state.samples.index)
        if len(idx) != state.n or len(torch.unique(idx)) != len(idx) or bool(
                (idx < indices.start).any() or (idx >= indices.stop).any()):
            return (f"field 'samples.index': {len(idx)} sample indices for n = {state.n}, not unique or outside "
                    f"{indices.start}..{indices.stop - 1}")
    return None


def read_final(journal: Journal, sp: SubjectPlan) -> FinalRecord:
    """The final state of subject ``sp`` in a finished run's journal (for rejudge), verified."""
    sj = journal.subject(sp)
    path = sj.dir / "final.safetensors"
    if not path.is_file():
        raise SavedStateError(f"{path}: not found; subject {sp.name!r} did not finish in that run (resume it first)")
    try:
        return sj.read_final(path)
    except SavedStateError as exc:
        raise SavedStateError(f"{path}: {exc}; rejudge believes only what this user's evalkit wrote: "
                              "re-run the spec") from None
    except DataError as exc:
        raise SavedStateError(str(exc)) from None
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise SavedStateError(f"{path}: not a valid final record ({type(exc).__name__}: {str(exc)[:200]}); "
                              "re-run the spec") from None


def read_subject(journal: Journal, sp: SubjectPlan) -> dict:
    """The verified ``subject.json`` of ``sp`` (for rejudge); SavedStateError naming it otherwise."""
    path = journal.subject(sp).dir / "subject.json"
    ident = read_json_object(path, "subject record", SavedStateError)
    check = check_json_seal(ident, journal.binding)
    if not check.trusted:
        raise SavedStateError(f"{path}: the subject record does not verify ({check.why}); re-run the spec")
    shape = ident.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int and v > 0 for v in shape)):
        raise SavedStateError(f"{path}: field 'image_shape': {str(shape)[:60]} is not three positive integers")
    if ident.get("name") != sp.name:
        raise SavedStateError(f"{path}: field 'name': {str(ident.get('name'))[:60]!r}, not {sp.name!r}")
    return ident


def final_from_record(tensors: dict[str, Tensor], meta: dict) -> FinalRecord:
    lc, counts = meta.get("look_conf"), meta.get("counts")
    return FinalRecord(state_from_record(tensors, meta), bool(meta["stopped_early"]),
                       None if lc is None else {int(k): float(v) for k, v in lc},
                       None if counts is None else [[(int(k), int(n)) for k, n in row] for row in counts])
