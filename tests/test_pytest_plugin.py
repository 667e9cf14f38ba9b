"""The pytest plugin, driven through pytester: real specs, real runs, pytest's own --junitxml and -k."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.specs import REFERENCE, REQUIREMENT, spec_text

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

# Two subjects x three requirements. On the clean replay every pixel is in [0, 1]
# (200/200): ">= 0.9" passes; ">= 0.995" cannot be decided at n = 200 (the one-sided
# 95% Clopper-Pearson lower bound of 200/200 is 0.05 ** (1/200) = 0.98513, the upper
# bound is 1): INCONCLUSIVE. FID at most 0.001 fails (pixel FID of 200 samples is large).
CLEAN = {"model": "usergen:noisy_replay", "name": "clean", "params": {"noise": 0.0}}
NOISY = {"model": "usergen:noisy_replay", "name": "noisy", "params": {"noise": 0.5}}


def _spec(subjects=(CLEAN, NOISY)) -> str:
    return spec_text(name="plugin", reference=dict(REFERENCE, range=[0, 400]), subjects=subjects,
                     sampling={"n": 200, "batch_size": 100, "seed": 3},
                     requirements=[REQUIREMENT, {"name": "surely in range", "check": "in_range", "at_least": 0.995},
                                   {"metric": "fid", "at_most": 0.001}])


SPEC = _spec()

COUNTING_CONFTEST = """\
import json, os
import evalkit.api

_run = evalkit.api.run

def counting_run(spec, **kw):
    with open(os.environ["EVALKIT_RUNS_LOG"], "a") as fh:
        fh.write(json.dumps([s.display_name for s in spec.subjects]) + "\\n")
    return _run(spec, **kw)

evalkit.api.run = counting_run


def pytest_unconfigure(config):
    evalkit.api.run = _run  # pytester runs in this process: leave the module as it was
"""


@pytest.fixture(autouse=True)
def _heavy_modules_outside_pytester():
    """pytester runs in this process and unloads what an inner run imported; an extension module
    (numpy.fft's, through scipy) cannot be loaded twice, so the second inner run broke. Import
    them here first, so they outlive every inner run."""
    import numpy.fft  # noqa: F401
    import scipy.stats  # noqa: F401

    import evalkit.api  # noqa: F401


@pytest.fixture
def project(pytester, monkeypatch, tmp_path):
    pytester.makefile(".yaml", evalkit_plugin=SPEC)
    pytester.makeconftest(COUNTING_CONFTEST)
    log = tmp_path / "runs.log"
    monkeypatch.setenv("EVALKIT_RUNS_LOG", str(log))
    return pytester, log


def runs(log):
    import json

    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_items_outcomes_messages_and_junit(project, tmp_path):
    pytester, log = project
    junit = tmp_path / "junit.xml"
    res = pytester.runpytest(f"--junitxml={junit}", "-rs")
    # clean: pass, skip, fail; noisy: in range passes too (clamped), surely in range skips, fid fails
    res.assert_outcomes(passed=2, skipped=2, failed=2)
    out = res.stdout.str()
    assert "evalkit: clean :: fid" in out and "evalkit: noisy :: fid" in out
    assert "FAIL: value " in out and "bound <= 0.001" in out and "one-sided interval [" in out
    assert "Traceback" not in out
    # the skip says what was seen and how many samples would decide it
    assert "INCONCLUSIVE: value 200/200 = 1, bound >= 0.995, one-sided interval [0.9851, 1]" in out
    assert "more samples would decide it" in out
    assert runs(log) == [["clean", "noisy"]]  # one sampling run served all six items

    from junitparser import Failure, JUnitXml, Skipped

    all_cases = [c for suite in JUnitXml.fromfile(str(junit)) for c in suite]
    assert len(all_cases) == 6
    kinds = sorted(type(r[0]).__name__ if r else "pass" for r in (c.result for c in all_cases))
    assert kinds == ["Failure", "Failure", "Skipped", "Skipped", "pass", "pass"]
    fid = next(c for c in all_cases if c.name == "fid" and "clean" in c.classname)
    assert isinstance(fid.result[0], Failure) and "bound <= 0.001" in fid.result[0].message
    assert any(isinstance(r, Skipped) for c in all_cases for r in c.result)


def test_k_selects_items_and_only_their_subjects_are_sampled(project):
    pytester, log = project
    res = pytester.runpytest("-k", "noisy and in and range and not surely")
    res.assert_outcomes(passed=1, deselected=5)
    assert runs(log) == [["noisy"]]


def test_strict_turns_inconclusive_into_failures(project):
    pytester, log = project
    res = pytester.runpytest("--evalkit-strict", "-k", "clean")
    res.assert_outcomes(passed=1, failed=2)
    assert "fails under --evalkit-strict" in res.stdout.str()


def test_evalkit_option_takes_a_spec_anywhere(pytester, tmp_path):
    spec = tmp_path / "elsewhere" / "audit.yaml"  # not under the test folder, not matching the pattern
    spec.parent.mkdir()
    spec.write_text(_spec(subjects=[{"model": "dataset", "name": "clean", "params": {}}]))
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    res = pytester.runpytest("--evalkit", str(spec), "-v")
    res.assert_outcomes(passed=2, skipped=1, failed=1)  # the plain test, plus the spec's three items
    assert "audit.yaml::clean::in range PASSED" in res.stdout.str()


def test_bad_spec_is_a_collection_error_naming_the_line(pytester):
    pytester.makefile(".yaml", evalkit_bad=SPEC.replace("check: in_range", "check: in_rnage", 1))
    res = pytester.runpytest()
    res.assert_outcomes(errors=1)
    out = res.stdout.str()
    assert "evalkit_bad.yaml:11:" in out and "did you mean 'in_range'?" in out and "Traceback" not in out


def test_missing_spec_is_a_usage_error(pytester):
    res = pytester.runpytest("--evalkit", "nope.yaml")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "--evalkit nope.yaml: no such spec file or folder" in res.stderr.str()


def test_without_evalkit_nothing_heavy_is_imported(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    code = textwrap.dedent("""
        import sys, pytest
        code = pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]])
        heavy = sorted(m for m in ("torch", "numpy", "scipy", "evalkit.api", "evalkit.runner") if m in sys.modules)
        assert "evalkit.pytest_plugin" in sys.modules
        print("HEAVY", heavy)
        sys.exit(code)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HEAVY []" in r.stdout
    h = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert "--evalkit=SPEC" in h.stdout and "--evalkit-strict" in h.stdout


@pytest.mark.slow
def test_smoke_spec_through_the_plugin(pytester):
    """The bundled CI smoke spec (fashion-vae, real classifier features) as pytest items."""
    res = pytester.runpytest("--evalkit", str(ROOT / "specs" / "ci-smoke.yaml"), "-v")
    items = [line for line in res.stdout.lines if "ci-smoke.yaml::fashion-vae::" in line]
    assert len(items) == 3
    assert res.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert "Traceback" not in res.stdout.str()
