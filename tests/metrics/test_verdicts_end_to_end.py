"""Metric verdicts through the public API: `{metric: M, at_least/at_most: truth}` must
PASS in at most 1 - c of simulated runs, for every metric with a bound.

The truth (each metric's expected value at this N against this reference) comes from a
separate simulation of 200 generated sets drawn straight from the generator, with other
seeds. Then 100 audits through ``evalkit.run`` (sampling seeds 0-99) judge a spec whose
thresholds are those truths, at c = 0.9; a PASS there is a wrong verdict.

How many: with 100 runs the test fails when a metric PASSes more than 16 times. A rule
that PASSes wrongly 10 % of the time does so more than 16 times with probability
1 - binom.cdf(16, 100, 0.1) = 0.021; one at 20 % stays at or below 16 with probability
binom.cdf(16, 100, 0.2) = 0.19 (and at 25 %, 0.015).
"""

import numpy as np
import pytest
import torch
from gaussgen import Gaussian

import evalkit
from evalkit import registry
from evalkit.metrics.metric import MetricInputs

N, N_REF, RUNS, TRUTH_RUNS, MAX_PASS = 200, 400, 100, 200, 16
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "vendi")
SHIFT, SCALE = 0.3, 1.1


def _features(images: torch.Tensor) -> torch.Tensor:
    return images.reshape(len(images), -1).float()  # what `features: pixels` gives


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdicts")
    ref = Gaussian().sample(N_REF, labels=None, generator=torch.Generator().manual_seed(12345))
    np.savez(root / "reference.npz", images=ref.numpy())
    real = _features(ref)
    gen = Gaussian(SHIFT, SCALE)
    values = {m: [] for m in METRICS}
    shared: dict = {}
    for t in range(TRUTH_RUNS):
        fake = _features(gen.sample(N, labels=None, generator=torch.Generator().manual_seed(10_000 + t)))
        inputs = MetricInputs("truth", real, fake, seed=t, requests=[(m, {}) for m in METRICS], shared=shared)
        for m in METRICS:
            values[m].append(registry.metrics.get(m).obj().compute(inputs, 0.9).value)
    truth = {m: float(np.mean(v)) for m, v in values.items()}
    lines = []
    for m in METRICS:
        side = "at_least" if registry.metrics.get(m).decl.higher_is_better else "at_most"
        lines.append(f"  - {{name: {m}, metric: {m}, {side}: {truth[m]!r}}}")
    spec = root / "spec.yaml"
    spec.write_text(
        "version: 1\nname: verdicts\nreference: {path: reference.npz}\nfeatures: pixels\nclassifier: null\n"
        f"subjects:\n  - {{model: 'gaussgen:Gaussian', name: g, params: {{shift: {SHIFT}, scale: {SCALE}}}}}\n"
        f"sampling: {{n: {N}, batch_size: {N}, seed: 0}}\nconfidence: 0.9\nrequirements:\n" + "\n".join(lines) + "\n")
    return spec, truth


def test_a_threshold_at_the_truth_passes_at_most_one_minus_c_of_the_time(setting):
    spec, truth = setting
    text = spec.read_text()
    passes = {m: 0 for m in METRICS}
    for seed in range(RUNS):
        spec.write_text(text.replace("seed: 0}", f"seed: {seed}}}"))
        report = evalkit.run(spec, write=False)
        for r in report.subjects[0].requirements:
            passes[r.name] += r.verdict == "PASS"
    worst = {m: p for m, p in passes.items() if p > MAX_PASS}
    assert not worst, (passes, truth)
