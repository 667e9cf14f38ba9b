"""One batch under observation: images plus lazily computed, cached derived values.

Measurements and checks read what they need from an ``Observation``; anything
expensive (features, classifier outputs, nearest training neighbours) is
computed at most once per batch, and only when something asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .._errors import RunError, SpecError
from ..registry import Input


@dataclass
class Observation:
    """Per-batch view handed to measurements and checks."""

    images: Tensor  # (B, C, H, W) float, on the run's device, non-finite values zeroed
    raw_images: Tensor  # as the subject returned them (for finite / in_range)
    labels: Tensor | None  # asked classes (long) or None
    indices: Tensor  # global sample indices
    features_fn: Callable[[Tensor], tuple[Tensor, Tensor | None]] | None = None
    classifier_fn: Callable[[Tensor], Tensor] | None = None
    memory: Any = None  # a MemorizationIndex, when the spec gives a training set
    history: Any = None  # a DuplicateIndex for no_duplicate, per subject
    _cache: dict[str, Any] = field(default_factory=dict)

    # which declared input each attribute carries: a measurement or check reading one
    # it did not declare fails (registry.InputGuard); validation made sure the declared
    # ones exist, so the RunErrors below mean a bug, not a spec mistake
    INPUT_OF_ATTRIBUTE = {
        "images": Input.IMAGES, "raw_images": Input.IMAGES, "gray": Input.IMAGES,
        "features": Input.FEATURES, "features_fn": Input.FEATURES,
        "logits": Input.CLASSIFIER, "probs": Input.CLASSIFIER, "classifier_fn": Input.CLASSIFIER,
        "labels": Input.LABELS, "asked": Input.LABELS,
        "memo": Input.TRAINING, "memory": Input.TRAINING,
        "history": Input.HISTORY,
    }

    def __len__(self) -> int:
        return self.images.shape[0]

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def features(self) -> Tensor:
        if self.features_fn is None:
            raise RunError("this requirement needs features, but the run has no feature extractor")
        return self.cached("features", lambda: self.features_fn(self.images)[0].double().cpu())

    @property
    def logits(self) -> Tensor:
        if self.classifier_fn is None:
            raise RunError("this requirement needs a classifier (spec field `classifier:`)")
        return self.cached("logits", self._class_logits)

    def _class_logits(self) -> Tensor:
        logits = self.classifier_fn(self.images).double().cpu()
        if self.labels is not None and len(self.labels) and int(self.labels.max()) >= logits.shape[1]:
            # the classifier could never predict the asked class: every label check would fail, silently
            raise SpecError(f"class {int(self.labels.max())} is asked, but the classifier gives {logits.shape[1]} "
                            f"classes (0..{logits.shape[1] - 1}); use a classifier with the subject's classes")
        return logits

    @property
    def probs(self) -> Tensor:
        return self.cached("probs", lambda: torch.softmax(self.logits, dim=1))

    @property
    def asked(self) -> Tensor:
        if self.labels is None:
            raise RunError("this requirement needs asked labels, but the subject is unconditional")
        return self.labels.cpu()

    @property
    def memo(self) -> tuple[Tensor, Tensor]:
        """(nn_ratio, nn_distance) of each sample against the training set, computed once per batch."""
        if self.memory is None:
            raise RunError("this requirement compares against training images; add a `training:` entry")
        return self.cached("memo", lambda: self.memory.query(self.features))

    @property
    def gray(self) -> Tensor:
        """(B, H, W) luminance-like channel mean, float64 on the CPU."""
        return self.cached("gray", lambda: self.images.double().mean(1).cpu())
