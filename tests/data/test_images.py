"""Images read as they are: bit depths, grey in every container, EXIF orientation,
headers that lie, channels-last arrays and duplicate archive members.

Every expectation is computed here by hand (the stored integers divided by the bit
range, a rotation written out, PNG bytes built from the specification), never by the
reader under test. Files are built in tmp_path: no binary fixtures.
"""

from __future__ import annotations

import io
import logging
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from evalkit._errors import DataError
from evalkit.cli import main
from evalkit.data.images import Folder, NpzImages, image_set_shape, open_images, to_nchw

PNG_SIG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ PNG bytes by hand (PNG spec, 5.3, 11.2)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _scanlines(arr: np.ndarray) -> bytes:
    """Filter type 0 (None) before each row."""
    return b"".join(b"\x00" + row.tobytes() for row in arr)


def _png(w: int, h: int, depth: int, ctype: int, raw: bytes, interlace: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _folder(tmp_path, name: str, files: dict[str, bytes | Image.Image]):
    d = tmp_path / name
    d.mkdir()
    for fname, content in files.items():
        if isinstance(content, bytes):
            (d / fname).write_bytes(content)
        else:
            content.save(d / fname)
    return d


def _read_all(path):
    data = open_images(path, None)
    data.check_all()
    return data, data.slice(0, len(data)).numpy()


# ------------------------------------------------------------------ bit depths


def test_16_bit_grey_png_is_scaled_by_65535_not_clipped(tmp_path):
    values = np.array([[0, 1, 257, 4096], [32768, 40000, 65534, 65535]], dtype=np.uint16)
    built = _png(4, 2, 16, 0, _scanlines(values.astype(">u2")))  # 16-bit grey, big-endian as PNG stores it
    d = _folder(tmp_path, "g16", {"a.png": built, "b.png": Image.fromarray(values)})  # by hand and by Pillow
    data, x = _read_all(d)
    assert data.image_shape == (1, 2, 4)
    expected = np.array([[0 / 65535, 1 / 65535, 257 / 65535, 4096 / 65535],
                         [32768 / 65535, 40000 / 65535, 65534 / 65535, 1.0]])
    np.testing.assert_allclose(x[0, 0], expected, rtol=1e-7, atol=0)
    np.testing.assert_allclose(x[1, 0], expected, rtol=1e-7, atol=0)
    assert x[0, 0, 0, 2] < 0.004  # 257 is dark, not white


def test_16_bit_rgb_png_keeps_its_range(tmp_path):
    """Pillow decodes 16-bit colour to 8 bits (the high byte): no clipping, within 1/255 of value / 65535."""
    values = np.array([[[0, 257, 65535], [32768, 1000, 60000]]], dtype=np.uint16)
    d = _folder(tmp_path, "rgb16", {"a.png": _png(2, 1, 16, 2, _scanlines(values.astype(">u2")))})
    data, x = _read_all(d)
    assert data.image_shape == (3, 1, 2)
    got = x[0].transpose(1, 2, 0)  # back to H, W, C
    np.testing.assert_allclose(got, (values // 256) / 255, rtol=1e-6)
    assert np.abs(got - values / 65535).max() <= 1 / 255


def test_8_bit_grey_is_divided_by_255(tmp_path):
    values = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    d = _folder(tmp_path, "g8", {"a.png": _png(4, 1, 8, 0, _scanlines(values))})
    _, x = _read_all(d)
    np.testing.assert_allclose(x[0, 0], [[0.0, 1 / 255, 128 / 255, 1.0]], rtol=1e-7)


# ------------------------------------------------------------------ grey in every container


GREY = np.array([[0, 40, 80], [120, 200, 255]], dtype=np.uint8)


def _grey_palette_image() -> Image.Image:
    levels = np.unique(GREY)
    im = Image.fromarray(np.searchsorted(levels, GREY).astype(np.uint8), mode="P")
    im.putpalette([int(v) for lv in levels for v in (lv, lv, lv)])
    return im


@pytest.mark.parametrize("name,make", [
    ("la.png", lambda: Image.fromarray(np.stack([GREY, np.full_like(GREY, 255)], -1), mode="LA")),
    ("p.png", _grey_palette_image),
    ("g.gif", lambda: Image.fromarray(GREY)),
    ("g.bmp", lambda: Image.fromarray(GREY)),
])
def test_grey_in_la_palette_gif_bmp_reads_as_grey(tmp_path, name, make):
    d = _folder(tmp_path, "grey", {name: make()})
    data, x = _read_all(d)
    assert data.image_shape == (1, 2, 3)
    np.testing.assert_allclose(x[0, 0], GREY / 255, rtol=1e-7)


def test_grey_webp_reads_as_grey_lossless_exactly_lossy_closely(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (16, 16)).astype(np.uint8)
    d = tmp_path / "webp"
    d.mkdir()
    Image.fromarray(grey).save(d / "a.webp", lossless=True)
    Image.fromarray(grey).save(d / "b.webp", quality=90)
    assert Image.open(d / "a.webp").mode == "RGB"  # WebP has no grey mode: the reader must look at pixels
    data, x = _read_all(d)
    assert data.image_shape == (1, 16, 16)
    np.testing.assert_allclose(x[0, 0], grey / 255, rtol=1e-7)
    assert np.abs(x[1, 0] - grey / 255).mean() < 0.05  # lossy, but the same picture


def test_colour_palette_and_colour_webp_read_as_rgb(tmp_path):
    im = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    im.putpalette([10, 20, 30, 200, 100, 0])
    d = _folder(tmp_path, "pc", {"a.png": im})
    data, x = _read_all(d)
    assert data.image_shape == (3, 1, 2)
    np.testing.assert_allclose(x[0, :, 0, 0], np.array([10, 20, 30]) / 255, rtol=1e-7)
    np.testing.assert_allclose(x[0, :, 0, 1], np.array([200, 100, 0]) / 255, rtol=1e-7)


def test_a_folder_mixing_grey_and_colour_is_rgb_with_a_warning(tmp_path, caplog):
    colour = np.zeros((2, 3, 3), np.uint8)
    colour[..., 0] = 255
    d = _folder(tmp_path, "mixed", {"a.png": Image.fromarray(GREY), "b.png": Image.fromarray(colour)})
    with caplog.at_level(logging.WARNING, logger="evalkit.data.images"):
        data, x = _read_all(d)
    assert data.image_shape == (3, 2, 3)
    for c in range(3):  # the grey image: three equal channels
        np.testing.assert_allclose(x[0, c], GREY / 255, rtol=1e-7)
    np.testing.assert_allclose(x[1, 0], np.ones((2, 3)))
    assert "1 of 2 images are colour (first: b.png)" in caplog.text


def test_transparency_is_refused_naming_the_file_opaque_alpha_is_dropped(tmp_path):
    alpha = np.full_like(GREY, 255)
    ok = _folder(tmp_path, "opaque", {"a.png": Image.fromarray(np.dstack([GREY, GREY, GREY, alpha]), mode="RGBA")})
    _, x = _read_all(ok)
    np.testing.assert_allclose(x[0, 1], GREY / 255, rtol=1e-7)
    alpha[0, 0] = 0
    bad = _folder(tmp_path, "alpha", {"a.png": Image.fromarray(np.stack([GREY, alpha], -1), mode="LA")})
    with pytest.raises(DataError, match=r"a\.png: has transparent pixels"):
        _read_all(bad)


# ------------------------------------------------------------------ EXIF orientation


@pytest.mark.parametrize("orientation,expected", [
    (3, [[6, 5, 4], [3, 2, 1]]),       # turned 180 degrees
    (6, [[4, 1], [5, 2], [6, 3]]),     # shown turned 90 degrees clockwise
])
def test_exif_orientation_is_applied(tmp_path, orientation, expected):
    stored = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    d = tmp_path / "exif"
    d.mkdir()
    Image.fromarray(stored).save(d / "a.png", exif=exif)
    data, x = _read_all(d)
    expected = np.array(expected)
    assert data.image_shape == (1, *expected.shape)  # from the header, before decoding
    np.testing.assert_allclose(x[0, 0], expected / 255, rtol=1e-7)


def test_exif_quarter_turn_of_a_jpeg_swaps_the_header_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    d = tmp_path / "jpeg"
    d.mkdir()
    Image.fromarray(np.zeros((8, 16), np.uint8)).save(d / "a.jpg", exif=exif)
    assert Folder(d).image_shape == (1, 16, 8)


# ------------------------------------------------------------------ headers that disagree with the data


def _lying_pngs() -> dict[str, bytes]:
    # pixel values 0..4 are also valid filter types, so a decoder that trusts the header
    # reads these bytes without complaint and makes garbage of them
    data40 = (np.arange(40 * 40) % 5).astype(np.uint8).reshape(40, 40)
    ok28 = _scanlines(data40[:28, :28])
    return {
        "bigger.png": _png(28, 28, 8, 0, _scanlines(data40)),   # header 28x28, data 40x40
        "truncated.png": _png(28, 28, 8, 0, ok28[: 20 * 29]),  # 20 of 28 rows
        "extra.png": _png(28, 28, 8, 0, ok28 + b"\x00" * 29),  # one row too many
    }


def test_pillow_alone_would_decode_the_bigger_data_as_garbage():
    """Why the reader checks sizes itself: the decoder takes the header's word."""
    im = Image.open(io.BytesIO(_lying_pngs()["bigger.png"]))
    im.load()
    assert im.size == (28, 28)


@pytest.mark.parametrize("name", sorted(_lying_pngs()))
def test_png_data_that_disagrees_with_its_header_is_refused(tmp_path, name):
    d = _folder(tmp_path, "lies", {name: _lying_pngs()[name]})
    data = Folder(d)  # opening reads headers only: they look fine
    assert data.image_shape == (1, 28, 28)
    with pytest.raises(DataError, match=rf"{name}: the PNG header says 28x28 pixels"):
        data.slice(0, 1)


def test_an_interlaced_png_built_by_hand_is_read(tmp_path):
    """Adam7 (PNG spec 8.2): the size check counts each pass's scanlines."""
    img = (np.arange(7 * 10) * 3 % 256).astype(np.uint8).reshape(7, 10)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b"".join(_scanlines(img[y0::dy, x0::dx]) for x0, y0, dx, dy in passes if img[y0::dy, x0::dx].size)
    d = _folder(tmp_path, "adam7", {"a.png": _png(10, 7, 8, 0, raw, interlace=1)})
    _, x = _read_all(d)
    np.testing.assert_allclose(x[0, 0], img / 255, rtol=1e-7)


def test_a_truncated_jpeg_and_an_animation_are_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(buf, "JPEG")
    d = _folder(tmp_path, "jpeg", {"a.jpg": buf.getvalue()[: len(buf.getvalue()) // 2]})
    with pytest.raises(DataError, match=r"a\.jpg: cannot read image"):
        _read_all(d)
    anim = tmp_path / "anim"
    anim.mkdir()
    Image.fromarray(GREY).save(anim / "a.gif", save_all=True, append_images=[Image.fromarray(255 - GREY)])
    with pytest.raises(DataError, match=r"a\.gif: holds 2 frames"):
        Folder(anim)


# ------------------------------------------------------------------ .npz layouts


def _by_hand_nchw(arr_nhwc):
    n, h, w, c = arr_nhwc.shape
    out = np.empty((n, c, h, w), np.float64)
    for i in range(n):
        for ch in range(c):
            out[i, ch] = arr_nhwc[i, :, :, ch]
    return out


@pytest.mark.parametrize("shape,want", [
    ((2, 28, 28), (1, 28, 28)),
    ((2, 28, 28, 1), (1, 28, 28)),
    ((2, 1, 28, 28), (1, 28, 28)),
    ((2, 16, 12, 3), (3, 16, 12)),
    ((2, 3, 16, 12), (3, 16, 12)),
    ((2, 16, 12, 4), (4, 16, 12)),
    ((2, 2, 16, 16), (2, 16, 16)),
    ((2, 16, 16, 2), (2, 16, 16)),
    ((2, 2, 2, 3), (3, 2, 2)),
    ((2, 1, 2, 4), (1, 2, 4)),  # a single channel is the channel axis
    ((2, 3, 5, 1), (1, 3, 5)),
])
def test_npz_layouts_by_shape(tmp_path, shape, want):
    arr = (np.arange(int(np.prod(shape))) % 256).astype(np.uint8).reshape(shape)
    np.savez(tmp_path / "a.npz", images=arr)
    data = NpzImages(tmp_path / "a.npz")
    assert data.image_shape == want and image_set_shape(tmp_path / "a.npz", None) == want
    x = data.slice(0, 2).numpy()
    if len(shape) == 3:
        expected = arr[:, None] / 255
    elif shape[1:] == want:
        expected = arr / 255
    else:
        expected = _by_hand_nchw(arr) / 255
    np.testing.assert_allclose(x, expected, rtol=1e-7)


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (2, 3, 4, 4), (2, 1, 4, 1), (2, 16, 16, 16)])
def test_ambiguous_npz_shapes_are_refused_with_the_shape_and_the_fix(tmp_path, shape):
    np.savez(tmp_path / "a.npz", images=np.zeros(shape, np.uint8))
    with pytest.raises(DataError) as err:
        NpzImages(tmp_path / "a.npz")
    text = str(err.value)
    assert "a.npz" in text and "'images.npy'" in text and str(shape) in text and "layout='NHWC'" in text


def test_a_layout_member_settles_an_ambiguous_shape(tmp_path):
    arr = (np.arange(2 * 4 * 4 * 3) % 256).astype(np.uint8).reshape(2, 4, 4, 3)
    np.savez(tmp_path / "last.npz", images=arr, layout="NHWC")
    np.savez(tmp_path / "first.npz", images=arr, layout="NCHW")
    np.savez(tmp_path / "bad.npz", images=arr, layout="HWC")
    last = NpzImages(tmp_path / "last.npz")
    assert last.image_shape == (3, 4, 4)
    np.testing.assert_allclose(last.slice(0, 2).numpy(), _by_hand_nchw(arr) / 255, rtol=1e-7)
    assert NpzImages(tmp_path / "first.npz").image_shape == (4, 4, 3)
    with pytest.raises(DataError, match="'layout' member must be"):
        NpzImages(tmp_path / "bad.npz")


def test_npz_dtypes_uint16_scaled_plain_ints_refused(tmp_path):
    v = np.array([[[0, 257], [32768, 65535]]], np.uint16)
    np.testing.assert_allclose(to_nchw(v, "x").numpy()[0, 0], v[0] / 65535, rtol=1e-7)
    np.savez(tmp_path / "i.npz", images=np.zeros((2, 8, 8), np.int64))
    with pytest.raises(DataError, match=r"i\.npz.*dtype int64 do not say their pixel range"):
        NpzImages(tmp_path / "i.npz")


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("second", ["images.npy", "images"])
def test_duplicate_npz_members_are_refused_naming_the_member(tmp_path, second):
    path = tmp_path / "dup.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("images.npy", _npy(np.zeros((2, 8, 8), np.uint8)))
        with pytest.warns(UserWarning) if second == "images.npy" else _nothing():
            zf.writestr(second, _npy(np.ones((2, 8, 8), np.uint8)))
    with pytest.raises(DataError, match=rf"dup\.npz: holds two members named '{second}'"):
        NpzImages(path)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------ validation stays light


def test_shapes_come_from_headers_without_torch(tmp_path):
    d = _folder(tmp_path, "g", {"a.png": Image.fromarray(GREY)})
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 16, 12, 3), np.uint8))
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from evalkit.data.images import image_set_shape
        print(image_set_shape(Path({str(d)!r}), None), image_set_shape(Path({str(tmp_path / 'a.npz')!r}), None),
              'torch' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["(1,", "2,", "3)", "(3,", "16,", "12)", "False"]


# ------------------------------------------------------------------ through the command line


SPEC = """\
version: 1
name: images
features: pixels
classifier: null
subjects: [{{path: {path}}}]
sampling: {{n: 2, batch_size: 2}}
requirements: [{{check: finite, at_least: 0.5}}]
"""


def _bad_inputs(tmp_path) -> dict[str, tuple]:
    """case -> (subject path, text the error must hold)."""
    cases = {}
    for name, data in _lying_pngs().items():
        d = _folder(tmp_path, name[:-4], {name: data, "z.png": _png(28, 28, 8, 0, _scanlines(np.zeros((28, 28), np.uint8)))})
        cases[name] = (d, f"{name}: the PNG header says 28x28")
    alpha = np.full_like(GREY, 255)
    alpha[1, 1] = 3
    d = _folder(tmp_path, "alpha", {"a.png": Image.fromarray(np.stack([GREY, alpha], -1), mode="LA"),
                                    "b.png": Image.fromarray(GREY)})
    cases["alpha"] = (d, "a.png: has transparent pixels")
    np.savez(tmp_path / "amb.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    cases["ambiguous"] = (tmp_path / "amb.npz", "amb.npz (member 'images.npy'): images of shape (2, 4, 4, 3)")
    with zipfile.ZipFile(tmp_path / "dup.npz", "w") as zf:
        zf.writestr("images.npy", _npy(np.zeros((2, 8, 8), np.uint8)))
        zf.writestr("images", _npy(np.zeros((2, 8, 8), np.uint8)))
    cases["duplicate"] = (tmp_path / "dup.npz", "dup.npz: holds two members named 'images'")
    return cases


def test_every_bad_image_case_is_a_clear_error_through_validate_and_run(tmp_path, capsys):
    for case, (path, message) in _bad_inputs(tmp_path).items():
        spec = tmp_path / f"{case}.yaml"
        spec.write_text(SPEC.format(path=path))
        code = main(["validate", str(spec)])
        out = capsys.readouterr()
        assert "Traceback" not in out.err + out.out, case
        # validation reads headers at most: what they show is exit 2, what only the data shows waits for the run
        assert code == 0 or (code == 2 and message in out.err), (case, code, out.err)
        code = main(["run", str(spec), "--out", str(tmp_path / f"out-{case}"), "--quiet"])
        out = capsys.readouterr()
        assert "Traceback" not in out.err + out.out, case
        assert code in (2, 3) and message in out.out + out.err, (case, code, out.out, out.err)


def test_images_in_every_container_score_as_the_same_images(tmp_path, capsys):
    """One set of 8-bit pictures stored as 16-bit PNG, LA, grey palette, GIF, lossless WebP and
    EXIF-turned PNG: each subject is the reference itself (FID 0), which clipping, RGB
    promotion or an ignored orientation would each break."""
    rng = np.random.default_rng(5)
    pics = (rng.random((12, 10, 10)) ** 2 * 255).astype(np.uint8)
    np.savez(tmp_path / "ref.npz", images=pics)
    turned = Image.Exif()
    turned[0x0112] = 6  # shown turned clockwise: store it turned counter-clockwise
    kinds = {
        "sixteen": lambda p, f: Image.fromarray(p.astype(np.uint16) * 257).save(f.with_suffix(".png")),
        "la": lambda p, f: Image.fromarray(np.stack([p, np.full_like(p, 255)], -1), mode="LA").save(f.with_suffix(".png")),
        "palette": lambda p, f: Image.fromarray(p).convert("P").save(f.with_suffix(".png")),
        "gif": lambda p, f: Image.fromarray(p).save(f.with_suffix(".gif")),
        "webp": lambda p, f: Image.fromarray(p).save(f.with_suffix(".webp"), lossless=True),
        "exif": lambda p, f: Image.fromarray(np.rot90(p)).save(f.with_suffix(".png"), exif=turned),
    }
    for kind, save in kinds.items():
        (tmp_path / kind).mkdir()
        for i, p in enumerate(pics):
            save(p, tmp_path / kind / f"{i:02d}")
    subjects = "".join(f"\n  - {{path: {k}, name: {k}}}" for k in kinds)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nname: containers\nfeatures: pixels\nclassifier: null\nreference: {path: ref.npz}\n"
        f"subjects:{subjects}\nsampling: {{n: 12, batch_size: 12}}\n"
        "requirements:\n  - {check: finite, at_least: 0.5}\n  - {metric: fid, at_most: 1.0e-3}\n")
    code = main(["run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"), "--quiet", "--format", "json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    import json

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    got = {s["name"]: (s["status"], s["metrics"][0]["value"]) for s in report["subjects"]}
    assert code == 0, (got, out.out, out.err)
    for kind in kinds:
        assert got[kind][0] == "ok" and got[kind][1] == pytest.approx(0.0, abs=1e-4), (kind, got[kind])


def test_the_spec_in_docs_images_md_runs_as_written(tmp_path, capsys):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "images.md").read_text()
    (tmp_path / "spec.yaml").write_text(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    rng = np.random.default_rng(9)
    pics = (rng.random((20, 12, 12)) * 255).astype(np.uint8)
    for folder in ("real_images", "more_samples"):
        (tmp_path / folder).mkdir()
        for i, p in enumerate(pics):
            Image.fromarray(p).save(tmp_path / folder / f"{i:02d}.png")
    np.savez(tmp_path / "samples.npz", images=pics[:, :, :, None])  # channels last, one channel
    assert main(["validate", str(tmp_path / "spec.yaml")]) == 0
    code = main(["run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err, out.out + out.err
