"""What a distribution metric reads (``MetricInputs``) and returns (``MetricValue``).

In the foundation, beside the contract, because they are the seam's types: the
``Metric`` protocol (``evalkit.protocols``) names them. ``metrics.metric`` holds the
work metrics share (``shared``, ``gram_pass``) and re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, TypeVar, cast

from ._errors import DataError
from .contract import Input

if TYPE_CHECKING:
    from torch import Tensor

V = TypeVar("V")


@dataclass
class MetricInputs:
    """Everything a distribution metric may read for one subject."""

    subject: str
    real: Tensor | None  # (N, d) reference features
    fake: Tensor  # (M, d) subject features
    predicted: Tensor | None = None  # classifier predictions of the subject's samples
    asked: Tensor | None = None  # asked labels
    num_classes: int | None = None
    nn_ratio: Tensor | None = None  # each sample's nearest-training ratio (observation.NearestTraining)
    seed: int = 0
    images: Tensor | None = None  # uint8 generated images (for metrics that train on them)
    image_labels: Tensor | None = None
    real_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled reference images
    train_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled training images
    # every (metric name, args) the spec asks of this subject: metrics that share work
    # (the k-NN metrics and KID walk the same Gram tiles) compute it once for all of them
    requests: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    # a dict the runner keeps across subjects, for work on the reference set alone
    shared: dict[Hashable, object] | None = None
    # per-sample values of the registered measurements a metric declares as inputs
    measured: dict[str, Tensor] = field(default_factory=dict)
    # every per-sample state the metric declares, by name: (rows, sample indices) for a cat
    # state, (sum, count) for a sum state (narrowed to the metric's own states)
    states: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    # the reference's feature (mean (d,), covariance (d, d)) in float64 NumPy, imported from another
    # tool's .npz (``reference: {statistics: ...}``) in place of ``real``; only FID reads it
    real_moments: tuple[Any, Any] | None = None
    _cache: dict[Hashable, object] = field(default_factory=dict)

    # which declared input each field carries: a metric reading a field it did not
    # declare fails (registry.InputGuard)
    INPUT_OF_ATTRIBUTE: ClassVar[dict[str, Input]] = {
        "real": Input.REFERENCE, "real_images": Input.REFERENCE, "real_moments": Input.REFERENCE, "fake": Input.FEATURES,
        "predicted": Input.CLASSIFIER, "num_classes": Input.CLASSIFIER, "asked": Input.LABELS,
        "image_labels": Input.LABELS, "nn_ratio": Input.TRAINING, "train_images": Input.TRAINING,
        "images": Input.IMAGES,
    }

    def cached(self, key: Hashable, fn: Callable[[], V]) -> V:
        """``fn()``, computed once per subject under ``key``."""
        if key not in self._cache:
            self._cache[key] = fn()
        return cast(V, self._cache[key])  # stored under this key by this function, from fn

    def need_real(self, name: str) -> Tensor:
        if self.real is None:
            raise DataError(f"metric {name!r} compares against real images, but the spec has no `reference:`")
        return self.real


@dataclass
class MetricValue:
    """A metric's value with its one-sided bounds at the requested confidence, over ``n`` samples."""

    value: float
    low: float  # one-sided lower bound at the requested confidence
    high: float  # one-sided upper bound at the requested confidence
    method: str
    n: int
    n_reference: int | None = None
    note: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    # False where a bound's assumptions fail (``intervals.tail_guard``): it is shown, not claimed, and
    # the judge decides nothing on it (an at_most PASS and an at_least FAIL need the upper
    # bound; an at_most FAIL and an at_least PASS the lower)
    upper_holds: bool = True
    lower_holds: bool = True


__all__ = ["MetricInputs", "MetricValue"]
