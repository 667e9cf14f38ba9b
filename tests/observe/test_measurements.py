"""Measurements and checks on hand-drawn images."""

import torch

from evalkit import registry
from evalkit import Observation
from evalkit.observe.indexes import DuplicateIndex


def obs_of(images, labels=None):
    return Observation(images, images, labels, torch.arange(len(images)), history=DuplicateIndex())


def M(name, obs):
    registry.load_plugins()
    return registry.measurements.get(name).obj(obs)


def test_ink_mean_components_symmetry_by_hand():
    img = torch.zeros(2, 1, 6, 6)
    img[0, 0, 0, 0] = 1.0  # one blob top-left
    img[0, 0, 5, 5] = 1.0  # a second, not touching
    img[1, 0, :, 2:4] = 1.0  # a centred bar: symmetric
    obs = obs_of(img)
    assert M("ink", obs).tolist() == [2 / 36, 12 / 36]
    assert M("mean", obs).tolist() == [2 / 36, 12 / 36]
    assert M("components", obs).tolist() == [2.0, 1.0]
    sym = M("symmetry", obs).tolist()
    assert sym[1] == 1.0 and abs(sym[0] - (1 - 4 / 36)) < 1e-12


def test_sharpness_is_laplacian_variance():
    img = torch.zeros(1, 1, 5, 5)
    img[0, 0, 2, 2] = 1.0
    lap = torch.tensor([0.0, 1, 0, 1, -4, 1, 0, 1, 0])  # the 3x3 interior responses
    assert abs(M("sharpness", obs_of(img)).item() - lap.double().var().item()) < 1e-12


def test_checks_in_range_finite_blank_duplicate():
    registry.load_plugins()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x[1, 0, 0, 0] = 1.5
    x[2] = 0.0
    x[3] = x[0]
    obs = obs_of(x)
    C = lambda n, **a: registry.checks.get(n).obj(obs, **a).tolist()  # noqa: E731
    assert C("in_range") == [True, False, True, True]
    assert C("finite") == [True] * 4
    assert C("not_blank") == [True, True, False, True]
    assert C("no_duplicate", threshold=0.01) == [True, True, True, False]
