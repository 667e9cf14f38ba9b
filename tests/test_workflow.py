"""Sequential mode, budget planning, per-class verdicts and reproducing failing samples."""

import numpy as np
import pytest
import torch
from PIL import Image

import evalkit
from evalkit.cli import main
from tests.specs import OMIT, REQUIREMENT


def _seq(make_spec, sequential: bool, filename: str = "spec.yaml"):
    return make_spec(filename, name="seq", reference=OMIT,
                     subjects=[{"model": "usergen:Blobs", "params": {"size": 8, "channels": 1}}],
                     sampling={"n": 2000, "batch_size": 100, "seed": 0, "sequential": sequential},
                     requirements=[REQUIREMENT, {"name": "bright centre", "where": "mean > 0.99", "at_least": 0.5}])


def test_sequential_stops_early_and_fixed_n_does_not(make_spec):
    seq = evalkit.run(_seq(make_spec, True, "a.yaml"), write=False)
    fixed = evalkit.run(_seq(make_spec, False, "b.yaml"), write=False)
    s, f = seq.subjects[0], fixed.subjects[0]
    assert s.stopped_early and s.n < 2000 and f.n == 2000
    assert [r.verdict for r in s.requirements] == [r.verdict for r in f.requirements] == ["PASS", "FAIL"]
    # the per-look confidence is stricter than the stated one, and says why
    assert all(r.confidence > 0.95 for r in s.requirements)
    assert "error spending" in s.requirements[0].correction


def test_plan_prints_samples_needed(make_spec, capsys):
    spec = _seq(make_spec, False)
    assert main(["plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "in range: rate >= 0.9 at confidence 0.95" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("0.95 "))
    from evalkit.judge.stats import samples_needed

    assert int(line.split()[1]) == samples_needed(0.95, 0.9, 0.95, 0.8)


PER_CLASS = """\
version: 1
name: perclass
features: pixels
subjects:
  - model: usergen:Striped
sampling: {n: 400, batch_size: 100, seed: 2, labels: [1, 2, 3, 4]}
report: {failing_examples: 3}
requirements:
  - {name: some stripes, where: "ink > 0.03", at_least: 0.9, per_class: true}
  - {name: agrees, check: label_agreement, at_least: 0.5}
"""


def test_per_class_verdicts_are_hand_checkable(write_spec, tmp_path):
    report = evalkit.run(write_spec(PER_CLASS), out=tmp_path / "r")
    req = report.subjects[0].requirements[0]
    assert [c.label for c in req.per_class] == [1, 2, 3, 4]
    assert all(c.n == 100 for c in req.per_class)
    assert "Holm over 4 classes" in req.correction
    # independent count: class k has k+1 stripe columns every 28//(k+1)+1 pixels

    for c in req.per_class:
        cols = torch.arange(28)
        n_cols = int((cols % (28 // (c.label + 1) + 1) == 0).sum())
        ink = n_cols * 28 / 784  # noise stays below 0.25, stripes are 1.0
        assert c.passed == (100 if ink > 0.03 else 0)


def test_per_class_on_unconditional_model_is_a_spec_error(write_spec, tmp_path, capsys):
    spec = write_spec(PER_CLASS.replace("usergen:Striped", "usergen:Blobs\n    params: {size: 28, channels: 1}")
                      .replace("  - {name: agrees, check: label_agreement, at_least: 0.5}\n", "")
                      .replace("labels: [1, 2, 3, 4]", "labels: uniform"))
    code = main(["run", str(spec), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    # found by validation (the subject's class declares num_classes = None): nothing ran
    assert code == 2 and "per_class needs asked labels" in err and "unconditional" in err
    assert not (tmp_path / "o").exists()
    assert main(["validate", str(spec)]) == 2


def test_reproduce_regenerates_failing_samples_bit_identically(write_spec, tmp_path):
    spec = write_spec(PER_CLASS)
    report = evalkit.run(spec, out=tmp_path / "r")
    failing = report.subjects[0].requirements[1].failing
    assert failing, "the striped model should disagree with the classifier sometimes"
    idx = [f.index for f in failing]
    paths = evalkit.reproduce.reproduce(tmp_path / "r", "usergen:Striped", idx, out=tmp_path / "png", spec=spec)
    # regenerate independently: block b of size 50 seeded by (seed, b), labels cycle [1, 2, 3, 4]
    from evalkit.sample.sources import block_seed
    from tests.plugins.usergen import Striped

    for i, p in zip(idx, paths):
        b = i // 50
        g = torch.Generator().manual_seed(block_seed(2, b))
        labels = torch.tensor([1, 2, 3, 4])[torch.arange(b * 50, b * 50 + 50) % 4]
        img = Striped().sample(50, labels=labels, generator=g)[i - b * 50, 0]
        expected = (img.clamp(0, 1) * 255).round().byte().numpy()
        assert np.array_equal(np.asarray(Image.open(p)), expected)
        assert f"class{int(labels[i - b * 50])}" in p.name


def test_reproduce_cli_errors(tmp_path, write_spec, capsys):
    spec = write_spec(PER_CLASS)
    evalkit.run(spec, out=tmp_path / "r")
    assert main(["reproduce", str(tmp_path / "r"), "nope", "1"]) == 3
    assert "no subject 'nope'" in capsys.readouterr().err
    assert main(["reproduce", str(tmp_path / "r"), "usergen:Striped", "1"]) == 2  # the report's spec imports user code
    assert "--trust-report" in capsys.readouterr().err
    assert main(["reproduce", str(tmp_path / "r"), "usergen:Striped", "9999", "--spec", str(spec)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_cas_of_real_images_is_near_the_real_baseline(write_spec):
    from evalkit.data import fashion

    try:
        fashion.locate("train")
    except Exception:
        pytest.skip("Fashion-MNIST train split not installed")
    spec = write_spec("""\
        version: 1
        name: cas
        reference: {dataset: fashion-mnist, split: test, range: [0, 1000]}
        training: {dataset: fashion-mnist, split: train}
        features: pixels
        classifier: null
        subjects: [{model: dataset, params: {split: train, range: [0, 30000]}}]
        sampling: {n: 1000, batch_size: 500}
        requirements: [{metric: cas, at_least: 0.5, args: {epochs: 6}}]
    """)
    rep = evalkit.run(spec, write=False)
    assert rep.subjects[0].status == "ok", rep.subjects[0].error  # first, so a broken run says why
    m = rep.subjects[0].metrics[0]
    # replayed real images are real data: their CAS matches the real baseline closely
    assert m.value > 0.55 and abs(m.value - m.extra["real_accuracy"]) < 0.08
    assert m.lower <= m.value <= m.upper


def test_a_closed_pipe_ends_the_cli_quietly():
    # `evalkit plan spec.yaml | head -1`: the reader leaves early; no traceback, exit 0
    import subprocess
    import sys
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "specs" / "fashion-zoo.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "plan", str(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the CLI prints its first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
