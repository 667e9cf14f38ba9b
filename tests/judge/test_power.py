"""Power of the applied rules, checked against simulations of the runner's own code."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.cli import main
from evalkit.judge import power, stats
from evalkit.judge.verdicts import judge_rate
from evalkit.plan import make_plan
from evalkit.runner.looks import Looks
from evalkit.runner.state import RateState, SubjectState
from evalkit.spec.load import load_spec
from tests.specs import OMIT, REFERENCE


def test_fixed_power_is_the_binomial_sum_over_passing_counts():
    n, target, c, p = 300, 0.9, 0.95, 0.94
    passing = [k for k in range(n + 1) if k > 0 and sps.beta.ppf(1 - c, k, n - k + 1) >= target]
    assert power.fixed_power(p, target, c, n) == pytest.approx(sps.binom.pmf(passing, n, p).sum(), rel=1e-9)


def _simulated_per_class(p, target, c, counts, runs, rng):
    right = 0
    for _ in range(runs):
        pc = {i: (int(rng.binomial(m, p)), m) for i, m in enumerate(counts)}
        k, n = sum(v[0] for v in pc.values()), sum(counts)
        v = judge_rate("r", k, n, target, c, per_class=pc).verdict
        right += v == ("PASS" if p > target else "FAIL")
    return right / runs


@pytest.mark.parametrize("p", [0.92, 0.74])
def test_per_class_power_matches_the_judge_holm_rule(p):
    counts = [95, 105, 88, 112, 100, 97, 103, 99, 101, 100]
    runs = 700
    sim = _simulated_per_class(p, 0.8, 0.95, counts, runs, np.random.default_rng(1))
    got = power.per_class_power(p, 0.8, 0.95, counts)
    se = math.sqrt(got * (1 - got) / runs + got * (1 - got) / 4000)
    assert abs(got - sim) <= 3 * se + 0.005
    assert 0.3 < sim < 0.95  # a point where power is in question, not a trivial 0 or 1


def _sequential_spec(make_spec, n, bs, target):
    return make_spec(name="seq", reference=OMIT, subjects=[{"model": "dataset"}],
                     sampling={"n": n, "batch_size": bs, "sequential": True},
                     requirements=[{"name": "r", "check": "in_range", "at_least": target}])

def _simulated_sequential(make_spec, p, target, n, bs, runs, rng):
    plan = make_plan(load_spec(_sequential_spec(make_spec, n, bs, target)))
    looks = Looks(plan, n, bs)
    right = 0
    for _ in range(runs):
        rs, stopped = RateState(), None
        for j in range(looks.total):
            m = min(bs, n - rs.n)
            rs.passed += int(rng.binomial(m, p))
            rs.n += m
            if looks.decided(SubjectState([rs]), j):
                stopped = j
                break
        conf = looks.final(stopped)[0]
        right += stats.decide_rate(rs.passed, rs.n, target, conf) == ("PASS" if p > target else "FAIL")
    return right / runs


@pytest.mark.parametrize("p", [0.94, 0.86])
def test_sequential_power_matches_the_runner_looks(make_spec, p):
    runs = 1200
    sim = _simulated_sequential(make_spec, p, 0.9, 400, 50, runs, np.random.default_rng(2))
    got = power.sequential_power(p, 0.9, 0.95, 400, 50)
    assert abs(got - sim) <= 3 * math.sqrt(got * (1 - got) / runs) + 0.005
    # one look at n would have a different chance: the plan must model the looks
    assert abs(power.fixed_power(p, 0.9, 0.95, 400) - got) > 0.1


def test_samples_for_power_is_minimal_for_a_monotone_rule():
    f = lambda m: power.fixed_power(0.95, 0.9, 0.95, m)  # noqa: E731
    n = power.samples_for_power(f, 0.8)
    assert f(n) >= 0.8 and f(n - 1) < 0.8


def test_plan_reads_the_number_of_classes_from_the_model(make_spec, capsys):
    spec = make_spec(name="pc", reference=OMIT, subjects=[{"model": "usergen:Striped"}],
                     sampling={"n": 600, "batch_size": 100, "labels": [0, 1, 2]},
                     requirements=[{"name": "r", "check": "in_range", "at_least": 0.8, "per_class": True}])
    assert main(["plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Holm over 3 classes" in out


def test_plan_tries_metric_bounds_on_held_out_real_data_and_warns(make_spec, capsys):
    spec = make_spec(name="mp", reference=dict(REFERENCE, range=[0, 400]),
                     subjects=[{"model": "dataset", "params": {"range": [5000, 6000]}}],
                     sampling={"n": 100, "batch_size": 50},
                     requirements=[{"name": "reachable", "metric": "precision", "at_least": 0.05},
                                   {"name": "unreachable", "metric": "precision", "at_least": 0.9999}])
    assert main(["plan", str(spec)]) == 0
    out = capsys.readouterr().out
    reachable, unreachable = out.split("unreachable:")
    assert "real data PASSes with power 0.8 from N = " in reachable
    assert "WARNING: even real data does not PASS this bound" in unreachable


def test_fixed_needs_vectorised_equals_one_row_at_a_time_and_reaches_the_power():
    """The plan's one-vectorised-search path gives each row the size the row-by-row search gives,
    and the power there (recomputed here by an exact binomial sum) reaches the goal while one
    sample fewer, at the bisection's bracket, does not."""
    import numpy as np
    from scipy import stats as sps

    from evalkit.judge.power import _fixed_need, fixed_needs
    from evalkit.judge.stats import cp_lower

    rows = [(0.95, 0.9, 0.95), (0.8, 0.9, 0.95), (0.99, 0.97, 0.9), (0.6, 0.5, 0.99), (0.45, 0.5, 0.95)]
    got = fixed_needs(rows, 0.8)
    for (p, t, c), g in zip(rows, got):
        assert g.n == _fixed_need(p, 0.8, t, c, 1_000_000).n
        if p > t:  # PASS side: P(k >= smallest passing k), the passing k found by brute force
            k = next(k for k in range(g.n + 1) if k > 0 and cp_lower(k, g.n, c) >= t)
            assert sps.binom.sf(k - 1, g.n, p) >= 0.8
            assert abs(sps.binom.sf(k - 1, g.n, p) - g.power) < 1e-9
    assert np.isfinite([g.power for g in got]).all()
