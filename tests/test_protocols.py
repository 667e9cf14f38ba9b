"""evalkit.protocols: the bundled parts fit the protocols plugins are typed against, and misfits do not."""

from __future__ import annotations

import torch

from evalkit import registry
from evalkit.protocols import Check, FeatureExtractor, Generator, Measurement, Metric


def test_every_registered_part_fits_its_protocol():
    kinds = {"checks": Check, "measurements": Measurement}
    for name, proto in kinds.items():
        reg = getattr(registry, name)
        entries = list(reg.names())
        assert entries, name
        assert all(isinstance(reg.get(e).obj, proto) for e in entries), name
    metrics = registry.metrics
    assert all(isinstance(metrics.get(e).obj(), Metric) for e in metrics.names())


class _Shapeless:
    num_classes = None

    def sample(self, n, *, labels, generator):
        return torch.zeros(n, 1, 4, 4)


class _Draws(_Shapeless):
    image_shape = (1, 4, 4)


def test_a_generator_needs_its_image_shape_and_sample():
    assert isinstance(_Draws(), Generator)
    assert not isinstance(_Shapeless(), Generator)  # no image_shape: the run could not check its output
    assert not isinstance(object(), FeatureExtractor)


def test_the_bundled_models_and_extractors_fit():
    import evalkit  # noqa: F401  (registers the built-ins)

    for name in registry.generators.names():
        if name.startswith("fashion-"):
            assert isinstance(registry.generators.get(name).obj(device="cpu"), Generator), name
    assert isinstance(registry.features.get("pixels").obj((1, 28, 28), "cpu"), FeatureExtractor)
    for name in registry.features.names():
        if name.startswith("fashion-"):
            assert isinstance(registry.features.get(name).obj((1, 28, 28), "cpu"), FeatureExtractor), name
