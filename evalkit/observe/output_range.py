"""The generator contract on pixel values: samples lie in [0, 1] unless declared otherwise.

A generator that returns, say, tanh outputs in [-1, 1] would otherwise be measured
as if its images were mostly black, and every verdict on it would be about the
wrong images. So a subject whose samples leave the range stops with an error that
names it and the range observed, unless the spec measures the range itself (an
``in_range`` requirement, as a ``finite`` requirement does for NaN) or the
generator declares another range (``output_range`` in its registration, or an
``output_range = (low, high)`` attribute on a user generator; ``None`` for any).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import SubjectError

if TYPE_CHECKING:
    from torch import Tensor

    from ..plan import Plan, SubjectPlan

UNIT = (0.0, 1.0)


def allowed_range(plan: Plan, sp: SubjectPlan, generator: Any) -> tuple[float, float] | None:
    """The range a subject's pixels must lie in, or None when nothing is enforced."""
    if sp.images_path is not None or any(rp.req.check == "in_range" for rp in plan.requirements):
        return None
    if sp.declaration is not None:
        return sp.declaration.output_range
    declared = getattr(generator, "output_range", UNIT)
    if declared is None:
        return None
    try:
        low, high = (float(v) for v in declared)
    except (TypeError, ValueError):
        raise SubjectError(f"subject {sp.name!r}: output_range must be (low, high) numbers or None, got {declared!r}") from None
    return low, high


def enforce_range(images: Tensor, finite_rows: Tensor, allowed: tuple[float, float] | None, subject: str,
                  first_index: int) -> None:
    """Stop the subject when a finite sample of the batch leaves ``allowed``."""
    if allowed is None:
        return
    x = images[finite_rows.to(images.device)]
    if x.numel() == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    low, high = allowed
    if lo < low or hi > high:
        raise SubjectError(
            f"subject {subject!r} returned pixel values in [{lo:.4g}, {hi:.4g}] (batch starting at sample {first_index}), "
            f"outside [{low:g}, {high:g}]; return images in [{low:g}, {high:g}] (e.g. (x + 1) / 2 for tanh outputs), "
            "or add an `in_range` requirement to measure the rate of such samples instead of stopping"
        )
