"""A user's own classifier behind label checks (``classifier:``), through real spec runs.

The classifier is hand-made so its logits are known in closed form: class = the
brightest quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right), logits =
SCALE x the quadrant means. The generator draws, for asked class c, a quadrant c at
BRIGHT; every EVERY-th sample of each class (the 1st, 4th, ...) is instead a dimmer
quadrant (c + 1) % 4, which the classifier calls class c + 1. So per class c with n_c
samples, ceil(n_c / EVERY) disagree, and every softmax value is a closed form.
"""

from __future__ import annotations

import math
import re
import textwrap
import uuid
from pathlib import Path

import pytest
import torch

import evalkit
from evalkit._errors import SpecError
from evalkit.observe.features import class_count_problem, make_classifier, probe_classifier
from evalkit.runner.references import References
from evalkit.spec.load import load_spec

# TorchScript is deprecated upstream, but it is what users hold: the tests save it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

SCALE, BRIGHT, DIM, EVERY = 4.0, 0.9, 0.5, 3
COUNTS = {0: 12, 1: 9, 2: 10, 3: 9}  # asked per class: 40 samples

USER_MODULE = '''
import torch
from torch import nn


def quadrant_means(x):
    g = x.mean(1)
    h, w = g.shape[1] // 2, g.shape[2] // 2
    return torch.stack([g[:, :h, :w].mean((1, 2)), g[:, :h, w:].mean((1, 2)),
                        g[:, h:, :w].mean((1, 2)), g[:, h:, w:].mean((1, 2))], 1)


class QuadrantNet(nn.Module):
    """Class = the brightest quadrant; logits = SCALE x quadrant means."""

    num_classes: int

    def __init__(self, scale: float = {scale}):
        super().__init__()
        self.num_classes = 4
        self.scale = scale

    def forward(self, x):
        return self.scale * quadrant_means(x)


classify = QuadrantNet()


def logits_fn(x):
    return {scale} * quadrant_means(x)


logits_fn.num_classes = 4


def make(image_shape, device):
    return QuadrantNet().to(device)


class Fickle(nn.Module):
    """Right on the probes (2 and 3 images), then one logit column more on bigger batches."""

    def forward(self, x):
        q = quadrant_means(x)
        return q if x.shape[0] <= 3 else torch.cat([q, q[:, :1]], 1)


fickle = Fickle()


from evalkit.observe.features import Extractor


class BothWays(Extractor):
    """An Extractor subclass: features and logits from one pass (the pre-existing way)."""

    def __init__(self, image_shape, device):
        self.name, self.dim, self.digest, self.num_classes = "both", 4, "both-v1", 4

    def features(self, images):
        return quadrant_means(images)

    def features_and_logits(self, images):
        q = quadrant_means(images)
        return q, {scale} * q


class FeaturesOnly(BothWays):
    def features_and_logits(self, images):
        return quadrant_means(images), None


def no_logits(x):
    return x.mean((1, 2, 3))  # one number per image: not logits


def pair(x):
    return quadrant_means(x), quadrant_means(x)


def wrong_count(x):
    return quadrant_means(x)


wrong_count.num_classes = 5


class Quadrants:
    """Class c: quadrant c at {bright}; every {every}th of a class: quadrant c + 1 at {dim}."""

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 4):
        self.image_shape = (channels, size, size)
        self.num_classes = classes
        self.seen = [0] * classes

    def sample(self, n, *, labels, generator):
        c, s, _ = self.image_shape
        h = s // 2
        x = torch.zeros(n, c, s, s)
        for i, k in enumerate(labels.tolist()):
            wrong = self.seen[k] % {every} == 0
            self.seen[k] += 1
            q = (k + 1) % 4 if wrong else k % 4
            r0, c0 = (q // 2) * h, (q % 2) * h
            x[i, :, r0:r0 + h, c0:c0 + h] = {dim} if wrong else {bright}
        return x
'''


def write_module(tmp_path, scale: float = SCALE) -> str:
    """The user module, under a name of its own (imported modules stay in sys.modules)."""
    name = f"userclf_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE.format(scale=scale, bright=BRIGHT, dim=DIM, every=EVERY))
    return name


