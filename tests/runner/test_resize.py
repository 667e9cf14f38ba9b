"""Images of another size than a network's input: refused unless the spec's `resize:` says how, then
resized as declared, recorded in the report, and never compared with results of another resizing."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from evalkit.cli import main
from tests.specs import OMIT, spec_text

N = 160
REF = {"dataset": "fashion-mnist", "split": "test", "range": [0, 300]}


def _rgb_npz(tmp_path, size=(32, 40)):
    """RGB samples of another size than the classifier's 1x28x28: Fashion-MNIST test images 6000.. scaled up
    and tinted, so their features are those of clothes."""
    import evalkit.registry as registry

    registry.load_plugins()
    data = registry.datasets.get("fashion-mnist").obj(split="test", range=(6000, 6000 + N))
    grey = data.slice(0, N).numpy()[:, 0]
    imgs = np.stack([np.asarray(Image.fromarray(g, mode="F").resize((size[1], size[0]), Image.BILINEAR)) for g in grey])
    rgb = np.clip(np.stack([imgs, imgs * 0.8, imgs * 0.6], 1), 0, 1).astype(np.float32)
    np.savez(tmp_path / "rgb.npz", images=rgb, layout="NCHW")
    return rgb


def _spec(tmp_path, name="spec.yaml", **more):
    text = spec_text(name="resized", reference=REF, features="fashion-classifier", classifier=None,
                     subjects=[{"path": "rgb.npz", "name": "tinted"}], sampling={"n": N, "batch_size": 40, "seed": 0},
                     requirements=[{"name": "fid", "metric": "fid", "at_most": 1000}], **more)
    p = tmp_path / name
    p.write_text(text)
    return p


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], capture_output=True, text=True)


def test_another_size_is_refused_at_validate_naming_both_shapes_and_the_fix(tmp_path):
    _rgb_npz(tmp_path)
    r = _cli("validate", _spec(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "3x32x40" in r.stderr and "1x28x28" in r.stderr and "resize: bicubic" in r.stderr
    assert "Traceback" not in r.stderr


def _fid_by_hand(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_bicubic_resize_gives_the_fid_of_pil_resized_luminance(tmp_path):
    rgb = _rgb_npz(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(_spec(tmp_path, resize="bicubic")), "--out", str(out)])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    space = report["reference"]["feature_space"]
    assert space["name"] == "fashion-classifier" and space["resize"] == "bicubic" and space["dim"] == 128
    assert "resized to its input by bicubic" in (out / "report.md").read_text()

    # independently: BT.601 luminance, PIL's bicubic to 28x28, the bundled network's penultimate layer
    import evalkit.registry as registry

    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    small = np.stack([np.asarray(Image.fromarray(g, mode="F").resize((28, 28), Image.BICUBIC)) for g in luma]).clip(0, 1)
    net = registry.features.get("fashion-classifier").obj((1, 28, 28), torch.device("cpu"))
    ref = registry.datasets.get("fashion-mnist").obj(split="test", range=(0, 300)).slice(0, 300)
    with torch.no_grad():
        fake = torch.cat([net.features(torch.from_numpy(small[i:i + 16, None]).float()) for i in range(0, N, 16)])
        real = torch.cat([net.features(ref[i:i + 16]) for i in range(0, 300, 16)])
    want = _fid_by_hand(real.double().numpy(), fake.double().numpy())
    got = report["subjects"][0]["requirements"][0]["value"]
    assert got == pytest.approx(want, rel=2e-3)


def test_a_baseline_resized_another_way_is_refused_and_compare_names_the_difference(tmp_path):
    _rgb_npz(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(_spec(tmp_path, "a.yaml", resize="bicubic")), "--out", str(a)]) == 0
    spec_b = _spec(tmp_path, "b.yaml", resize="bilinear")
    r = _cli("run", spec_b, "--out", tmp_path / "c", "--baseline", a)
    assert r.returncode == 2, r.stderr
    assert "resize differs" in r.stderr and "'bicubic'" in r.stderr and "'bilinear'" in r.stderr
    assert main(["run", str(spec_b), "--out", str(b)]) == 0
    r = _cli("compare", a, b, "--out", tmp_path / "cmp")
    assert r.returncode == 2, r.stderr + r.stdout
    assert "different feature spaces" in r.stderr and "resize: 'bicubic' and 'bilinear'" in r.stderr


def test_same_shapes_keep_the_network_as_it_is(tmp_path, make_spec):
    out = tmp_path / "o"
    spec = make_spec(features="fashion-classifier", requirements=[{"name": "fid", "metric": "fid", "at_most": 1e6}],
                     sampling={"n": 40, "batch_size": 20, "seed": 0}, training=OMIT)
    assert main(["run", str(spec), "--out", str(out)]) == 0
    space = json.loads((out / "report.json").read_text())["reference"]["feature_space"]
    assert space["resize"] is None and space["preprocessing"] is None and space["name"] == "fashion-classifier"


def test_a_training_set_of_another_shape_is_refused_at_validate(tmp_path):
    _rgb_npz(tmp_path)
    text = spec_text(name="train", reference=REF, features="fashion-classifier", classifier=None,
                     training={"path": "rgb.npz"}, subjects=[{"model": "dataset", "params": {"range": [5000, 5100]}}],
                     sampling={"n": 40, "batch_size": 20, "seed": 0},
                     requirements=[{"name": "new", "check": "not_memorized", "at_least": 0.5}])
    (tmp_path / "t.yaml").write_text(text)
    r = _cli("validate", tmp_path / "t.yaml")
    assert r.returncode == 2 and "training images are 3x32x40" in r.stderr and "resize: bicubic" in r.stderr, r.stderr


def test_feature_weights_for_a_space_that_reads_none_is_refused(tmp_path, make_spec):
    spec = make_spec(feature_weights="pt_inception.pth")
    r = _cli("validate", spec)
    assert r.returncode == 2 and "feature_weights: 'pt_inception.pth' would be ignored" in r.stderr
    assert "inception-fid" in r.stderr, r.stderr


def test_rejudge_refuses_a_new_resize_and_reads_an_old_journal_as_refuse(make_spec):
    from evalkit.runner.rejudge import RejudgeRefused, check_sampled_fields
    from evalkit.spec.load import load_spec

    spec = load_spec(make_spec(resize="bicubic"))
    old = {k: v for k, v in load_spec(make_spec("b.yaml")).canonical().items() if k != "resize"}  # journaled before 1.4
    check_sampled_fields(old, load_spec(make_spec("c.yaml")))  # a missing `resize` was the default
    with pytest.raises(RejudgeRefused, match="resize"):
        check_sampled_fields(old, spec)


def test_a_resized_reference_is_recorded_as_resized(tmp_path):
    _rgb_npz(tmp_path)
    text = spec_text(name="refsize", reference={"path": "rgb.npz"}, features="fashion-classifier", classifier=None,
                     subjects=[{"model": "dataset", "params": {"range": [5000, 5100]}}], resize="bilinear",
                     sampling={"n": 40, "batch_size": 20, "seed": 0},
                     requirements=[{"name": "fid", "metric": "fid", "at_most": 1e6}], features_check=False)
    (tmp_path / "r.yaml").write_text(text)
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "o")]) in (0, 1)
    space = json.loads((tmp_path / "o" / "report.json").read_text())["reference"]["feature_space"]
    assert space["resize"] == "bilinear" and space["name"] == "fashion-classifier"
