"""The sampling loop: build a subject's source, then observe its batches until done or decided."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from .._errors import SpecError, present
from ..boundary import TimeLimit
from ..observe.indexes import DuplicateIndex
from ..observe.output_range import allowed_range, enforce_range
from ..plan import SubjectPlan
from ..progress import task
from ..sample.sources import Batch
from .build import build_source
from .child import isolation_possible, start_child_source
from .context import RunContext
from .faults import kill_point
from .gather import share_round
from .journal import BatchRecord, SubjectJournal
from .looks import Looks
from .observe import observe_batch
from .state import SubjectState, new_state

log = logging.getLogger(__name__)


@contextmanager
def subject_source(ctx: RunContext, sp: SubjectPlan, limit: TimeLimit):
    """(source, weights file or None) of one subject, its building charged to ``limit``.

    With a time limit, a generator is built and sampled in a child process that is killed
    at the deadline (``child.ChildSource``): the limit then holds whatever the model's code
    does. Without one, or where a fork cannot carry the device (CUDA), it runs here."""
    if not _isolated(ctx, sp, limit):
        with limit.running():
            yield build_source(ctx, sp)
        return
    with limit.running():
        source, weights = start_child_source(ctx, sp, limit)
    try:
        yield source, weights
    finally:
        source.close()


_said_in_process: set[str] = set()


def _isolated(ctx: RunContext, sp: SubjectPlan, limit: TimeLimit) -> bool:
    if limit.seconds is None or sp.images_path is not None:
        return False
    if isolation_possible(ctx.device):
        return True
    if ctx.device.type not in _said_in_process:
        _said_in_process.add(ctx.device.type)
        log.warning("time limits on %s run the model in evalkit's own process (a forked child cannot use %s): "
                    "they are enforced with SIGALRM, which the model's code could block (docs/isolation.md)",
                    ctx.device.type, ctx.device.type)
    return False


def check_needs(ctx: RunContext, sp: SubjectPlan, source) -> None:
    for rp in ctx.plan.requirements:
        if "labels" in rp.needs and source.labels is None:
            what = "per_class" if rp.req.per_class else f"{rp.name!r}"
            raise SpecError(
                f"{ctx.spec.where('requirements', rp.index)}: {what} needs asked labels, "
                f"but subject {sp.name!r} is unconditional (no classes)"
            )


def rounds(ctx: RunContext, total: int) -> Iterator[list[int]]:
    """The batch numbers of each round: batch k * world + r is process r's in round k.
    Every process walks the same rounds, so the collectives of a round line up."""
    for first in range(0, total, ctx.world):
        yield list(range(first, min(total, first + ctx.world)))


@contextmanager
def progress(ctx: RunContext, sp: SubjectPlan, n: int):
    """A callable taking the number of samples just observed (a bar on a terminal, plain lines in a log)."""
    with task(f"{sp.name}: sampling", n, "img", enabled=ctx.progress and ctx.rank == 0) as bar:
        yield lambda k: bar.update(k * ctx.world)


class BatchReader:
    """Batch j of a source. Consecutive batches stream (each block is drawn once); a jump
    (another process's batches, or batches found in the journal) starts a new stream.
    ``pixel_range``: the range the subject's samples must lie in (None: not enforced)."""

    def __init__(self, source, batch_size: int, subject: str = "", pixel_range: tuple[float, float] | None = None):
        self.source, self.bs = source, batch_size
        self.subject, self.pixel_range = subject, pixel_range
        self._it: Iterator[Batch] | None = None
        self._next = -1

    def get(self, j: int) -> Batch:
        if self._it is None or self._next != j:
            self._it = iter(self.source.batches(self.bs, j * self.bs))
        self._next = j + 1
        return next(self._it)


def history_rows(batch: Batch) -> tuple[Tensor, Tensor]:
    """(sample indices, pixels) of a batch as no_duplicate compares them (non-finite values zeroed)."""
    images = torch.nan_to_num(batch.images, nan=0.0, posinf=1.0, neginf=0.0)
    return batch.indices.detach().cpu(), DuplicateIndex.pixels(images)


def fold_step(ctx: RunContext, reader: BatchReader, j: int | None, state: SubjectState, history: DuplicateIndex | None,
              shape: tuple, sj: SubjectJournal | None) -> BatchRecord | None:
    """Batch j's contribution to the fold: from the journal, or sampled and observed (then journaled).
    None for a process with no batch in this round."""
    rec = None if j is None or sj is None else sj.load_batch(j)
    batch = None
    if j is not None and rec is None:
        batch = reader.get(j)
        enforce_range(batch.images, torch.isfinite(batch.images).flatten(1).all(1), reader.pixel_range, reader.subject,
                      int(batch.indices[0]))
    if history is not None:  # every process sees every earlier sample, in any order
        own = rec.history if rec is not None else (history_rows(batch) if batch is not None else None)
        for rows in share_round(ctx, own):
            history.add(*rows)
    if batch is None:
        return rec
    delta = new_state(ctx.plan)
    room = [ctx.keep - len(rs.failing) for rs in state.rates]
    observe_batch(ctx, batch, delta, history, shape, room)
    rec = BatchRecord(delta, history_rows(batch) if history is not None else None)
    kill_point("mid-batch")
    if sj is not None:
        sj.write_batch(present(j, "the batch number"), rec)  # a batch was read, so it has one
    return rec


@dataclass
class Fold:
    """This process's fold of a subject so far; kept current batch by batch, so a subject that
    breaks mid-loop still reports how many samples it measured."""

    state: SubjectState


@dataclass
class LoopEnd:
    state: SubjectState  # this process's fold
    stopped_early: bool
    look_conf: dict[int, float] | None  # per requirement, the confidence the looks leave its verdict
    counts: list[list[tuple[int, int]]] | None = None  # sequential: (passed, n) per requirement at every look


def sample_loop(ctx: RunContext, sp: SubjectPlan, source, shape: tuple, sj: SubjectJournal | None = None,
                fold: Fold | None = None) -> LoopEnd:
    """Fold this process's batches into a state, round by round, until all are seen or a look
    decides every requirement (all processes decide on the same counts, so they stop together)."""
    bs = ctx.spec.sampling.batch_size
    total = -(-source.n // bs)
    looks = Looks(ctx.plan, source.n, bs)
    history = DuplicateIndex() if "history" in ctx.plan.needs else None
    reader = BatchReader(source, bs, sp.name, allowed_range(ctx.plan, sp, getattr(source, "gen", None)))
    fold = fold if fold is not None else Fold(new_state(ctx.plan))
    seen = new_state(ctx.plan)  # every process's rate counts, for the looks
    stopped_at = None
    counts: list[list[tuple[int, int]]] = []  # (passed, n) per requirement after every look
    with progress(ctx, sp, source.n) as advance:
        for js in rounds(ctx, total):
            mine = js[ctx.rank] if ctx.rank < len(js) else None
            rec = fold_step(ctx, reader, mine, fold.state, history, shape, sj)
            if looks.enabled:
                stopped_at = look_at_round(ctx, looks, js, rec, seen, counts)
            if rec is not None and (stopped_at is None or present(mine, "this process's batch") <= stopped_at):
                fold.state = fold.state.merge(rec.delta, ctx.keep)
                advance(rec.delta.n)
            if stopped_at is not None:
                break
    final = looks.final(stopped_at)
    return LoopEnd(fold.state, stopped_at is not None, final, None if final is None else counts)


def look_at_round(ctx: RunContext, looks: Looks, js: list[int], rec: BatchRecord | None, seen: SubjectState,
                  counts: list[list[tuple[int, int]]]) -> int | None:
    """Add the round's rate counts of every process to ``seen`` in batch order, looking after
    each batch (its counts appended to ``counts`` for the report's trace); the first batch whose
    look decides everything, or None."""
    deltas = share_round(ctx, None if rec is None else rec.delta.rates)
    for j, rates in zip(js, deltas):
        seen.rates = [a.merge(b, 0) for a, b in zip(seen.rates, rates)]
        counts.append([(rs.passed, rs.n) for rs in seen.rates])
        if looks.decided(seen, j):
            return j
    return None
