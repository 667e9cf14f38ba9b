"""Images to a network's input: every filter against an independent computation (PIL, or the
formula written out in NumPy), channels and quantisation by hand."""

import numpy as np
import pytest
import torch
from PIL import Image

from evalkit.contract import Preprocessing
from evalkit.observe.preprocess import apply, quantize, resize, to_channels

SIZES = [((28, 28), (299, 299)), ((64, 48), (28, 28)), ((32, 32), (20, 40))]


@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("name,pil", [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)])
def test_antialiased_filters_equal_pil_on_float_images(src, dst, name, pil):
    x = np.random.default_rng(0).random(src).astype(np.float32)
    want = np.asarray(Image.fromarray(x, mode="F").resize((dst[1], dst[0]), pil))
    if name == "bicubic":
        want = want.clip(0, 1)  # an image file cannot hold bicubic's overshoot
    got = resize(torch.from_numpy(x)[None, None], dst, name)[0, 0].numpy()
    assert got.shape == dst
    assert np.abs(got - want).max() < 1e-5


def _tf1_bilinear_by_hand(x: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, no half-pixel centres), one output pixel at a time."""
    h, w = x.shape
    y = np.zeros(out)
    for i in range(out[0]):
        for j in range(out[1]):
            sy, sx = i * h / out[0], j * w / out[1]
            y0, x0 = min(int(np.floor(sy)), h - 1), min(int(np.floor(sx)), w - 1)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            top = x[y0, x0] * (1 - fx) + x[y0, x1] * fx
            bottom = x[y1, x0] * (1 - fx) + x[y1, x1] * fx
            y[i, j] = top * (1 - fy) + bottom * fy
    return y


@pytest.mark.parametrize("src,dst", [((7, 9), (20, 13)), ((28, 28), (64, 64)), ((30, 30), (11, 17))])
def test_tf_bilinear_is_the_tf1_formula(src, dst):
    x = np.random.default_rng(1).random(src)
    got = resize(torch.from_numpy(x).float()[None, None], dst, "tf-bilinear")[0, 0].double().numpy()
    assert np.abs(got - _tf1_bilinear_by_hand(x, dst)).max() < 1e-5  # float32 taps, as TensorFlow computes them


def test_nearest_takes_the_pixel_under_each_output_centre():
    x = np.random.default_rng(2).random((64, 48)).astype(np.float32)
    iy = np.floor((np.arange(28) + 0.5) * 64 / 28).astype(int)
    ix = np.floor((np.arange(20) + 0.5) * 48 / 20).astype(int)
    got = resize(torch.from_numpy(x)[None, None], (28, 20), "nearest")[0, 0].numpy()
    assert np.array_equal(got, x[iy][:, ix])


def test_area_averages_blocks():
    x = np.random.default_rng(3).random((28, 28)).astype(np.float32)
    got = resize(torch.from_numpy(x)[None, None], (7, 7), "area")[0, 0].numpy()
    assert np.allclose(got, x.reshape(7, 4, 7, 4).mean((1, 3)), atol=1e-6)


def test_channels_replicate_grey_and_take_bt601_luminance():
    rgb = torch.rand(2, 3, 5, 6)
    grey = to_channels(rgb, 1)
    want = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert torch.allclose(grey[:, 0], want, atol=1e-6)
    assert torch.equal(to_channels(grey, 3), grey.expand(-1, 3, -1, -1))
    assert to_channels(rgb, None) is rgb


def test_quantize_rounds_to_uint8_levels_as_a_png_writer():
    x = torch.tensor([-0.2, 0.0, 0.5, 0.50196, 1.0 / 510 + 1e-4, 0.999, 1.3])
    want = np.clip(np.round(np.clip(x.numpy(), 0, 1) * 255), 0, 255) / 255
    assert np.allclose(quantize(x).numpy(), want)


def test_apply_runs_quantise_channels_resize_then_scale_in_that_order():
    x = torch.rand(3, 1, 28, 28)
    prep = Preprocessing(size=(32, 32), resize="bilinear", channels=3, value_range=(0.0, 255.0), quantize=True)
    by_hand = resize(to_channels(quantize(x), 3), (32, 32), "bilinear") * 255
    assert torch.allclose(apply(x, prep), by_hand)
    norm = Preprocessing(size=None, channels=3, normalize=((0.5, 0.4, 0.3), (0.2, 0.2, 0.25)))
    out = apply(x, norm)
    assert torch.allclose(out[:, 2], (x[:, 0] - 0.3) / 0.25, atol=1e-6)


def test_declaration_refuses_unknown_filters_and_takes_the_alias():
    assert Preprocessing(resize="bicubic-antialias").resize == "bicubic"
    with pytest.raises(ValueError, match="lanczos"):
        Preprocessing(resize="lanczos")
    assert Preprocessing(size=(299, 299), resize="tf-bilinear", channels=3, value_range=(0, 255),
                         quantize=True).as_dict() == {"size": [299, 299], "resize": "tf-bilinear", "channels": 3,
                                                      "value_range": [0, 255], "quantize": "uint8", "normalize": None}
