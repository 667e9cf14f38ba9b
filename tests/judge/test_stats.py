"""Verdict statistics checked against scipy's Beta quantiles and hand counts."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from evalkit.judge import stats
from evalkit.judge.verdicts import judge_rate


@pytest.mark.parametrize("k,n,c", [(0, 10, 0.95), (10, 10, 0.95), (7, 20, 0.9), (950, 1000, 0.99), (1, 1, 0.5)])
def test_clopper_pearson_matches_beta_quantiles(k, n, c):
    lo = 0.0 if k == 0 else sps.beta.ppf(1 - c, k, n - k + 1)
    hi = 1.0 if k == n else sps.beta.ppf(c, k + 1, n - k)
    assert stats.cp_lower(k, n, c) == pytest.approx(lo, abs=1e-12)
    assert stats.cp_upper(k, n, c) == pytest.approx(hi, abs=1e-12)


def test_hand_computed_cases():
    # 10 of 10 at 95%: lower bound solves p^10 = 0.05 -> p = 0.05 ** 0.1
    assert stats.cp_lower(10, 10, 0.95) == pytest.approx(0.05**0.1, rel=1e-9)
    # 0 of 10: upper bound solves (1-p)^10 = 0.05
    assert stats.cp_upper(0, 10, 0.95) == pytest.approx(1 - 0.05**0.1, rel=1e-9)
    assert stats.decide_rate(10, 10, 0.7, 0.95) == "PASS"  # 0.741 >= 0.7
    assert stats.decide_rate(10, 10, 0.75, 0.95) == "INCONCLUSIVE"
    assert stats.decide_rate(0, 10, 0.3, 0.95) == "FAIL"  # upper 0.259 < 0.3


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 2000), frac=st.floats(0, 1), target=st.floats(0, 1), conf=st.floats(0.5, 0.999))
def test_verdict_never_pass_below_bound_nor_fail_above(n, frac, target, conf):
    k = round(frac * n)
    v = stats.decide_rate(k, n, target, conf)
    lo, hi = stats.cp_lower(k, n, conf), stats.cp_upper(k, n, conf)
    if v == "PASS":
        assert lo >= target
    if v == "FAIL":
        assert hi < target
    if lo < target <= hi:
        assert v == "INCONCLUSIVE"


def test_holm_matches_hand_computation():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_samples_to_decide_is_enough_and_minimal():
    from scipy.stats import beta

    k, n, target, c = 92, 100, 0.85, 0.95
    # the exact one-sided Clopper-Pearson bounds, from the Beta quantiles
    lower, upper = beta.ppf(1 - c, k, n - k + 1), beta.ppf(c, k + 1, n - k)
    expected = "PASS" if lower >= target else ("FAIL" if upper < target else "INCONCLUSIVE")
    assert stats.decide_rate(k, n, target, c) == expected
    more = stats.samples_to_decide(45, 50, 0.85, 0.95)
    assert more is not None and more > 0
    total = 50 + more
    assert stats.decide_rate(round(0.9 * total), total, 0.85, 0.95) == "PASS"
    assert stats.decide_rate(round(0.9 * (total - 1)), total - 1, 0.85, 0.95) != "PASS"


def test_samples_needed_gives_the_power_it_claims():
    n = stats.samples_needed(0.95, 0.9, 0.95, power=0.8)
    kmin = next(k for k in range(n + 1) if stats.cp_lower(k, n, 0.95) >= 0.9)
    assert sps.binom.sf(kmin - 1, n, 0.95) >= 0.8


def test_per_class_holm_and_overall_verdict():
    res = judge_rate("r", 180, 200, 0.8, 0.95, per_class={0: (100, 100), 1: (80, 100)})
    assert [c.verdict for c in res.per_class] == ["PASS", "INCONCLUSIVE"]
    assert res.verdict == "INCONCLUSIVE" and "Holm over 2 classes" in res.correction


# ---- simulation: the stated confidence holds, fixed-n and sequential

def _simulate(p, target, conf, n, batch, runs, sequential, rng):
    from functools import lru_cache

    decide = lru_cache(maxsize=None)(stats.decide_rate)  # the same (k, m) recur across runs
    draws = rng.random((runs, n)) < p
    wrong = 0
    fracs = [min(1.0, (j + 1) * batch / n) for j in range(-(-n // batch))]
    looks = stats.look_confidences(conf, fracs) if sequential else None
    for r in range(runs):
        if sequential:
            verdict = "INCONCLUSIVE"
            for j, c in enumerate(looks):
                m = min(n, (j + 1) * batch)
                verdict = decide(int(draws[r, :m].sum()), m, target, c)
                if verdict != "INCONCLUSIVE":
                    break
        else:
            verdict = decide(int(draws[r].sum()), n, target, conf)
        wrong += verdict == ("PASS" if p < target else "FAIL")
    return wrong / runs


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("side", [-1, 1])
def test_false_verdict_rate_is_bounded(sequential, conf, side):
    rng = np.random.default_rng(1234 + int(conf * 1000) + side)
    target, runs = 0.9, 2000
    p = target + side * 0.005  # just below / just above the target
    rate = _simulate(p, target, conf, 1000, 100, runs, sequential, rng)
    alpha = 1 - conf
    margin = 3 * np.sqrt(alpha * (1 - alpha) / runs)
    assert rate <= alpha + margin, f"false {'PASS' if side < 0 else 'FAIL'} rate {rate:.4f} > {alpha}"


def test_look_confidences_spend_at_most_alpha():
    confs = stats.look_confidences(0.95, [0.1 * i for i in range(1, 11)])
    assert sum(1 - c for c in confs) <= 0.05 + 1e-12
