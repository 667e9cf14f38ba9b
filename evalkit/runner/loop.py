"""The sampling loop: build a subject's source, then observe its batches until done or decided."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .._errors import EvalkitError, SpecError, SubjectError
import torch

from ..observe.indexes import DuplicateIndex
from ..observe.output_range import allowed_range, enforce_range
from ..plan import SubjectPlan
from ..progress import task
from ..sample.sources import Batch, GeneratorSource, ImageSource, asked_labels
from ..data.images import MAX_IMAGE_PIXELS, open_images
from ..spec.model import MAX_CLASSES
from .context import RunContext
from .looks import Looks
from .observe import observe_batch
from .state import SubjectState
from ..report.model import Look
from ..report.trace import trace_of


def build_generator(ctx: RunContext, sp: SubjectPlan):
    """The subject's generator object, built from its factory and checked against the protocol."""
    spec = ctx.spec
    ckpt = str(spec.resolve_path(sp.spec.checkpoint)) if sp.spec.checkpoint else None
    try:
        gen = sp.factory(device=ctx.device, checkpoint=ckpt, **sp.spec.params)
    except EvalkitError:
        raise
    except Exception as exc:  # the spec validated: what the factory raises now is the subject breaking (exit 3)
        raise SubjectError(f"subject {sp.name!r}: building the generator raised {type(exc).__name__}: {exc}") from exc
    if gen is None:
        raise SubjectError(f"subject {sp.name!r}: the generator factory returned None instead of a generator")
    for attr in ("image_shape", "num_classes", "sample"):
        if not hasattr(gen, attr):
            raise SubjectError(f"subject {sp.name!r}: the generator has no {attr!r} (see the Generator protocol)")
    shape = tuple(gen.image_shape)
    if len(shape) != 3 or any(not isinstance(v, int) or v <= 0 for v in shape):
        raise SubjectError(f"subject {sp.name!r}: image_shape must be (C, H, W) positive ints, got {gen.image_shape!r}")
    if math.prod(shape) > MAX_IMAGE_PIXELS * 4 or not _classes_ok(gen.num_classes):
        raise SubjectError(f"subject {sp.name!r}: image_shape {shape} or num_classes {gen.num_classes!r} is beyond "
                           f"evalkit's bounds ({MAX_IMAGE_PIXELS * 4} values per image, 1..{MAX_CLASSES} classes)")
    return gen


def _classes_ok(num_classes) -> bool:
    return num_classes is None or (isinstance(num_classes, int) and not isinstance(num_classes, bool)
                                   and 0 < num_classes <= MAX_CLASSES)


def build_source(ctx: RunContext, sp: SubjectPlan):
    """(source, weights file or None) of one subject."""
    s = ctx.spec.sampling
    if sp.images_path is not None:
        imgs = open_images(sp.images_path, sp.spec.format)
        imgs.check_all()
        return ImageSource(sp.name, imgs, s.size, ctx.device), None
    gen = build_generator(ctx, sp)
    if gen.num_classes is None and s.labels not in ("uniform", "stratified"):
        raise SpecError(
            f"{ctx.spec.where('sampling', 'labels')}: sampling.labels asks for classes, but subject {sp.name!r} "
            "is unconditional (num_classes is None); remove `labels:` or use a class-conditional model"
        )
    labels = asked_labels(s, gen.num_classes)
    weights = getattr(gen, "weights_file", None)
    return GeneratorSource(sp.name, gen, s.size, labels, s.seed, s.block_size, ctx.device), weights


def check_needs(ctx: RunContext, sp: SubjectPlan, source) -> None:
    for rp in ctx.plan.requirements:
        if "labels" in rp.needs and source.labels is None:
            what = "per_class" if rp.req.per_class else f"{rp.name!r}"
            raise SpecError(
                f"{ctx.spec.where('requirements', rp.index)}: {what} needs asked labels, "
                f"but subject {sp.name!r} is unconditional (no classes)"
            )


def my_batches(ctx: RunContext, source, bs: int) -> Iterator[tuple[int, Batch]]:
    """(batch number, batch) pairs this process observes: all of them, or every world-th."""
    if ctx.world == 1:
        yield from enumerate(source.batches(bs))
        return
    for j in range(ctx.rank, -(-source.n // bs), ctx.world):
        start, stop = j * bs, min(source.n, (j + 1) * bs)
        yield j, next(iter(source.batches(stop - start, start, stop)))


@contextmanager
def progress(ctx: RunContext, sp: SubjectPlan, n: int):
    """A callable taking the number of samples just observed (a bar on a terminal, plain lines in a log)."""
    with task(f"{sp.name}: sampling", n, "img", enabled=ctx.progress and ctx.rank == 0) as bar:
        yield lambda k: bar.update(k * ctx.world)


@dataclass
class LoopEnd:
    stopped_early: bool
    look_conf: dict[int, float] | None  # per requirement, the confidence the looks leave its verdict
    trace: dict[str, list[Look]] | None = None  # sequential: per requirement name, the bounds at every look


def sample_loop(ctx: RunContext, sp: SubjectPlan, source, state: SubjectState, shape: tuple) -> LoopEnd:
    """Observe the subject's batches into ``state`` until all are seen or a look decides."""
    bs = ctx.spec.sampling.batch_size
    looks = Looks(ctx.plan, source.n, bs, world=ctx.world)
    history = DuplicateIndex()
    stopped_at = None
    pixel_range = allowed_range(ctx.plan, sp, getattr(source, "gen", None))
    counts: list[list[tuple[int, int]]] = []  # (passed, n) per requirement after every look
    with progress(ctx, sp, source.n) as advance:
        for j, batch in my_batches(ctx, source, bs):
            enforce_range(batch.images, torch.isfinite(batch.images).flatten(1).all(1), pixel_range, sp.name,
                          int(batch.indices[0]))
            observe_batch(ctx, batch, state, history, shape)
            advance(len(batch.indices))
            if looks.enabled:
                counts.append([(rs.passed, rs.n) for rs in state.rates])
            if looks.decided(state, j):
                stopped_at = j
                break
    final = looks.final(stopped_at)
    return LoopEnd(stopped_at is not None, final, None if final is None else trace_of(ctx.plan, counts, looks.conf, final))
