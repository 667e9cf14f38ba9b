"""What every registered metric reads and returns, and the work metrics share.

A metric's ``compute(inputs, confidence, /, *, <args>)`` reads a ``MetricInputs`` and
returns a ``MetricValue``; its declaration (inputs, states, arguments, orientation,
interval method, minimum N) lives in ``evalkit._builtins``. Metrics that share work
reach it through ``shared`` (work on the reference alone, once per run) and
``gram_pass`` (the one Gram pass of a subject, for every k-NN metric and KID asked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import Tensor

from .._builtins import DEFAULT_K
from .._errors import DataError
from ..registry import Input
from . import functional as Fn


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
    requests: list[tuple[str, dict]] = field(default_factory=list)
    # a dict the runner keeps across subjects, for work on the reference set alone
    shared: dict | None = None
    # per-sample values of the registered measurements a metric declares as inputs
    measured: dict[str, Tensor] = field(default_factory=dict)
    # every per-sample state the metric declares, by name: (rows, sample indices) for a cat
    # state, (sum, count) for a sum state (narrowed to the metric's own states)
    states: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    # which declared input each field carries: a metric reading a field it did not
    # declare fails (registry.InputGuard)
    INPUT_OF_ATTRIBUTE = {
        "real": Input.REFERENCE, "real_images": Input.REFERENCE, "fake": Input.FEATURES,
        "predicted": Input.CLASSIFIER, "num_classes": Input.CLASSIFIER, "asked": Input.LABELS,
        "image_labels": Input.LABELS, "nn_ratio": Input.TRAINING, "train_images": Input.TRAINING,
        "images": Input.IMAGES,
    }

    def cached(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def need_real(self, name: str) -> Tensor:
        if self.real is None:
            raise DataError(f"metric {name!r} compares against real images, but the spec has no `reference:`")
        return self.real


@dataclass
class MetricValue:
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


def shared(inputs: MetricInputs, key: tuple, fn: Callable[[], Any]) -> Any:
    """Work on the reference alone, computed once per run when the runner shares a dict."""
    if inputs.shared is None:
        return inputs.cached(key, fn)
    if key not in inputs.shared:
        inputs.shared[key] = fn()
    return inputs.shared[key]


def need_samples(metric: str, n: int, minimum: int, why: str) -> None:
    """Too few generated samples for a metric's interval: one clear error, never a NaN bound."""
    if n < minimum:
        raise DataError(f"metric {metric!r} needs at least {minimum} generated samples ({why}), got N={n}; "
                        f"raise `sampling.n` to {minimum} or more")


def gram_pass(inputs: MetricInputs, name: str, args: dict) -> Fn.Pairwise:
    """The shared Gram pass for this subject, covering every k-NN metric and KID it is asked for."""
    real = inputs.need_real(name)
    real_ks: set[int] = set()
    fake_ks: set[int] = set()
    kid: Fn.KIDConfig | None = None
    for n, a in [(name, args), *inputs.requests]:
        if n in ("precision", "density", "coverage"):
            real_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "recall":
            fake_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "kid" and kid is None:
            kid = Fn.KIDConfig(int(a.get("subsets", 100)), int(a.get("subset_size", 1000)), inputs.seed)
    for label, x, ks in (("reference", real, real_ks), (f"subject {inputs.subject!r}", inputs.fake, fake_ks)):
        if ks and len(x) <= max(ks):
            raise DataError(f"{label}: k-NN metrics need more than k={max(ks)} samples, got {len(x)}")
    if name == "kid" and kid != Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed):
        # a second KID request with other subsets: its own, KID-only pass
        cfg = Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed)
        return inputs.cached(("pairwise", cfg), lambda: Fn.pairwise(real, inputs.fake, kid=cfg))
    key = ("pairwise", frozenset(real_ks), frozenset(fake_ks), kid)

    def run() -> Fn.Pairwise:
        # the reference's own pass depends only on the reference, the ks and the KID draws
        rkey = ("real-pass", id(real), frozenset(real_ks), kid, len(inputs.fake) if kid else None)
        real_pass = shared(inputs, rkey, lambda: Fn.real_self_pass(real, inputs.fake, real_ks=real_ks, kid=kid))
        return Fn.pairwise(real, inputs.fake, real_ks=real_ks, fake_ks=fake_ks, kid=kid, real_pass=real_pass)

    return inputs.cached(key, run)
