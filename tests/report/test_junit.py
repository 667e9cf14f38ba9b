"""JUnit XML agrees with the exit code; read back with junitparser, an independent parser."""

from __future__ import annotations

import itertools

import pytest

junitparser = pytest.importorskip("junitparser")

from evalkit.records.model import Environment, MetricResult, Report, RequirementResult, SubjectResult  # noqa: E402
from evalkit.report.render import to_junit  # noqa: E402
from evalkit.runner import exit_code_of  # noqa: E402


def rate(name, verdict, passed=90, n=100):
    return RequirementResult(name=name, kind="rate", verdict=verdict, confidence=0.95, target=0.8, at_least=0.8,
                             passed=passed, n=n, value=passed / n, lower=0.83, upper=0.95, method="Clopper-Pearson",
                             more_samples=120 if verdict == "INCONCLUSIVE" else None)


def metric(name, verdict, value=30.0):
    return RequirementResult(name=name, kind="metric", verdict=verdict, confidence=0.95, target=25.0, at_most=25.0,
                             n=1000, value=value, lower=value - 2, upper=value + 2, method="bootstrap")


def report(subjects, strict=False):
    env = Environment(python="3", platform="x", torch="2", evalkit="0", device="cpu")
    r = Report(name="j", spec={}, spec_sha256="0" * 64, started="t", seed=0, environment=env, subjects=subjects,
               strict=strict)
    r.exit_code = exit_code_of(r, strict)
    return r


def parse(xml: str, tmp_path):
    p = tmp_path / "junit.xml"
    p.write_text(xml)
    return junitparser.JUnitXml.fromfile(str(p))


def outcome(case):
    kinds = [type(x).__name__ for x in case.result]
    assert len(kinds) <= 1, kinds  # one <failure>/<skipped>/<error> per case at most
    return kinds[0] if kinds else "passed"


def test_each_case_has_one_outcome_and_counts_match(tmp_path):
    s = SubjectResult(name="m <1>", requirements=[rate("ok", "PASS"), rate("bad & worse", "FAIL"), rate("unsure", "INCONCLUSIVE"),
                                                  metric("fid", "FAIL")],
                      metrics=[MetricResult(name="fid", value=30, lower=28, upper=32, confidence=0.95, method="b", n=1000),
                               MetricResult(name="kid", value=1, lower=0.9, upper=1.1, confidence=0.95, method="b", n=1000)],
                      regressions=["fid", "kid"])
    xml = parse(to_junit(report([s])), tmp_path)
    (suite,) = list(xml)
    got = {c.name: outcome(c) for c in suite}
    assert got == {"ok": "passed", "bad & worse": "Failure", "unsure": "Skipped", "fid": "Failure", "baseline: kid": "Failure"}
    assert suite.failures == 3 and suite.skipped == 1 and suite.tests == 5 and suite.errors == 0
    fid = next(c for c in suite if c.name == "fid")
    assert "REGRESSED" in fid.result[0].message and "FAIL" in fid.result[0].message  # both reasons, one element
    ok = next(c for c in suite if c.name == "ok")
    assert "value 0.9" in ok.system_out and "[0.83, 0.95]" in ok.system_out


def test_strict_makes_inconclusive_a_failure(tmp_path):
    s = SubjectResult(name="m", requirements=[rate("ok", "PASS"), rate("unsure", "INCONCLUSIVE")])
    for strict, expect, code in ((False, "Skipped", 0), (True, "Failure", 1)):
        r = report([s.model_copy(deep=True)], strict=strict)
        assert r.exit_code == code
        (suite,) = list(parse(to_junit(r), tmp_path))
        assert outcome(next(c for c in suite if c.name == "unsure")) == expect
        assert suite.failures == code


@pytest.mark.parametrize("strict", [False, True])
def test_xml_failures_agree_with_exit_code_for_every_combination(tmp_path, strict):
    verdicts = ["PASS", "FAIL", "INCONCLUSIVE"]
    for a, b, regressed in itertools.product(verdicts, verdicts, [(), ("x",), ("y",), ("x", "y")]):
        s = SubjectResult(name="m", requirements=[rate("x", a), metric("y", b)], regressions=list(regressed))
        r = report([s], strict=strict)
        suites = list(parse(to_junit(r), tmp_path))
        failed = sum(outcome(c) == "Failure" for suite in suites for c in suite)
        assert (failed > 0) == (r.exit_code == 1), (a, b, regressed, strict)
        assert failed == sum(suite.failures for suite in suites)


def test_broken_subject_is_an_error(tmp_path):
    s = SubjectResult(name="m", status="broken", error="boom <x>")
    (suite,) = list(parse(to_junit(report([s])), tmp_path))
    assert suite.errors == 1 and outcome(next(iter(suite))) == "Error"
