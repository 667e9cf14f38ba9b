"""Building a subject: its generator from the spec's factory, held to the Generator protocol,
and the sample source the loop draws from.

One module for both an in-process run and the child process of an isolated subject
(``child._serve``), so the two build a subject with the very same code.
"""

from __future__ import annotations

import math

from .._errors import EvalkitError, SpecError, SubjectError, present
from ..boundary import user_code
from ..data.images import MAX_IMAGE_PIXELS, open_images
from ..plan import SubjectPlan
from ..sample.sources import GeneratorSource, ImageSource, asked_labels
from ..spec.model import MAX_CLASSES
from .context import RunContext


def build_generator(ctx: RunContext, sp: SubjectPlan):
    """The subject's generator object, built from its factory and checked against the protocol."""
    spec = ctx.spec
    ckpt = str(spec.resolve_path(sp.spec.checkpoint)) if sp.spec.checkpoint else None
    factory = present(sp.factory, f"the factory of subject {sp.name!r}")
    try:
        with user_code(sp.name, "building the generator"):
            gen = factory(device=ctx.device, checkpoint=ckpt, **sp.spec.params)
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
