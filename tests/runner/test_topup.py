"""Top-up: `evalkit run SPEC --resume OUT --n LARGER` extends a finished anytime run, and refuses
what it cannot extend validly. Real runs (`python -m evalkit run`) of the zoo's fashion-vae."""

from __future__ import annotations

import json
import shutil

import pytest
from scipy import stats as sps

from evalkit.judge import anytime
from evalkit.store import load_record
from tests.conftest import BASIC
from tests.runner.test_resume import comparable, evalkit

# ink > 0.4 holds for about 56% of the VAE's samples (seed 1): at n = 64 the confidence sequence
# straddles 0.44, at n = 192 its lower bound clears it. Batches of 50: the run of 64 ends in a
# partial batch, which the top-up must sample again whole.
SPEC = """\
version: 1
name: topup
reference: {dataset: fashion-mnist, split: test, range: [0, 400]}
features: pixels
classifier: null
subjects:
  - model: fashion-vae
sampling: {n: 64, batch_size: 50, seed: 1, anytime: true}
requirements:
  - {name: inky, where: "ink > 0.4", at_least: 0.44}
  - {name: some ink, where: "ink > 0.1", at_least: 0.5}
"""


def _report(folder):
    return json.loads((folder / "report.json").read_text())


def _store(folder):
    (path,) = sorted((folder / "samples").glob("*.safetensors"))
    return load_record(path, kind="samples")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("topup")
    spec = d / "spec.yaml"
    spec.write_text(SPEC)
    evalkit("run", spec, "--out", d / "small", "--quiet", check_rc=0)
    shutil.copytree(d / "small", d / "before")  # the run of 64 as it was
    topped = evalkit("run", spec, "--resume", d / "small", "--n", 192, "--quiet", check_rc=0)
    evalkit("run", spec, "--out", d / "whole", "--n", 192, "--quiet", check_rc=0)  # 192 from the start
    return spec, d, topped


def test_inconclusive_at_64_decided_at_192_on_the_sequence(runs):
    _, d, _ = runs
    before = _report(d / "before")["subjects"][0]["requirements"][0]
    assert before["n"] == 64 and before["verdict"] == "INCONCLUSIVE"
    after = _report(d / "small")
    assert after["subjects"][0]["n"] == 192
    r = after["subjects"][0]["requirements"][0]
    assert r["n"] == 192 and r["verdict"] == "PASS" and r["method"].startswith("anytime-valid (")
    assert r["lower"] == pytest.approx(anytime.cs_lower(r["passed"], 192, 0.95), abs=1e-12)
    # the sequence's bound, below the fixed-n one (scipy's Beta quantile): the price of the top-up
    assert r["lower"] < sps.beta.ppf(0.05, r["passed"], 192 - r["passed"] + 1)


def test_the_topped_up_run_is_the_run_made_at_192(runs):
    """Samples 0..63 unchanged and 64..191 those a run of 192 draws: report and sample store equal."""
    _, d, _ = runs
    assert comparable(d / "small") == comparable(d / "whole")
    small_t, _ = _store(d / "before")
    big_t, _ = _store(d / "small")
    for name, rows in small_t.items():
        if rows.dim() and len(rows) == 64 and len(big_t[name]) == 192:
            assert (rows.float().nan_to_num(-1.0) == big_t[name][:64].float().nan_to_num(-1.0)).all(), name


def test_a_top_up_killed_midway_resumes(runs, tmp_path):
    spec, d, _ = runs
    out = tmp_path / "again"
    shutil.copytree(d / "before", out)
    killed = evalkit("run", spec, "--resume", out, "--n", 192, "--quiet", kill="mid-batch:2")
    assert killed.returncode not in (0, 1, 2)
    evalkit("run", spec, "--resume", out, "--n", 192, "--quiet", check_rc=0)
    assert comparable(out) == comparable(d / "whole")


def test_a_top_up_must_add_samples(runs, tmp_path):
    spec, d, _ = runs
    out = tmp_path / "same"
    shutil.copytree(d / "before", out)
    p = evalkit("run", spec, "--resume", out, "--n", 32, "--quiet", check_rc=2)
    assert "a top-up only adds samples" in p.stderr and "--n larger than 64" in p.stderr


FIXED = BASIC.replace("sampling: {n: 200, batch_size: 50, seed: 3}", "sampling: {n: 100, batch_size: 50, seed: 3}")


def test_a_fixed_n_run_is_not_topped_up(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED)
    evalkit("run", spec, "--out", tmp_path / "out", "--quiet", check_rc=0)
    p = evalkit("run", spec, "--resume", tmp_path / "out", "--n", 200, "--quiet", check_rc=2)
    assert "a fixed-n bound would lose its promise when extended after looking" in p.stderr
    assert "set sampling.anytime: true before the first run" in p.stderr
    assert _report(tmp_path / "out")["subjects"][0]["n"] == 100  # untouched


def test_an_unfinished_run_is_not_topped_up(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED.replace("seed: 3}", "seed: 3, anytime: true}"))
    evalkit("run", spec, "--out", tmp_path / "out", "--quiet", kill="report:1")
    assert not (tmp_path / "out" / "report.json").exists()
    p = evalkit("run", spec, "--resume", tmp_path / "out", "--n", 200, "--quiet", check_rc=2)
    assert "the run has not finished" in p.stderr and "--n 100" in p.stderr


def test_metric_requirements_are_not_topped_up(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED.replace("seed: 3}", "seed: 3, anytime: true}") + "  - {metric: precision, at_least: 0.1}\n")
    evalkit("run", spec, "--out", tmp_path / "out", "--quiet", check_rc=0)
    p = evalkit("run", spec, "--resume", tmp_path / "out", "--n", 200, "--quiet", check_rc=2)
    assert "'precision" in p.stderr and "metric bounds" in p.stderr


def test_anytime_with_sequential_is_a_spec_error(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED.replace("seed: 3}", "seed: 3, anytime: true, sequential: true}"))
    p = evalkit("validate", spec, check_rc=2)
    assert "anytime: true and sequential: true" in p.stderr
