"""RGB audits through the CLI: user generators of two sizes against an RGB PNG folder and an
RGB .npz, pixel features, every image check and measurement, per_class, markdown + html +
junit, --baseline, compare and render."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from evalkit import registry
from evalkit.cli import main
from tests.specs import spec_text

FORMATS = ["json", "markdown", "junit", "html"]


def _images(height: int, width: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from usergen import ColourBars

    labels = torch.arange(n) % 4
    x = ColourBars(height, width).sample(n, labels=labels, generator=torch.Generator().manual_seed(seed))
    return x.numpy(), labels.numpy()


def _folder(path, images: np.ndarray) -> None:
    path.mkdir()
    for i, img in enumerate(images):
        Image.fromarray((img.transpose(1, 2, 0) * 255).round().astype(np.uint8), "RGB").save(path / f"{i:03d}.png")


def _every_image_requirement(classes: bool) -> list[dict]:
    """Every registered check and measurement that reads images (and, conditional, the classifier)."""
    registry.load_plugins()
    skip = set() if classes else {"label_agreement", "confident", "not_memorized"}
    reqs = [{"name": f"check {e.name}", "check": e.name, "at_least": 0.05} for e in registry.checks.declared()
            if e.decl.module == "evalkit._builtins" and e.name not in skip]
    names = ["mean", "contrast", "ink", "components", "symmetry", "sharpness"]
    if classes:
        names += ["confidence", "margin", "entropy", "predicted", "label", "asked_prob", "nn_distance", "nn_ratio"]
    where = " and ".join(f"{m} > -1" for m in names)
    reqs.append({"name": "every measurement", "where": where, "at_least": 0.5, "per_class": classes})
    reqs.append({"name": "bar colour", "where": "0.05 < ink < 0.6 and components == 1 and sharpness > 0",
                 "at_least": 0.5, "per_class": classes})
    return reqs


def test_conditional_rgb_audit_baseline_compare_render(tmp_path, capsys):
    real, _ = _images(32, 48, 80, seed=0)
    train, train_labels = _images(32, 48, 60, seed=1)
    _folder(tmp_path / "real", real)
    np.savez(tmp_path / "train.npz", images=train, labels=train_labels)
    reqs = _every_image_requirement(classes=True) + [
        {"name": "right class", "check": "label_agreement", "at_least": 0.6, "per_class": True},
        {"metric": "fid", "at_most": 1e6}, {"metric": "precision", "at_least": 0.01},
        {"metric": "class_tv", "at_most": 0.5}, {"metric": "memorized", "at_most": 0.9}]
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(
        name="rgb-cond", reference={"path": "real"}, training={"path": "train.npz"},
        features="pixels", classifier="usergen:bar_classifier",
        subjects=[{"model": "usergen:ColourBars", "params": {"height": 32, "width": 48}, "name": "bars"}],
        sampling={"n": 48, "batch_size": 24, "seed": 3, "labels": "stratified"},
        report={"formats": FORMATS, "failing_examples": 4}, requirements=reqs))
    assert main(["validate", str(spec)]) == 0
    assert main(["run", str(spec), "--out", str(tmp_path / "a")]) == 0
    assert main(["run", str(spec), "--out", str(tmp_path / "b"), "--baseline", str(tmp_path / "a" / "report.json")]) == 0
    data = json.loads((tmp_path / "b" / "report.json").read_text())
    subject = data["subjects"][0]
    verdicts = {r["name"]: r["verdict"] for r in subject["requirements"]}
    assert verdicts["right class"] == "PASS" and verdicts["bar colour"] == "PASS", verdicts
    assert subject["regressions"] == []
    for f in ("report.md", "junit.xml", "report.html"):
        assert (tmp_path / "b" / f).stat().st_size > 1000
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) == 0
    assert "no significant difference" in capsys.readouterr().out
    assert main(["render", str(tmp_path / "b"), "--format", "markdown", "--format", "html",
                 "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.html").read_text().count("data:image/png") >= 4


def test_unconditional_rgb_audit_of_a_generator_and_an_npz(tmp_path):
    real, _ = _images(48, 64, 60, seed=4)
    saved, _ = _images(48, 64, 40, seed=5)
    np.savez(tmp_path / "real.npz", images=real)
    np.savez(tmp_path / "saved.npz", images=(saved * 255).round().astype(np.uint8))  # uint8, channels first
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(
        name="rgb-uncond", reference={"path": "real.npz"}, features="pixels", classifier=None,
        subjects=[{"model": "usergen:Noise", "params": {"height": 48, "width": 64}, "name": "noise"},
                  {"path": "saved.npz", "name": "saved"}],
        sampling={"n": 40, "batch_size": 20, "seed": 0},
        report={"formats": FORMATS}, requirements=_every_image_requirement(classes=False)
        + [{"metric": "fid", "at_most": 1e6}, {"metric": "vendi", "at_least": 1.0}]))
    assert main(["run", str(spec), "--out", str(tmp_path / "a")]) in (0, 1)
    data = json.loads((tmp_path / "a" / "report.json").read_text())
    by = {s["name"]: {r["name"]: r for r in s["requirements"]} for s in data["subjects"]}
    assert all(s["status"] == "ok" for s in data["subjects"])
    # noise: its luminance is everywhere near 0.5, so no `components == 1` bar; the saved bars have one
    assert by["saved"]["bar colour"]["verdict"] == "PASS" and by["noise"]["bar colour"]["verdict"] == "FAIL"
    fid = {s["name"]: next(m["value"] for m in s["metrics"] if m["name"] == "fid") for s in data["subjects"]}
    assert fid["saved"] < fid["noise"]