def user_module(tmp_path, scale: float = SCALE):
    import importlib
    import sys

    name = write_module(tmp_path, scale)
    sys.path.insert(0, str(tmp_path))
    try:
        return name, importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def spec_text(module: str, classifier: str, channels: int, size: int, *, features: str = "pixels",
              extra: str = "", counts: dict[int, int] = COUNTS, classes: int = 4) -> str:
    labels = "{" + ", ".join(f"{c}: {n}" for c, n in counts.items()) + "}"
    soft = by_hand()[2]
    entropy_cut = (soft["right"]["entropy"] + soft["wrong"]["entropy"]) / 2
    return textwrap.dedent(f"""\
        version: 1
        name: userclf
        features: {features}
        classifier: {classifier}
        subjects:
          - model: {module}:Quadrants
            params: {{channels: {channels}, size: {size}, classes: {classes}}}
        sampling: {{batch_size: 16, seed: 0, labels: {labels}}}
        report: {{failing_examples: 50}}
        requirements:
          - {{name: agrees, check: label_agreement, at_least: 0.5, per_class: true}}
          - {{name: sure, where: "confidence > 0.8", at_least: 0.5}}
          - {{name: same, where: "label == predicted", at_least: 0.5}}
          - {{name: clear margin, where: "margin > 0.8", at_least: 0.5}}
          - {{name: confident, check: confident, at_least: 0.5, args: {{threshold: 0.8}}}}
          - {{name: asked is likely, where: "asked_prob > 0.8", at_least: 0.5}}
          - {{name: low entropy, where: "entropy < {entropy_cut}", at_least: 0.5}}
          - {{metric: class_tv, at_most: 0.5}}
        """) + extra


def by_hand():
    """Per class: (agreeing, asked); the predicted histogram; softmax values of both kinds of sample."""
    wrong = {c: math.ceil(n / EVERY) for c, n in COUNTS.items()}
    agree = {c: (n - wrong[c], n) for c, n in COUNTS.items()}
    predicted = {c: agree[c][0] + wrong[(c - 1) % 4] for c in COUNTS}
    soft = {}
    for kind, v in (("right", BRIGHT), ("wrong", DIM)):
        top, rest = math.exp(SCALE * v), 3.0
        p = [top / (top + rest)] + [1.0 / (top + rest)] * 3
        soft[kind] = {"confidence": p[0], "margin": p[0] - p[1], "entropy": -sum(q * math.log(q) for q in p)}
    return agree, predicted, soft


def check_report(report) -> None:
    agree, predicted, soft = by_hand()
    n = sum(COUNTS.values())
    passed = sum(a for a, _ in agree.values())  # 26 of 40
    (subject,) = report.subjects
    assert subject.status == "ok", subject.error
    reqs = {r.name: r for r in subject.requirements}
    assert (reqs["agrees"].passed, reqs["agrees"].n) == (passed, n)
    assert {c.label: (c.passed, c.n) for c in reqs["agrees"].per_class} == agree
    # the closed-form softmax: right samples are sure (0.92 > 0.8), wrong ones not (0.71)
    assert soft["right"]["confidence"] > 0.8 > soft["wrong"]["confidence"]
    assert soft["right"]["margin"] > 0.8 > soft["wrong"]["margin"]
    assert soft["right"]["entropy"] < soft["wrong"]["entropy"]
    for name in ("sure", "same", "clear margin", "confident", "asked is likely", "low entropy"):
        assert (reqs[name].passed, reqs[name].n) == (passed, n), name
    # a failing example carries the classifier's values: the wrong sample's closed form
    failing = reqs["agrees"].failing
    assert len(failing) == n - passed
    for ex in failing:
        assert ex.values["predicted"] == (ex.label + 1) % 4
        assert ex.values["confidence"] == pytest.approx(soft["wrong"]["confidence"], abs=1e-6)
    margin = next(ex for ex in reqs["clear margin"].failing)  # a where: keeps the values it read
    assert margin.values["margin"] == pytest.approx(soft["wrong"]["margin"], abs=1e-6)
    tv = 0.5 * sum(abs(predicted[c] - COUNTS[c]) for c in COUNTS) / n  # 0.05
    (metric,) = subject.metrics
    assert metric.metric == "class_tv"
    assert metric.value == pytest.approx(tv, abs=1e-12)


