"""Measurements and checks on RGB images of several sizes, against NumPy written here.

``mean``, ``contrast`` and ``sharpness`` read BT.601 luminance; ``ink`` and ``components`` the
brightest channel; ``symmetry`` and the pixel checks every channel. An RGB image whose three
channels equal a grey image measures as that grey image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit import Observation, registry
from evalkit.observe.indexes import DuplicateIndex

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, written out again on purpose
INK = 0.25
SIZES = [(8, 8), (32, 48), (48, 32), (64, 64), (128, 128)]
IMAGE_MEASUREMENTS = ("mean", "contrast", "ink", "components", "symmetry", "sharpness")
IMAGE_CHECKS = ("finite", "in_range", "not_blank", "no_duplicate")


def obs_of(images: torch.Tensor) -> Observation:
    return Observation(images, images, None, torch.arange(len(images)), history=DuplicateIndex())


def M(name: str, images: torch.Tensor) -> np.ndarray:
    registry.load_plugins()
    return registry.measurements.get(name).obj(obs_of(images)).numpy()


def C(name: str, images: torch.Tensor, **args) -> list[bool]:
    registry.load_plugins()
    return registry.checks.get(name).obj(obs_of(images), **args).tolist()


def luminance(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, H, W), the weighted channel sum."""
    return np.einsum("nchw,c->nhw", x.astype(np.float64), LUMA)


def laplacian_var(y: np.ndarray) -> float:
    """Variance (n - 1) of the 4-neighbour Laplacian over the interior pixels."""
    lap = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    return float(lap.var(ddof=1))


def random_rgb(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, h, w)).astype(np.float32)


@pytest.mark.parametrize("h,w", SIZES)
def test_brightness_measurements_read_bt601_luminance(h, w):
    x = random_rgb(3, h, w, seed=h * w)
    x[2] = 0.0
    x[2, 0, : h // 2] = 1.0  # pure red top half: luminance 0.299, ink there
    t = torch.from_numpy(x)
    y = luminance(x)
    np.testing.assert_allclose(M("mean", t), y.mean(axis=(1, 2)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(M("contrast", t), y.reshape(3, -1).std(axis=1, ddof=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(M("ink", t), (x.max(axis=1) > INK).mean(axis=(1, 2)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(M("sharpness", t), [laplacian_var(v) for v in y], rtol=1e-9, atol=1e-12)
    assert M("mean", t)[2] == pytest.approx(0.299 * (h // 2) / h, abs=1e-12)
    assert M("ink", t)[2] == pytest.approx((h // 2) / h, abs=1e-12)


def test_a_colour_is_ink_by_its_brightest_channel():
    x = np.zeros((5, 3, 6, 10), dtype=np.float32)
    x[0, 2] = 1.0  # pure blue: luminance 0.114, yet a saturated mark: ink
    x[1, 0] = 1.0  # pure red: ink
    x[2, 1] = 0.2  # dim green: no channel above 0.25
    x[3, :] = 0.3  # grey 0.3: ink
    x[4, :, :3] = 0.2  # grey 0.2 on the top half: none
    assert M("ink", torch.from_numpy(x)).tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert M("mean", torch.from_numpy(x[:1]))[0] == pytest.approx(0.114, abs=1e-9)  # while its brightness is low


def test_components_count_coloured_blobs():
    x = np.zeros((2, 3, 32, 48), dtype=np.float32)
    x[0, 0, 2:6, 2:6] = 1.0  # red blob
    x[0, 1, 20:30, 10:14] = 1.0  # green blob
    x[0, :, 3:5, 40:47] = 0.8  # white bar
    x[0, 2, 25:30, 30:40] = 1.0  # blue blob: ink by its blue channel
    x[0, 2, 12:14, 20:24] = 0.2  # a faint blue smudge: no channel above the threshold
    x[1, 0, 5:8, 5:8] = 1.0
    x[1, 1, 8:11, 8:11] = 1.0  # green touching red at a corner: one 8-connected component
    assert M("components", torch.from_numpy(x)).tolist() == [4.0, 1.0]


@pytest.mark.parametrize("h,w", [(32, 48), (64, 64), (9, 7)])
def test_symmetry_of_colour_images(h, w):
    x = random_rgb(3, h, w, seed=5)
    x[0] = (x[0] + x[0][..., ::-1]) / 2  # mirror-symmetric in every channel
    # row 1: red left half, green right half of the same luminance: a symmetric grey picture, not a symmetric colour one
    x[1] = 0.0
    x[1, 0, :, : w // 2] = 0.587
    x[1, 1, :, w - w // 2:] = 0.299
    t = torch.from_numpy(x)
    expect = 1 - np.abs(x.astype(np.float64) - x[..., ::-1]).mean(axis=(1, 2, 3))
    got = M("symmetry", t)
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-12)
    assert got[0] == pytest.approx(1.0, abs=1e-7) and got[1] < 0.8
    y1 = luminance(x[1:2])[0]
    np.testing.assert_allclose(y1, y1[:, ::-1], atol=1e-12)  # its luminance alone would read symmetric


def test_pixel_checks_read_every_channel():
    x = random_rgb(5, 32, 48, seed=9) * 0.5 + 0.25
    x[1, 2, 3, 4] = np.nan  # one blue value
    x[2, 1, 0, 0] = 1.2  # one green value out of [0, 1]
    x[3, 0] = 1.0
    x[3, 1:] = 0.0  # uniform red: bright, no contrast: blank
    x[4] = x[0] + np.float32(0.001)  # within RMS 0.02 of sample 0
    t = torch.from_numpy(x)
    assert C("finite", t) == [True, False, True, True, True]
    assert C("in_range", t) == [True, False, False, True, True]  # NaN is not in range
    safe = torch.nan_to_num(t)  # the runner zeroes non-finite values before the image checks read them
    assert C("not_blank", safe) == [True, True, True, False, True]
    rms = np.sqrt(((x[4].astype(np.float64) - x[0]) ** 2).mean())
    assert rms < 0.02
    assert C("no_duplicate", safe, threshold=0.02) == [True, True, True, True, False]
    assert C("no_duplicate", safe, threshold=rms / 2) == [True] * 5


def test_sharpness_is_undefined_without_an_interior():
    assert np.isnan(M("sharpness", torch.rand(2, 3, 2, 9))).all()
    assert np.isnan(M("sharpness", torch.rand(2, 1, 3, 3))).all()
    assert np.isfinite(M("sharpness", torch.rand(2, 3, 3, 4))).all()


# ---------------------------------------------------------------- grey == replicated RGB

levels = st.integers(0, 255).map(lambda v: v / 255)


@st.composite
def grey_batches(draw):
    h, w = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    n = draw(st.integers(1, 4))
    values = draw(st.lists(st.one_of(levels, st.floats(0, 1, width=32), st.just(INK)), min_size=n * h * w,
                           max_size=n * h * w))
    x = torch.tensor(values, dtype=torch.float32).view(n, 1, h, w)
    if n > 1 and draw(st.booleans()):
        x[-1] = x[0]  # a duplicate for no_duplicate to find
    return x


@settings(max_examples=60, deadline=None)
@given(grey_batches())
def test_rgb_with_equal_channels_measures_as_grey(grey):
    rgb = grey.expand(-1, 3, -1, -1).contiguous()
    for name in IMAGE_MEASUREMENTS:
        g, c = M(name, grey), M(name, rgb)
        if name == "symmetry":  # a mean over three times the values: equal up to rounding
            np.testing.assert_allclose(c, g, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(c, g, err_msg=name)
    for name in IMAGE_CHECKS:
        assert C(name, rgb) == C(name, grey), name
