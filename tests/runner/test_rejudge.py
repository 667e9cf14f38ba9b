"""`evalkit rejudge`: a finished run's saved states judged against a changed spec give the report
that running the changed spec gives (same samples, so same counts and features), without sampling."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASIC

ROOT = Path(__file__).resolve().parents[2]
SPEC = BASIC + """\
  - {name: inky, where: "ink > 0.3", at_least: 0.9}
  - {metric: precision, at_least: 0.1}
"""
# new thresholds, a new confidence, a dropped requirement, and a metric computable from the saved features
CHANGED = SPEC.replace('"ink > 0.3", at_least: 0.9}', '"ink > 0.3", at_least: 0.6, confidence: 0.99}').replace(
    "  - {name: in range, check: in_range, at_least: 0.9}\n", "") + "  - {metric: recall, at_least: 0.5}\n"


def evalkit(*args, rc):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == rc, (p.returncode, p.stderr[-2000:])
    return p


def results(path: Path) -> list:
    r = json.loads(path.read_text())
    return [(s["n"], s["requirements"], s["metrics"]) for s in r["subjects"]]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("rejudge")
    (d / "spec.yaml").write_text(SPEC)
    (d / "changed.yaml").write_text(CHANGED)
    evalkit("run", d / "spec.yaml", "--out", d / "run", "--quiet", rc=1)
    return d


def test_rejudge_equals_running_the_changed_spec(finished):
    d = finished
    evalkit("rejudge", d / "run", d / "changed.yaml", "--quiet", rc=0)
    evalkit("run", d / "changed.yaml", "--out", d / "fresh", "--quiet", rc=0)
    got, want = results(d / "run" / "rejudged" / "report.json"), results(d / "fresh" / "report.json")
    assert got == want
    assert [r["name"] for r in got[0][1]] == ["sane ink", "inky", "precision", "recall"]
    inky = got[0][1][1]
    assert inky["name"] == "inky" and inky["confidence"] == 0.99 and inky["verdict"] == "PASS"
    assert json.loads((d / "run" / "rejudged" / "report.json").read_text())["rejudged_from"] == str(d / "run")


@pytest.mark.parametrize("change, reason", [
    (("ink > 0.3", "ink > 0.31"), "measures what the run did not"),
    (("seed: 3", "seed: 4"), "sampling.seed: 3 -> 4"),
    (("features: pixels", "features: fashion-classifier"), "features: 'pixels' -> 'fashion-classifier'"),
])
def test_rejudge_refuses_what_was_not_saved(finished, tmp_path, change, reason):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace(*change))
    p = evalkit("rejudge", finished / "run", spec, "--quiet", rc=2)
    assert reason in p.stderr and "Traceback" not in p.stderr


def test_rejudge_refuses_metrics_without_saved_features(tmp_path):
    rates_only = BASIC
    (tmp_path / "a.yaml").write_text(rates_only)
    evalkit("run", tmp_path / "a.yaml", "--out", tmp_path / "run", "--quiet", rc=0)
    (tmp_path / "b.yaml").write_text(rates_only + "  - {metric: precision, at_least: 0.1}\n")
    p = evalkit("rejudge", tmp_path / "run", tmp_path / "b.yaml", "--quiet", rc=2)
    assert "no saved features" in p.stderr


def test_rejudge_refuses_a_folder_without_journal(tmp_path, basic_spec):
    p = evalkit("rejudge", tmp_path, basic_spec, "--quiet", rc=2)
    assert "no journal there" in p.stderr
