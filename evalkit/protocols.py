"""What each kind of extension is, as a type: the plugin seam's protocols.

A plugin's function or class satisfies one of these by its shape alone (there is no
base class to inherit). The registries' decorators are typed with them
(``@evalkit.check`` takes a ``Check``, ``@evalkit.metric`` a class of ``Metric``s...),
so a type checker holds a plugin to its kind where it is registered, and
``isinstance(obj, evalkit.Check)`` works at run time for the runtime-checkable ones.

What a component *declares* (its inputs, arguments, orientation...) is stated to the
decorator and recorded by ``evalkit.contract``; these protocols state only the call
each kind must answer. Every type they name is a foundation type (``Observation``,
``MetricInputs``, ``MetricValue``) or torch's, imported for type checkers only, so this
module stays as light as the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from .metric_io import MetricInputs, MetricValue
    from .observation import Observation


# A check's and a metric's arguments are its own keyword-only parameters, typed in its
# signature and validated against the spec's `args:` from that signature; here they are
# `*args: Any, **kwargs: Any`, which type checkers read as "any further parameters" (the
# typing spec's equivalent of `...`), so every signature with the leading parameters fits.


@runtime_checkable
class Check(Protocol):
    """A per-sample predicate: ``check(obs, *, <arguments>)`` -> (B,) bool, one per sample of the batch."""

    def __call__(self, obs: Observation, /, *args: Any, **kwargs: Any) -> Tensor: ...


@runtime_checkable
class Measurement(Protocol):
    """A per-sample number: ``measurement(obs)`` -> (B,) float, named bare in ``where:`` (no arguments)."""

    def __call__(self, obs: Observation, /) -> Tensor: ...


@runtime_checkable
class Metric(Protocol):
    """A distribution metric: ``compute(inputs, confidence, /, *, <arguments>)`` -> a ``MetricValue``
    whose ``low`` and ``high`` are one-sided bounds at ``confidence``."""

    def compute(self, inputs: MetricInputs, confidence: float, /, *args: Any, **kwargs: Any) -> MetricValue: ...


# A metric is registered as its class; the run builds it with no arguments for each compute.
MetricClass = Callable[[], Metric]


@runtime_checkable
class Generator(Protocol):
    """Anything that draws images. Pixel values in [0, 1], shape (n, *image_shape).

    ``sample`` must take all its randomness from ``generator`` so that a sample is
    a pure function of the seed; ``labels`` is None for unconditional models.
    """

    # read-only here, so a class attribute of a narrower type (num_classes: int) fits
    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    @property
    def num_classes(self) -> int | None: ...

    def sample(self, n: int, *, labels: Tensor | None, generator: torch.Generator) -> Tensor: ...


# A generator is registered as its factory (a function or a class), called as
# factory(device=..., checkpoint=..., **params) with the spec's validated params.
GeneratorFactory = Callable[..., Generator]


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps images (N, C, H, W) in [0, 1] to features (N, dim); a classifier also gives (N, K) logits.

    ``name`` and ``digest`` identify it in the reference-feature cache (weights and code
    version); ``observe.features.Extractor`` is evalkit's own base class for them."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def digest(self) -> str: ...

    @property
    def num_classes(self) -> int | None: ...

    def features(self, images: Tensor) -> Tensor: ...

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]: ...


# A feature extractor is registered as its factory, called with the subject's image
# shape and the run's device.
FeatureFactory = Callable[["tuple[int, int, int]", "torch.device"], FeatureExtractor]


__all__ = ["Check", "Measurement", "Metric", "MetricClass", "Generator", "GeneratorFactory",
           "FeatureExtractor", "FeatureFactory"]
