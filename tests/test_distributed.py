"""Under torchrun (2 processes, gloo, CPU) the report equals the single-process one:
no_duplicate compares across processes and sequential looks stop every process together."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASIC
from tests.specs import OMIT, REQUIREMENT, spec_text

ROOT = Path(__file__).resolve().parents[1]

SEQUENTIAL = spec_text(
    name="sequential", reference=OMIT, subjects=[{"model": "dataset", "params": {"range": [5000, 7000]}}],
    sampling={"n": 2000, "batch_size": 50, "seed": 5, "sequential": True},
    requirements=[REQUIREMENT,
                  {"name": "inky per class", "where": "ink > 0.05", "at_least": 0.5, "per_class": True},
                  {"check": "no_duplicate", "at_least": 0.5, "args": {"threshold": 0.05}}])

def run(spec: Path, out: Path, procs: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    args = ["-m", "evalkit", "run", str(spec), "--out", str(out), "--quiet", "--device", "cpu"]
    if procs == 1:
        cmd = [sys.executable, *args]
    else:
        torchrun = shutil.which("torchrun")
        if torchrun is None:
            pytest.skip("torchrun not on PATH")
        cmd = [torchrun, "--standalone", "--nproc-per-node", str(procs), *args]
    p = subprocess.run(cmd, env=env, timeout=600, capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def assert_same(a: dict, b: dict) -> None:
    assert a["environment"]["world_size"] == 1 and b["environment"]["world_size"] == 2
    assert a["exit_code"] == b["exit_code"]
    for sa, sb in zip(a["subjects"], b["subjects"], strict=True):
        assert (sa["n"], sa["stopped_early"], sa["status"]) == (sb["n"], sb["stopped_early"], sb["status"])
        for ra, rb in zip(sa["requirements"], sb["requirements"], strict=True):
            for key in ("name", "verdict", "passed", "n", "confidence", "lower", "upper", "per_class", "failing", "undefined"):
                assert ra[key] == rb[key], (ra["name"], key, ra[key], rb[key])
            assert ra["value"] == pytest.approx(rb["value"], rel=1e-9)
        for ma, mb in zip(sa["metrics"], sb["metrics"], strict=True):
            for key in ("value", "lower", "upper"):
                assert ma[key] == pytest.approx(mb[key], rel=1e-9)


@pytest.mark.slow
def test_torchrun_two_processes_match_one_with_metrics(write_spec, tmp_path):
    # a pool of 150 images for 200 samples: the replay repeats some, across the two processes' batches
    spec = write_spec(BASIC.replace("range: [5000, 6000]", "range: [5000, 5150]")
                      + "  - {check: no_duplicate, at_least: 0.5, args: {threshold: 0.05}}\n"
                      "  - {metric: fid, at_most: 1000}\n"
                      "  - {metric: precision, at_least: 0.1}\n")
    a, b = run(spec, tmp_path / "one", 1), run(spec, tmp_path / "two", 2)
    assert_same(a, b)
    dup = a["subjects"][0]["requirements"][2]
    # near-copies exist across the two processes' batches (batch 0 is process 0's, batch 1 process 1's)
    assert dup["passed"] < dup["n"] and any(f["index"] >= 50 for f in dup["failing"])


@pytest.mark.slow
def test_torchrun_sequential_looks_agree(write_spec, tmp_path):
    spec = write_spec(SEQUENTIAL)
    a, b = run(spec, tmp_path / "one", 1), run(spec, tmp_path / "two", 2)
    assert a["subjects"][0]["stopped_early"] and a["subjects"][0]["n"] < 2000
    assert_same(a, b)


@pytest.mark.slow
def test_torchrun_ci_smoke_matches_one(tmp_path):
    spec = ROOT / "specs" / "ci-smoke.yaml"
    a, b = run(spec, tmp_path / "one", 1), run(spec, tmp_path / "two", 2)
    assert_same(a, b)