def save_graph(net, path, shape) -> None:
    """``net`` as TorchScript (``.pt``) or as a torch.export archive with a dynamic batch (``.pt2``)."""
    if path.suffix == ".pt2":
        ep = torch.export.export(net, (torch.zeros(2, *shape),),
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
        torch.export.save(ep, str(path))
    else:
        torch.jit.save(torch.jit.script(net), str(path))


@pytest.mark.parametrize("file,channels,size", [("clf.pt", 1, 28), ("clf.pt", 3, 32), ("clf.pt2", 3, 32)])
def test_model_file_classifier_through_a_run(tmp_path, write_spec, file, channels, size):
    name, mod = user_module(tmp_path)
    save_graph(mod.QuadrantNet(), tmp_path / file, (channels, size, size))
    assert probe_classifier(str(tmp_path / file), (channels, size, size)) == 4
    report = evalkit.run(write_spec(spec_text(name, file, channels, size)), write=False)
    check_report(report)


@pytest.mark.parametrize("attribute,channels,size", [
    ("classify", 3, 32), ("logits_fn", 1, 28), ("QuadrantNet", 3, 32), ("make", 1, 28), ("BothWays", 3, 32)])
def test_module_attribute_classifier_through_a_run(tmp_path, write_spec, attribute, channels, size):
    name = write_module(tmp_path)
    report = evalkit.run(write_spec(spec_text(name, f"{name}:{attribute}", channels, size)), write=False)
    check_report(report)


def test_the_cli_runs_a_user_classifier(tmp_path, write_spec):
    from evalkit.cli import main

    name = write_module(tmp_path)
    spec = write_spec(spec_text(name, f"{name}:classify", 3, 32))
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 0
    import json

    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    agree, _, _ = by_hand()
    row = next(r for r in rep["subjects"][0]["requirements"] if r["name"] == "agrees")
    assert row["passed"] == sum(a for a, _ in agree.values())


def test_torch_export_classifier(tmp_path):
    _, mod = user_module(tmp_path)
    save_graph(mod.QuadrantNet(), tmp_path / "clf.pt2", (1, 28, 28))
    clf = make_classifier("clf.pt2", (1, 28, 28), torch.device("cpu"), tmp_path)
    assert clf.num_classes == 4
    x = torch.zeros(5, 1, 28, 28)
    x[:, :, 14:, :14] = BRIGHT  # quadrant 2
    _, logits = clf.features_and_logits(x)
    assert torch.allclose(logits, torch.tensor([0.0, 0.0, SCALE * BRIGHT, 0.0]).expand(5, 4), atol=1e-6)


def test_registered_classifier_keeps_its_count():
    assert probe_classifier("fashion-classifier", (1, 28, 28)) == 10


@pytest.mark.parametrize("attribute,words", [
    ("no_logits", "gives no class logits"),
    ("pair", "returns class logits only"),
    ("wrong_count", "declares num_classes = 5, but its logits have 4 columns"),
])
def test_a_classifier_that_gives_no_logits_is_a_spec_error(tmp_path, monkeypatch, attribute, words):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = write_module(tmp_path)
    with pytest.raises(SpecError, match=words):
        probe_classifier(f"{name}:{attribute}", (1, 28, 28))


def test_an_extractor_subclass_classifies_when_it_gives_logits(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = write_module(tmp_path)
    assert probe_classifier(f"{name}:BothWays", (3, 32, 32)) == 4
    with pytest.raises(SpecError, match="gives no class logits \\(it is a feature extractor only\\)"):
        probe_classifier(f"{name}:FeaturesOnly", (1, 28, 28))


def test_a_feature_extractor_is_no_classifier():
    with pytest.raises(SpecError, match="'pixels' gives no class logits"):
        probe_classifier("pixels", (1, 28, 28))


def test_a_classifier_file_that_fails_on_the_shape_is_a_spec_error(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4))
    torch.jit.save(torch.jit.script(net), str(tmp_path / "mlp.pt"))
    assert probe_classifier("mlp.pt", (1, 28, 28), tmp_path) == 4
    with pytest.raises(SpecError, match="classifier 'mlp.pt': fails on a batch"):
        probe_classifier("mlp.pt", (3, 32, 32), tmp_path)
    with pytest.raises(SpecError, match="not found"):
        probe_classifier("missing.pt", (1, 28, 28), tmp_path)


def test_class_count_mismatch(tmp_path, write_spec):
    assert class_count_problem(4, "m", 4) is None
    assert class_count_problem(10, "m", 4) is None  # a classifier of more classes may judge a subset
    assert "subject 'm' has 6 (0..5)" in class_count_problem(4, "m", 6)
    # through a run: a 6-class subject asked for class 5, judged by the 4-class classifier
    name = write_module(tmp_path)
    counts = {0: 10, 5: 10}
    text = spec_text(name, f"{name}:classify", 1, 28, counts=counts, classes=6)
    try:
        report = evalkit.run(write_spec(text), write=False)
    except SpecError as exc:  # caught at validation, once the plan asks the classifier its count
        assert "6" in str(exc) and "classifier" in str(exc)
        return
    (subject,) = report.subjects
    assert subject.status == "broken"
    assert "class 5 is asked, but the classifier gives 4 classes (0..3)" in subject.error


def test_a_changed_classifier_is_not_read_from_the_cache(tmp_path, write_spec):
    """With the classifier as the feature space too, the reference features are its logits:
    after the classifier file changes, the cached ones must not be used."""
    import numpy as np

    _, mod = user_module(tmp_path)
    ref = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    np.savez(tmp_path / "ref.npz", images=ref.numpy())
    name = write_module(tmp_path)
    extra = "reference: {path: ref.npz}\n"
    text = spec_text(name, "clf.pt", 1, 28, features="clf.pt", extra=extra).replace(
        "  - {metric: class_tv, at_most: 0.5}\n", "  - {metric: class_tv, at_most: 0.5}\n  - {metric: fid, at_most: 1000}\n")
    spec = write_spec(text)

    def fid(scale: float, cache: bool = True):
        torch.jit.save(torch.jit.script(mod.QuadrantNet(scale)), str(tmp_path / "clf.pt"))
        report = evalkit.run(spec, write=False, cache=cache)
        (subject,) = report.subjects
        assert subject.status == "ok", subject.error
        return next(m.value for m in subject.metrics if m.metric == "fid"), report.reference["extractor_digest"]

    first, d1 = fid(SCALE)
    again, d2 = fid(SCALE)
    assert (again, d2) == (first, d1)
    changed, d3 = fid(2 * SCALE)
    fresh, _ = fid(2 * SCALE, cache=False)
    assert d3 != d1
    assert changed == pytest.approx(fresh, rel=1e-9)
    assert changed != pytest.approx(first, rel=1e-3)  # FID scales with the logits' scale


def test_the_classifier_and_its_digest_follow_the_source(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    spec_path = tmp_path / "s.yaml"
    name_a = write_module(tmp_path, SCALE)
    name_b = write_module(tmp_path, 2 * SCALE)
    digests = []
    for name in (name_a, name_b):
        spec_path.write_text(spec_text(name, f"{name}:logits_fn", 1, 28))
        refs = References(load_spec(spec_path), torch.device("cpu"), cache=False)
        clf = refs.extractor(f"{name}:logits_fn", (1, 28, 28))
        assert clf.num_classes == 4
        digests.append(clf.digest)
    assert digests[0] != digests[1]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"

MYGEN = '''
import torch

LOG = []  # (labels, images) of every call, read back by the test


class Generator:
    """Class-conditional 3x32x32 with 4 classes: class k brightens channel k % 3 and row band k."""

    num_classes = 4
    image_shape = (3, 32, 32)

    def sample(self, n, *, labels, generator):
        x = torch.rand(n, 3, 32, 32, generator=generator) * 0.3
        for i, k in enumerate(labels.tolist()):
            x[i, k % 3, 8 * k:8 * k + 8] += 0.6
        LOG.append((labels.clone(), x.clone()))
        return x
'''


def docs_blocks() -> tuple[str, str]:
    """The python and yaml blocks of docs/plugins.md's "Your own classifier" section."""
    section = DOCS.read_text().split("## Your own classifier", 1)[1].split("\n## ", 1)[0]
    python = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    yaml = re.findall(r"^```yaml\n(.*?)^```$", section, re.M | re.S)
    assert len(python) == 1 and len(yaml) == 1
    return python[0], yaml[0]


def test_the_docs_example_runs_as_written(tmp_path, monkeypatch):
    """The section's module and spec, copied as they are; the weights are a fresh net's,
    the generator a small one written here; label_agreement against the test's own forward pass."""
    import sys

    code, spec = docs_blocks()
    for name in ("myclf", "mygen"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    (tmp_path / "myclf.py").write_text(code)
    (tmp_path / "mygen.py").write_text(MYGEN)
    (tmp_path / "spec.yaml").write_text(spec)
    ns: dict = {}
    exec(code.split("WEIGHTS =")[0], ns)  # the net's class, to save the weights the module loads
    torch.manual_seed(0)
    torch.save(ns["MyNet"]().state_dict(), tmp_path / "myclf.pt")
    report = evalkit.run(tmp_path / "spec.yaml", write=False)
    (subject,) = report.subjects
    assert subject.status == "ok", subject.error
    import mygen

    net = ns["MyNet"]().eval()
    net.load_state_dict(torch.load(tmp_path / "myclf.pt", weights_only=True))
    labels = torch.cat([lab for lab, _ in mygen.LOG])
    with torch.no_grad():
        predicted = torch.cat([net(x).argmax(1) for _, x in mygen.LOG])
    agree = subject.requirements[0]
    assert agree.n == 400 == len(labels)
    assert agree.passed == int((predicted == labels).sum())
    assert {c.label: (c.passed, c.n) for c in agree.per_class} == {
        c: (int((predicted[labels == c] == c).sum()), int((labels == c).sum())) for c in range(4)}
    hist_p = torch.bincount(predicted, minlength=4).double() / 400
    hist_a = torch.bincount(labels, minlength=4).double() / 400
    (tv,) = subject.metrics
    assert tv.value == pytest.approx(0.5 * float((hist_p - hist_a).abs().sum()), abs=1e-12)


def test_a_classifier_that_changes_its_width_mid_run_breaks_the_subject(tmp_path, write_spec):
    name = write_module(tmp_path)
    report = evalkit.run(write_spec(spec_text(name, f"{name}:fickle", 1, 28)), write=False)
    (subject,) = report.subjects
    assert subject.status == "broken"
    assert "gave (16, 5) on a batch of 16 images, but (N, 4) class logits when it was built" in subject.error
