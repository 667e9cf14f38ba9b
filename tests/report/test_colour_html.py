"""report.html of RGB runs: grids and failing examples in colour, at any size, at a sane file size.

The grid's PNG strips are decoded here and compared cell by cell with the thumbnails in the
sample store, and each class's cells must carry that class's colour (the generator paints it);
a run at 128x128 must keep report.html small (thumbnails area-averaged to 64 px).
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from evalkit.records.samples import read_samples
from evalkit.report.html import png_data_uri
from tests.specs import spec_text
from usergen import COLOURS

from .browser import chromium_path

GAP = 2  # white pixels between grid cells (html.montage)
MAX_HTML_BYTES = 2_500_000


def _write_folder(folder, images: np.ndarray) -> None:
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray((img.transpose(1, 2, 0) * 255).round().astype(np.uint8), "RGB").save(folder / f"{i:03d}.png")


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """A conditional 32x48 RGB user generator against an RGB PNG folder, every format written."""
    import evalkit
    from usergen import ColourBars

    tmp = tmp_path_factory.mktemp("colour-run")
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 4
    _write_folder(tmp / "real", ColourBars(32, 48).sample(60, labels=labels, generator=g).numpy())
    spec = tmp / "spec.yaml"
    spec.write_text(spec_text(
        name="colour", reference={"path": "real"}, classifier=None,
        subjects=[{"model": "usergen:ColourBars", "params": {"height": 32, "width": 48}, "name": "bars"}],
        sampling={"n": 64, "batch_size": 32, "seed": 2, "labels": "stratified"},
        report={"formats": ["json", "markdown", "junit", "html"], "failing_examples": 4},
        requirements=[{"name": "sparse", "where": "ink < 0.05", "at_least": 0.5}, {"metric": "fid", "at_most": 1e6}]))
    report = evalkit.run(spec, out=tmp / "out")
    return report, tmp / "out"


def _uris(html: str, cls: str) -> list[tuple[str, int, int]]:
    """(data URI, width, height) of every <img> inside the element of class ``cls``."""
    part = html.split(f'class="{cls}"', 1)[1].split("</table>" if cls == "grid" else "<pre", 1)[0]
    return [(m.group(1), int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r'<img src="(data:image/png;base64,[^"]+)" width="(\d+)" height="(\d+)"', part)]


def _decode(uri: str) -> np.ndarray:
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return np.asarray(im)


def test_grid_cells_are_the_stored_thumbnails_in_their_class_colour(colour_run):
    report, out = colour_run
    html = (out / "report.html").read_text()
    rec = read_samples(out, "bars", report)
    grid, labels = rec.tensors["grid"].numpy(), rec.tensors["grid_label"].tolist()
    assert grid.shape[1:] == (3, 32, 48)
    strips = _uris(html, "grid")
    assert len(strips) == 4  # one per class
    pos = 0
    for uri, width, height in strips:
        arr = _decode(uri)
        assert arr.ndim == 3 and arr.shape[2] == 3  # colour, not grey
        cells = (arr.shape[1] + GAP) // (48 + GAP)
        assert (height, width) == (arr.shape[0] * 1, arr.shape[1] * 1)  # 48 px: shown at 1:1
        for k in range(cells):
            cell = arr[:, k * (48 + GAP): k * (48 + GAP) + 48].transpose(2, 0, 1)
            np.testing.assert_array_equal(cell, grid[pos])
            want = np.array(COLOURS[labels[pos]])
            bright = cell.reshape(3, -1)[:, cell.max(0).ravel() > 128].mean(1) / 255  # the painted bar
            np.testing.assert_allclose(bright, want, atol=0.06)
            pos += 1
    assert pos == len(grid)


def test_failing_examples_keep_their_aspect_and_colour(colour_run):
    report, out = colour_run
    html = (out / "report.html").read_text()
    rec = read_samples(out, "bars", report)
    thumbs = rec.thumbs("failing")
    shown = _uris(html, "gallery")
    assert shown, "the failing requirement shows examples"
    for uri, width, height in shown:
        assert (width, height) == (84, 56)  # 48x32 scaled so the longer side is 84
        arr = _decode(uri).transpose(2, 0, 1)
        assert any(np.array_equal(arr, t.numpy()) for t in thumbs.values())


def test_markdown_and_junit_name_the_rgb_requirements(colour_run):
    _, out = colour_run
    assert "sparse" in (out / "report.md").read_text() and "sparse" in (out / "junit.xml").read_text()


def test_grey_renders_grey_and_rgb_in_colour():
    grey = _decode(png_data_uri(torch.full((1, 4, 6), 100, dtype=torch.uint8)))
    rgb = _decode(png_data_uri(torch.tensor([255, 0, 0], dtype=torch.uint8)[:, None, None].expand(3, 4, 6).contiguous()))
    assert grey.shape == (4, 6) and (grey == 100).all()
    assert rgb.shape == (4, 6, 3) and (rgb == [255, 0, 0]).all()


def test_large_rgb_grid_stays_small(tmp_path):
    """128x128 noise (PNG cannot compress it): 32 grid cells at 64x64, the page under MAX_HTML_BYTES."""
    import evalkit

    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(
        name="large", reference=None, classifier=None,
        subjects=[{"model": "usergen:Noise", "params": {"height": 128, "width": 128}, "name": "noise"}],
        sampling={"n": 40, "batch_size": 20, "seed": 0},
        report={"formats": ["json", "html"], "failing_examples": 8},
        requirements=[{"name": "dark", "where": "mean < 0.4", "at_least": 0.5}]))
    report = evalkit.run(spec, out=tmp_path / "out")
    rec = read_samples(tmp_path / "out", "noise", report)
    assert tuple(rec.tensors["grid"].shape) == (32, 3, 64, 64)
    html = (tmp_path / "out" / "report.html").read_text()
    assert len(html.encode()) < MAX_HTML_BYTES
    assert "area-averaged from 128x128 so the longer side is at most 64 px" in html
    for _, width, height in _uris(html, "grid"):
        assert height == 64 and width == 8 * (64 + GAP) - GAP  # 1:1, never shrunk again


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium on this machine")
def test_colour_page_in_chromium(colour_run, tmp_path):
    pytest.importorskip("playwright.sync_api")
    from .browser import inspect_report

    _, out = colour_run
    shot = tmp_path / "colour.png"
    found = inspect_report(out / "report.html", screenshot=shot, full_page=True)
    assert found["console_errors"] == [] and found["network"] == []
    assert len(found["images"]) >= 5 and all(i["ok"] for i in found["images"])
    assert found["scrollWidth"] <= 1280
    # the screenshot itself holds the class colours: a saturated red, green and blue pixel each
    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    for c in range(3):
        others = [o for o in range(3) if o != c]
        assert ((px[:, c] > 200) & (px[:, others] < 60).all(1)).any(), f"no pure channel-{c} pixel on the page"
