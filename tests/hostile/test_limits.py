"""Bounds on everything a spec or a data file can size: refused with file:line:col, never a raw allocator error.

Each case goes through ``evalkit validate`` or ``evalkit run`` in a sandbox and asserts
the exit code, the location in the message, no traceback, and that nothing outside
the output folder and the cache changed.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest

from tests.hostile.trust_support import Sandbox, assert_clean
from tests.specs import REFERENCE, spec_text

LOC = re.compile(r"spec\.yaml:\d+:\d+: ")


def _spec(n=40, seed=1, labels="uniform", where="ink < 1", at_most=1000, **parts) -> str:
    """A spec that validates as it stands; each case changes one sized part."""
    return spec_text(name="limits", sampling={"n": n, "batch_size": 20, "seed": seed, "labels": labels},
                     requirements=[{"name": "r", "where": where, "at_least": 0.5}, {"metric": "fid", "at_most": at_most}],
                     **parts)


@pytest.mark.parametrize("field,kw,needle", [
    ("n", dict(n=10**12), "sampling.n"),
    ("seed", dict(seed=2**64 + 1), "sampling.seed"),
    ("seed-2^63", dict(seed=2**63), "sampling.seed"),
    ("labels", dict(labels=[0, 1000000000]), "class 1000000000"),
    ("nan-bound", dict(at_most=float("nan")), "not a finite number"),
    ("inf-bound", dict(at_most=float("-inf")), "not a finite number"),
    ("unicode-digit", dict(where="ink < \u0661"), "unexpected character"),
    ("long-chain", dict(where="ink < " + "+".join(["1"] * 990)), "nested too deeply"),
    ("deep-parens", dict(where="(" * 400 + "ink" + ")" * 400 + " < 1"), "nested too deeply"),
])
def test_spec_bounds_are_refused_at_validate_time(tmp_path, field, kw, needle):
    box = Sandbox(tmp_path)
    box.write("spec.yaml", _spec(**kw))
    before = box.snapshot()
    res = box.evalkit("validate", "spec.yaml")
    assert_clean(res, 2)
    assert needle in res.err and LOC.search(res.err), res.err
    assert box.changed_outside(before) == []


def test_the_ok_spec_validates(tmp_path):
    box = Sandbox(tmp_path)
    box.write("spec.yaml", _spec())
    assert_clean(box.evalkit("validate", "spec.yaml"), 0)


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_yaml_nesting_is_refused_before_parsing(tmp_path, opener, closer):
    box = Sandbox(tmp_path)
    box.write("spec.yaml", "version: 1\nname: deep\nsubjects: " + opener * 500 + closer * 500 + "\n")
    res = box.evalkit("validate", "spec.yaml")
    assert_clean(res, 2)
    assert "nesting deeper than" in res.err and "spec.yaml:3:" in res.err


def test_n_override_is_bounded(tmp_path):
    box = Sandbox(tmp_path)
    box.write("spec.yaml", _spec())
    res = box.evalkit("run", "spec.yaml", "--n", str(10**12), "--out", "out", "--quiet")
    assert_clean(res, 2)
    assert "--n" in res.err


def test_zero_width_features_are_refused_not_scored(tmp_path):
    """A (N, 0) extractor once scored FID 0 and PASS."""
    box = Sandbox(tmp_path)
    (box.work / "zerofeat.py").write_text("def features(images):\n    return images.flatten(1)[:, :0]\n")
    box.write("spec.yaml", _spec(features="zerofeat:features"))
    res = box.evalkit("run", "spec.yaml", "--out", "out", "--quiet")
    assert_clean(res, 3)
    assert "0-dimensional features" in res.err
    report = json.loads((box.work / "out" / "report.json").read_text())
    assert not any(r["verdict"] == "PASS" for s in report["subjects"] for r in s["requirements"] if r["kind"] == "metric")


def _npz_bomb(path):
    """An .npz whose array header claims 8 TB (the file itself is a few hundred bytes)."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 1000, 1000)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("images.npy", head.getvalue())


