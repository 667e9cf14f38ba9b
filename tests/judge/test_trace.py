"""Sequential mode records the bound at every look (for the report's plot)."""

from __future__ import annotations

import pytest
from scipy import stats

import evalkit
from tests.specs import REFERENCE, REQUIREMENT


def test_looks_recorded_with_their_bounds(make_spec, tmp_path):
    spec = make_spec(name="seq", reference=dict(REFERENCE, range=[0, 400]),
                     subjects=[{"model": "dataset", "params": {"range": [5000, 6000]}}],
                     sampling={"n": 400, "batch_size": 50, "seed": 3, "sequential": True},
                     requirements=[dict(REQUIREMENT, at_least=0.5),
                                   {"name": "inky", "where": "0.02 < ink < 0.8", "at_least": 0.3}])
    report = evalkit.run(spec, write=False)
    sub = report.subjects[0]
    assert sub.stopped_early  # both rates are far above their targets
    for r in sub.requirements:
        looks = r.looks
        assert [lk.n for lk in looks] == [50 * (j + 1) for j in range(len(looks))]
        assert looks[-1].n == r.n and looks[-1].passed == r.passed
        assert looks[-1].confidence == r.confidence and looks[-1].lower == pytest.approx(r.lower)
        assert all(a.confidence < 1 for a in looks)
        for lk in looks:  # one-sided Clopper-Pearson, from scipy's Beta quantiles
            k, n, c = lk.passed, lk.n, lk.confidence
            low = 0.0 if k == 0 else stats.beta.ppf(1 - c, k, n - k + 1)
            high = 1.0 if k == n else stats.beta.ppf(c, k + 1, n - k)
            assert lk.lower == pytest.approx(low, rel=1e-9) and lk.upper == pytest.approx(high, rel=1e-9)


def test_no_looks_without_sequential_mode(basic_spec):
    report = evalkit.run(basic_spec, write=False)
    assert all(not r.looks for r in report.subjects[0].requirements)
