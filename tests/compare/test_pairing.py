"""Pairing --baseline with the baseline's sample store: same seed, indices and classes -> paired tests.

Unit tests build two records by hand (real tensors, the sample store's layout); the
CLI tests run fashion-vae twice at small n and read the reports back.
"""

import json

import numpy as np
import torch

from evalkit.compare.pairing import pair_subject, same_samples
from evalkit.judge.compare import compare_rates
from evalkit.records.reading import read_report

from .cli import cli


def _record(passed, index=None, asked=None, influence=None):
    passed = torch.as_tensor(np.asarray(passed, dtype=bool))[None, :]
    n = passed.shape[1]
    t = {"index": torch.arange(n, dtype=torch.int64) if index is None else torch.as_tensor(index), "passed": passed}
    if asked is not None:
        t["asked"] = torch.as_tensor(asked, dtype=torch.int64)
    if influence is not None:
        t["influence.fid"] = torch.as_tensor(influence, dtype=torch.float32)
    return t, {"requirements": ["ok"]}


def test_same_samples_pair_and_carry_both_outcomes():
    rng = np.random.default_rng(0)
    a, b = rng.random(50) < 0.8, rng.random(50) < 0.7
    asked = rng.integers(0, 10, 50)
    base, cur = _record(a, asked=asked, influence=rng.normal(size=50)), _record(b, asked=asked)
    p = pair_subject(cur, base[0], base[1], (4, 4))
    assert p.paired and p.reason == "paired with the baseline's samples (same seed 4, same 50 indices and classes)"
    np.testing.assert_array_equal(p.outcomes["ok"][0], a)
    np.testing.assert_array_equal(p.outcomes["ok"][1], b)
    assert p.influences == {}  # only the baseline holds an influence: the metric stays unpaired
    both = pair_subject(_record(b, asked=asked, influence=np.ones(50)), base[0], base[1], (4, 4))
    assert set(both.influences) == {"fid"} and both.words("fid", "fid") == both.reason


def test_what_breaks_the_pairing_is_named():
    base = _record([True] * 10, asked=list(range(10)))
    assert "different seeds (baseline 1, now 2)" in pair_subject(base, base[0], base[1], (1, 2)).reason
    other = _record([True] * 10, asked=[0] * 10)
    assert same_samples(other[0], base[0]) == "different asked classes"
    shorter = _record([True] * 8, asked=list(range(8)))
    assert "different sample indices" in same_samples(shorter[0], base[0])
    p = pair_subject(shorter, base[0], base[1], (1, 1))
    assert not p.paired and p.words("ok").startswith("unpaired: different sample indices")


def test_paired_outcomes_give_mcnemar_on_the_discordant_samples():
    """5 samples lost, 20 gained of 200: the exact McNemar p of 'worse' is P(Bin(25, 1/2) >= 20)... of the other side."""
    a = np.zeros(200, bool)
    a[:100] = True
    b = a.copy()
    b[:20] = False  # 20 lost
    b[100:105] = True  # 5 gained
    d = compare_rates(0, 0, 0, 0, confidence=0.95, paired_outcomes=(a, b), sides="worse")
    from math import comb
    p_hand = sum(comb(25, k) for k in range(20, 26)) / 2 ** 25  # lost >= 20 of 25 discordant under 1/2
    assert abs(d.p_worse - p_hand) < 1e-12 and d.paired


SPEC = """\
version: 1
name: pair
reference: {{dataset: fashion-mnist, split: test, range: [0, 500]}}
subjects:
  - model: fashion-vae
    name: vae
    params: {{temperature: {t}}}
sampling: {{n: 160, batch_size: 80, seed: {seed}}}
requirements:
  - {{name: looks like the asked class, check: label_agreement, at_least: 0.3}}
  - {{name: in range, check: in_range, at_least: 0.9}}
"""


def _run(write_spec, tmp_path, capsys, name, t=1.0, seed=0, baseline=None):
    spec = write_spec(SPEC.format(t=t, seed=seed), f"{name}.yaml")
    args = ["run", str(spec), "--out", str(tmp_path / name), "--format", "json", "--format", "markdown", "--device", "cpu"]
    if baseline is not None:
        args += ["--baseline", str(tmp_path / baseline)]
    code, out, err = cli(args, capsys)
    return code, out, err, read_report(tmp_path / name / "report.json")


def test_cli_same_seed_pairs_and_passes_a_worse_param_regresses_paired(write_spec, tmp_path, capsys):
    code, _, err, _ = _run(write_spec, tmp_path, capsys, "a")
    assert code == 0, err
    code, out, err, rep = _run(write_spec, tmp_path, capsys, "b", baseline="a")
    assert code == 0, err
    r = rep.subjects[0].requirements[0]
    assert r.baseline.pairing == "paired with the baseline's samples (same seed 0, same 160 indices and classes)"
    assert "McNemar" in r.baseline.method and r.baseline.p_value is not None
    assert "paired with the baseline's samples" in out and "Holm p=" in out and "adjusted [" in out
    assert "family-wise level 0.95 (the spec's confidence)" in rep.baseline_correction
    md = (tmp_path / "b" / "report.md").read_text()
    assert "family-wise level 0.95" in md and "adjusted [" in md
    # a hotter sampler (temperature 2.5) draws blurrier, less class-like images from the same seeds
    code, out, err, rep = _run(write_spec, tmp_path, capsys, "c", t=2.5, baseline="a")
    assert code == 1, out + err
    r = rep.subjects[0].requirements[0]
    assert r.regressed and r.baseline.pairing.startswith("paired") and r.baseline.adjusted_high <= 0
    data = json.loads((tmp_path / "c" / "report.json").read_text())
    assert data["subjects"][0]["differences"][0]["paired"] is True


def test_cli_other_seed_is_unpaired_and_says_why(write_spec, tmp_path, capsys):
    _run(write_spec, tmp_path, capsys, "a")
    code, out, err, rep = _run(write_spec, tmp_path, capsys, "b", seed=1, baseline="a")
    assert code == 0, err
    assert rep.subjects[0].requirements[0].baseline.pairing == "unpaired: different seeds (baseline 0, now 1)"
    assert "Fisher" in rep.subjects[0].requirements[0].baseline.method