def test_npz_header_is_checked_before_loading(tmp_path):
    box = Sandbox(tmp_path)
    _npz_bomb(box.work / "bomb.npz")
    box.write("spec.yaml", _spec(subjects=[{"path": "bomb.npz"}]))
    res = box.evalkit("run", "spec.yaml", "--out", "out", "--quiet")
    assert_clean(res, 3)
    assert "bomb.npz" in res.err and "refusing to load" in res.err


def test_image_header_is_checked_before_decoding(tmp_path):
    """A PNG that claims 30000x30000 pixels is refused from its header."""
    from PIL import Image

    box = Sandbox(tmp_path)
    folder = box.work / "imgs"
    folder.mkdir()
    Image.new("L", (28, 28)).save(folder / "a.png")
    Image.MAX_IMAGE_PIXELS, saved = None, Image.MAX_IMAGE_PIXELS
    try:
        Image.new("1", (30000, 30000)).save(folder / "b.png")  # 1-bit, compresses to a small file
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    box.write("spec.yaml", _spec(subjects=[{"path": "imgs"}]))
    res = box.evalkit("run", "spec.yaml", "--out", "out", "--quiet", "--n", "2")
    assert_clean(res, 3)
    assert "b.png" in res.err


def test_checkpoint_metadata_sizes_are_bounded(tmp_path):
    """A VAE checkpoint whose metadata claims a million classes is refused before allocating."""
    from safetensors.torch import save

    from evalkit.zoo.weights import read_weights

    box = Sandbox(tmp_path)
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    tensors, info = read_weights(root / "models" / "fashion-vae.safetensors")
    info["kwargs"] = {**info.get("kwargs", {}), "num_classes": 10**6}
    (box.work / "vae.safetensors").write_bytes(save({k: v.contiguous() for k, v in tensors.items()},
                                                    metadata={"evalkit": json.dumps(info)}))
    spec = _spec(subjects=[{"model": "fashion-vae", "checkpoint": "vae.safetensors"}])
    box.write("spec.yaml", spec)
    res = box.evalkit("run", "spec.yaml", "--out", "out", "--quiet")
    assert_clean(res, 3)
    assert "vae.safetensors" in res.err and "metadata" in res.err


@pytest.mark.parametrize("edit,needle", [
    (dict(labels=[0, 99]), "class 99 is asked"),
    (dict(subjects=[{"model": "dataset", "params": {"range": [5000, 10001]}}]), "runs past the 10000 images"),
    (dict(reference=dict(REFERENCE, range=[0, 70000])), "runs past the 10000 images"),
])
def test_declared_sizes_are_checked_at_validate_time(tmp_path, edit, needle):
    """Classes beyond a model's and ranges beyond a dataset's are refused before any subject samples."""
    box = Sandbox(tmp_path)
    box.write("spec.yaml", _spec(**edit))
    res = box.evalkit("validate", "spec.yaml")
    assert_clean(res, 2)
    assert needle in res.err and LOC.search(res.err), res.err


def test_a_generator_declaring_huge_sizes_breaks_only_itself(tmp_path):
    """num_classes = 10**12 or a 10**6 x 10**6 image_shape: a broken subject (exit 3), not an allocator error."""
    box = Sandbox(tmp_path)
    (box.work / "hugegen.py").write_text(
        "import torch\n\n"
        "class Huge:\n"
        "    def __init__(self, device=None, checkpoint=None, classes=10, side=28):\n"
        "        self.image_shape, self.num_classes = (1, side, side), classes\n"
        "    def sample(self, n, *, labels=None, generator=None):\n"
        "        return torch.zeros(n, *self.image_shape)\n")
    spec = _spec(subjects=[{"model": "hugegen:Huge", "name": "classes", "params": {"classes": 1000000000000}},
                           {"model": "hugegen:Huge", "name": "side", "params": {"side": 1000000}}])
    box.write("spec.yaml", spec)
    res = box.evalkit("run", "spec.yaml", "--out", "out", "--quiet")
    assert_clean(res, 3)
    report = json.loads((box.work / "out" / "report.json").read_text())
    assert [s["status"] for s in report["subjects"]] == ["broken", "broken"]
    assert all("beyond evalkit's bounds" in s["error"] for s in report["subjects"])
