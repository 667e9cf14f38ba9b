"""One batch under observation: images plus lazily computed, cached derived values.

Measurements and checks read what they need from an ``Observation``; anything
expensive (features, classifier outputs, nearest training neighbours) is
computed at most once per batch, and only when something asks for it.

It sits in the foundation, beside the contract, because it is the seam's type: the
check and measurement protocols (``evalkit.protocols``) name it. So it imports
nothing at run time beyond the standard library and the contract; the indexes it
queries are stated as protocols here and built in ``observe.indexes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol, TypeVar, cast

from ._errors import RunError, SpecError
from .contract import LUMA, Input

if TYPE_CHECKING:
    from torch import Tensor

V = TypeVar("V")

FeaturesFn = Callable[["Tensor"], "tuple[Tensor, Tensor | None]"]  # images -> (features, logits or None)
ClassifierFn = Callable[["Tensor"], "Tensor"]  # images -> (B, K) class logits


class TrainingIndex(Protocol):
    """What ``Observation.nearest_training`` asks of the training set (``observe.indexes.MemorizationIndex``)."""

    def query(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(nn_ratio, nn_distance) per row of ``features``."""
        ...


class SampleHistory(Protocol):
    """The subject's earlier samples, for ``no_duplicate`` (``observe.indexes.DuplicateIndex``)."""

    def duplicates(self, images: Tensor, indices: Tensor, threshold: float) -> Tensor:
        """True where a sample is within ``threshold`` (RMS over pixels) of a sample of smaller index."""
        ...


@dataclass(frozen=True)
class NearestTraining:
    """Each sample's nearest training image, in feature space (one float64 per sample each)."""

    ratio: Tensor  # distance / that training image's distance to its own nearest training neighbour
    distance: Tensor  # feature distance to the nearest training image


@dataclass
class Observation:
    """Per-batch view handed to measurements and checks.

    A component reads only the attributes of the inputs it declares (``INPUT_OF_ATTRIBUTE``);
    the derived ones (``features``, ``logits``, ``probs``, ``nearest_training``, ``gray``)
    are computed on first read and cached for the rest of the batch.
    """

    images: Tensor  # (B, C, H, W) float, on the run's device, non-finite values zeroed
    raw_images: Tensor  # as the subject returned them (for finite / in_range)
    labels: Tensor | None  # asked classes (long) or None
    indices: Tensor  # global sample indices
    features_fn: FeaturesFn | None = None
    classifier_fn: ClassifierFn | None = None
    training_index: TrainingIndex | None = None  # when the spec gives a training set
    history: SampleHistory | None = None  # the subject's earlier samples, for no_duplicate
    _cache: dict[str, object] = field(default_factory=dict)

    # which declared input each attribute carries: a measurement or check reading one
    # it did not declare fails (registry.InputGuard); validation made sure the declared
    # ones exist, so the RunErrors below mean a bug, not a spec mistake
    INPUT_OF_ATTRIBUTE: ClassVar[dict[str, Input]] = {
        "images": Input.IMAGES, "raw_images": Input.IMAGES, "gray": Input.IMAGES,
        "features": Input.FEATURES, "features_fn": Input.FEATURES,
        "logits": Input.CLASSIFIER, "probs": Input.CLASSIFIER, "classifier_fn": Input.CLASSIFIER,
        "labels": Input.LABELS, "asked": Input.LABELS,
        "nearest_training": Input.TRAINING, "training_index": Input.TRAINING,
        "history": Input.HISTORY,
    }

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def cached(self, key: str, fn: Callable[[], V]) -> V:
        """``fn()``, computed once per batch under ``key`` (a plugin may cache its own work here)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return cast(V, self._cache[key])  # stored under this key by this function, from fn

    @property
    def features(self) -> Tensor:
        """(B, d) float64 features on the CPU, from the spec's ``features:`` extractor."""
        fn = self.features_fn
        if fn is None:
            raise RunError("this requirement needs features, but the run has no feature extractor")
        return self.cached("features", lambda: fn(self.images)[0].double().cpu())

    @property
    def logits(self) -> Tensor:
        """(B, K) float64 class logits on the CPU, from the spec's ``classifier:``."""
        return self.cached("logits", self._class_logits)

    def _class_logits(self) -> Tensor:
        if self.classifier_fn is None:
            raise RunError("this requirement needs a classifier (spec field `classifier:`)")
        logits = self.classifier_fn(self.images).double().cpu()
        if self.labels is not None and len(self.labels) and int(self.labels.max()) >= logits.shape[1]:
            # the classifier could never predict the asked class: every label check would fail, silently
            raise SpecError(f"class {int(self.labels.max())} is asked, but the classifier gives {logits.shape[1]} "
                            f"classes (0..{logits.shape[1] - 1}); use a classifier with the subject's classes")
        return logits

    @property
    def probs(self) -> Tensor:
        """(B, K) softmax of ``logits``."""
        return self.cached("probs", lambda: self.logits.softmax(dim=1))

    @property
    def asked(self) -> Tensor:
        """(B,) the classes asked of the generator, on the CPU."""
        if self.labels is None:
            raise RunError("this requirement needs asked labels, but the subject is unconditional")
        return self.labels.cpu()

    @property
    def nearest_training(self) -> NearestTraining:
        """Each sample's nearest training image (ratio and distance), computed once per batch."""
        index = self.training_index
        if index is None:
            raise RunError("this requirement compares against training images; add a `training:` entry")
        return self.cached("nearest_training", lambda: NearestTraining(*index.query(self.features)))

    @property
    def gray(self) -> Tensor:
        """(B, H, W) brightness per pixel, float64 on the CPU: a grey image as it is, an RGB image's
        BT.601 luminance 0.299 R + 0.587 G + 0.114 B (``contract.LUMA``), any other channel count's
        channel mean. An RGB image whose three channels are equal reads as that grey image."""
        return self.cached("gray", self._gray)

    def _gray(self) -> Tensor:
        x = self.images.detach().double().cpu()
        if x.shape[1] != 3:
            return x.mean(1)
        r, g, b = x.unbind(1)
        # = 0.299 R + 0.587 G + 0.114 B, written around G so that equal channels give G exactly
        # (the weighted sum rounds: a grey 0.25 would land a hair off the ink threshold)
        return g + LUMA[0] * (r - g) + LUMA[2] * (b - g)


__all__ = ["Observation", "NearestTraining", "TrainingIndex", "SampleHistory"]
