"""evalkit.Evaluator: a spec judged on a model in training, every K steps, and in streaming form.

Real parts only: a tiny class-conditional generator (tests/plugins/trainable.py) trained a
few Adam steps on Fashion-MNIST test images read here by an IDX reader of the test's own;
numbers checked against `evalkit run` through the CLI, against a Clopper-Pearson bound from
scipy's beta quantile and against FID written in NumPy from its closed form.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch

import evalkit
from evalkit.cli import main
from usergen import Blobs
from trainable import CountingPixels, Ninefold, TinyConditional, counting_pixels, tiny_conditional

FASHION = Path(__file__).resolve().parents[1] / "data" / "fashion-mnist"
REF = [0, 300]  # the reference: Fashion-MNIST test images 0..300
SAMPLING = {"n": 100, "batch_size": 50, "seed": 0}
IN_RANGE = {"name": "in range", "check": "in_range", "at_least": 0.9}
FID = {"name": "fid", "metric": "fid", "at_most": 45}  # under half the FID of the nearest degenerate set (the feature-space check)
PLACEHOLDER = {"name": "tiny", "model": "evalkit:in_training"}


def fashion(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST test images [start, stop) as floats in [0, 1], and their labels (IDX: 16- and 8-byte headers)."""
    raw = np.frombuffer(gzip.open(FASHION / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    lab = np.frombuffer(gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    x = raw.reshape(-1, 1, 28, 28)[start:stop].astype(np.float32) / 255.0
    return torch.from_numpy(x), torch.from_numpy(lab[start:stop].astype(np.int64))


def spec_of(make_spec, **parts) -> Path:
    base = dict(reference={"dataset": "fashion-mnist", "split": "test", "range": REF}, subjects=[PLACEHOLDER],
                sampling=SAMPLING, requirements=[IN_RANGE, FID])
    return make_spec(**{**base, **parts})


def numpy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^1/2), the trace through the symmetric PSD C1^1/2 C2 C1^1/2."""
    m1, m2 = real.mean(0), fake.mean(0)
    c1, c2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    w, v = np.linalg.eigh(c1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.clip(np.linalg.eigvalsh(root @ c2 @ root), 0, None)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(lam).sum())


def test_a_training_loop_evaluated_every_k_steps(make_spec):
    x, y = fashion(1000, 1640)
    ev = evalkit.Evaluator(spec_of(make_spec))
    model = TinyConditional()
    model.train()
    model.frozen.eval()  # the loop keeps this part frozen: evaluating must not unfreeze it
    opt = torch.optim.Adam(model.parameters(), lr=0.2)
    results = []
    for step in range(31):
        if step % 10 == 0:
            results.append(ev.evaluate(model, step=step))
            assert model.training and not model.frozen.training  # every flag as the loop had it
        b = slice(step * 64 % 640, step * 64 % 640 + 64)
        loss = ((model.mean(y[b]) - x[b]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert [r.step for r in results] == [0, 10, 20, 30]
    assert set(model.seen) == {(False, False)}  # every sample() ran in eval mode, without grad
    fids = [r.metric("fid") for r in results]
    assert fids[-1].value < 0.5 * fids[0].value  # the model got better, and the evaluations saw it
    # at_most 60: the untrained model's lower bound is above it, the trained one's upper bound below
    assert [r.requirement("fid").verdict for r in (results[0], results[-1])] == ["FAIL", "PASS"]
    assert fids[0].lower > 45 > fids[-1].upper
    assert results[-1].requirement("in range").passed == 100  # a sigmoid never leaves [0, 1]


def test_the_numbers_equal_evalkit_run_through_the_cli(make_spec, tmp_path):
    ink = {"name": "some ink", "where": "ink > 0.05", "at_least": 0.5}
    spec = spec_of(make_spec, subjects=[{"model": "trainable:tiny_conditional", "params": {"seed": 3}}],
                   requirements=[IN_RANGE, ink, FID, {"metric": "precision", "at_least": 0.1}])
    assert main(["run", str(spec), "--out", str(tmp_path / "cli")]) == 1  # the untrained model fails FID
    cli = json.loads((tmp_path / "cli" / "report.json").read_text())["subjects"][0]
    got = evalkit.Evaluator(spec).evaluate(tiny_conditional).subjects[0]  # the same factory, the same params
    assert (got.name, got.n, got.weights_sha256) == (cli["name"], cli["n"], cli["weights_sha256"])
    keys = ("name", "verdict", "passed", "n", "value", "lower", "upper", "confidence")
    assert [{k: r[k] for k in keys} for r in cli["requirements"]] == [r.model_dump(include=set(keys)) for r in got.requirements]
    keys = ("name", "value", "lower", "upper", "confidence", "n", "n_reference")
    assert [{k: m[k] for k in keys} for m in cli["metrics"]] == [m.model_dump(include=set(keys)) for m in got.metrics]
    # and a generator object built by the loop gives them too (JSON floats read back bit for bit)
    obj = evalkit.Evaluator(spec_of(make_spec, filename="obj.yaml")).evaluate(TinyConditional(seed=3))
    assert obj.metric("fid").value == cli["metrics"][0]["value"]


def test_reference_features_and_the_training_index_are_built_once_and_reused(make_spec):
    memorized = {"name": "no copies", "check": "not_memorized", "at_least": 0.5}
    spec = spec_of(make_spec, features="trainable:counting_pixels", requirements=[IN_RANGE, memorized, FID],
                   training={"dataset": "fashion-mnist", "split": "test", "range": [300, 600]})
    ev = evalkit.Evaluator(spec, cache=False)  # no disk cache: every reference row would pass through the extractor
    model = TinyConditional()
    rows, shape = [], (1, 28, 28)
    for _ in range(3):
        before = counting_pixels.rows
        ev.evaluate(model)
        rows.append(counting_pixels.rows - before)
        if len(rows) == 1:
            real, index = ev.references.real_features(shape), ev.references.memorization(shape)
    # the samples alone after the first call (padded to the extractor's fixed rows, as every batch is)
    assert rows[1] == rows[2] >= SAMPLING["n"]
    assert rows[0] - rows[1] >= REF[1] + 300  # the reference and the training images went through once, first
    assert ev.references.real_features(shape) is real and ev.references.memorization(shape) is index
    assert isinstance(counting_pixels, CountingPixels)


def test_the_streaming_form_equals_the_evaluate_form_on_the_same_images(make_spec):
    ink = {"name": "inky", "where": "ink > 0.997", "at_least": 0.5}  # about half fail: failing examples kept
    ev = evalkit.Evaluator(spec_of(make_spec, requirements=[IN_RANGE, ink, FID, {"metric": "recall", "at_least": 0.1}]))
    model = TinyConditional()
    model.record = True
    direct = ev.evaluate(model).subjects[0]
    for images, labels in model.drawn:  # the blocks sample() returned, in order: sample indices 0..n-1
        ev.update(images, labels)
    streamed = ev.compute(step=7)
    assert streamed.step == 7
    [sub] = streamed.subjects
    assert sub.n == direct.n == SAMPLING["n"]
    assert [r.model_dump() for r in sub.requirements] == [r.model_dump() for r in direct.requirements]
    assert [m.model_dump() for m in sub.metrics] == [m.model_dump() for m in direct.metrics]
    assert sub.requirements[1].failing  # the comparison covered failing examples too
    ev.reset()
    with pytest.raises(evalkit.UsageError, match="no images were added"):
        ev.compute()


def test_a_check_rate_and_fid_equal_independent_computations(make_spec):
    ev = evalkit.Evaluator(spec_of(make_spec, sampling={"n": 120, "batch_size": 60, "seed": 0}))
    images, labels = fashion(5000, 5120)
    images = images.clone()
    images[::4, 0, 0, 0] = 1.5  # every 4th image leaves [0, 1]: 30 of 120 fail in_range
    ev.update(images[:70], labels[:70])
    ev.update(images[70:], labels[70:])
    result = ev.compute()
    rate = result.requirement("in range")
    assert (rate.passed, rate.n, rate.value) == (90, 120, 0.75)
    # one-sided Clopper-Pearson at 0.95: the 0.05 quantile of Beta(k, n - k + 1)
    assert rate.lower == pytest.approx(scipy.stats.beta.ppf(0.05, 90, 31), rel=1e-9)
    real, _ = fashion(*REF)
    expected = numpy_fid(real.flatten(1).double().numpy(), images.flatten(1).double().numpy())
    # rel 1e-5: with N <= d the covariances are rank-deficient, and the square roots of their
    # near-zero eigenvalues turn rounding at 1e-16 into differences near 1e-6 between two exact forms
    assert result.metric("fid").value == pytest.approx(expected, rel=1e-5)


def test_out_writes_the_report_folder_and_a_used_one_is_refused_before_sampling(make_spec, tmp_path):
    ev = evalkit.Evaluator(spec_of(make_spec))
    model = TinyConditional()
    result = ev.evaluate(model, step=5, out=tmp_path / "r")
    assert result.written_to == tmp_path / "r"
    saved = evalkit.read_report(tmp_path / "r")
    assert saved.subjects[0].metrics[0].value == result.metric("fid").value
    calls = len(model.seen)
    with pytest.raises(evalkit.SpecError, match="out"):
        ev.evaluate(model, out=tmp_path / "r")
    assert len(model.seen) == calls  # refused before anything sampled


def test_a_model_returning_the_wrong_shape_is_a_subject_error_and_keeps_its_mode(make_spec):
    ev = evalkit.Evaluator(spec_of(make_spec))
    model = Ninefold().train()
    with pytest.raises(evalkit.SubjectError, match=r"returned shape \(50, 1, 9, 9\), expected \(50, 1, 28, 28\)"):
        ev.evaluate(model)
    assert model.training and model.drop.training


class Interrupted(TinyConditional):
    def sample(self, n, *, labels, generator):
        raise KeyboardInterrupt


def test_ctrl_c_while_sampling_stops_the_loop_too(make_spec):
    ev = evalkit.Evaluator(spec_of(make_spec))
    model = Interrupted().train()
    with pytest.raises(KeyboardInterrupt):
        ev.evaluate(model)
    assert model.training


def test_a_spec_with_an_image_folder_subject_only_is_refused(make_spec, tmp_path):
    np.savez(tmp_path / "samples.npz", images=np.zeros((100, 1, 28, 28), np.float32))
    spec = spec_of(make_spec, subjects=[{"path": "samples.npz"}], requirements=[IN_RANGE])
    with pytest.raises(evalkit.SpecError, match=r"needs a subject for it: `model: evalkit:in_training`.*image folder"):
        evalkit.Evaluator(spec)


@pytest.mark.parametrize("model,error,words", [
    (torch.nn.Linear(2, 2), evalkit.UsageError, "Linear is not a generator"),
    (42, evalkit.UsageError, "int is not a generator"),
    (Ninefold().to("meta"), evalkit.UsageError, "tensors are on meta, but this Evaluator samples on cpu"),
])
def test_what_is_not_a_generator_here_is_refused(make_spec, model, error, words):
    ev = evalkit.Evaluator(spec_of(make_spec), device="cpu")
    with pytest.raises(error, match=words):
        ev.evaluate(model)


def test_params_need_a_factory_and_reach_it(make_spec):
    spec = spec_of(make_spec, subjects=[dict(PLACEHOLDER, params={"seed": 4})], requirements=[IN_RANGE])
    ev = evalkit.Evaluator(spec)
    with pytest.raises(evalkit.SpecError, match="pass a factory"):
        ev.evaluate(TinyConditional())
    built: list[TinyConditional] = []

    def factory(seed):
        built.append(TinyConditional(seed))
        return built[-1]

    assert ev.evaluate(factory).passed
    assert built[0].logits[0, 0] == TinyConditional(4).logits[0, 0]  # the spec's params built it


def test_streaming_input_is_checked(make_spec):
    ev = evalkit.Evaluator(spec_of(make_spec, requirements=[IN_RANGE]))
    with pytest.raises(evalkit.UsageError, match=r"float tensor \(B, C, H, W\)"):
        ev.update(torch.zeros(4, 28, 28))
    with pytest.raises(evalkit.UsageError, match=r"integer tensor of shape \(4,\)"):
        ev.update(torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    ev.update(torch.zeros(4, 1, 28, 28))
    with pytest.raises(evalkit.UsageError, match="one shape"):
        ev.update(torch.zeros(4, 1, 27, 28))
    with pytest.raises(evalkit.UsageError, match="every batch or with none"):
        ev.update(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    assert ev.compute().requirement("in range").n == 4


def test_an_unconditional_model_and_what_needs_labels(make_spec):
    ev = evalkit.Evaluator(spec_of(make_spec))
    assert ev.evaluate(Blobs(size=28, channels=1)).requirement("in range").passed == SAMPLING["n"]
    agreement = {"name": "right class", "check": "label_agreement", "at_least": 0.5}
    ev = evalkit.Evaluator(spec_of(make_spec, filename="labels.yaml", classifier="fashion-classifier",
                                   requirements=[agreement]))
    with pytest.raises(evalkit.SubjectError, match="'right class' needs asked labels"):
        ev.evaluate(Blobs(size=28, channels=1))
    with pytest.raises(evalkit.SpecError, match=r"needs asked labels.*update\(images, labels=...\)"):
        ev.update(torch.zeros(4, 1, 28, 28))
    images, labels = fashion(5000, 5040)
    ev.update(images, labels)  # real images with their own classes: the classifier mostly agrees
    assert ev.compute().requirement("right class").passed > 30
