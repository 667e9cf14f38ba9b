"""Equivalence (TOST) and non-inferiority: hand-computed p-values, verdicts consistent with the
intervals, and simulated error rates (false equivalence at the margin <= 1 - c; power at 0)."""

import math

import numpy as np
import pytest
from scipy import stats

from evalkit.judge.equivalence import judge_table, metric_equivalence, rate_equivalence

ZC = stats.norm.ppf(0.95)
ALPHA = 0.05


def _metric(d, margin=0.5, test="equivalent", hib=False, se=0.1, n=1000):
    # A = 0 and B = d, each with one-sided bounds at 0.95 of half-width ZC*se: B - A has spread se*sqrt(2)
    h = ZC * se
    return metric_equivalence(0.0, -h, h, d, d - h, d + h, confidence=0.95, margin=margin, test=test,
                              higher_is_better=hib, n_a=n, n_b=n, requirement=f"m{d}")


def test_tost_p_is_the_larger_one_sided_p_and_the_interval_agrees():
    se = 0.1 * math.sqrt(2)
    for d in (0.0, 0.2, 0.3, 0.45, 0.6):
        e = judge_table([_metric(d)], 0.95)[0]
        p_hand = max(stats.norm.sf((d + 0.5) / se), stats.norm.cdf((d - 0.5) / se))
        assert e.p_value == pytest.approx(p_hand, rel=1e-9)
        inside = e.low >= -0.5 and e.high <= 0.5
        assert (e.verdict == "PASS") == inside == (p_hand <= ALPHA)
    # d = 0.3: p = Phi((0.3-0.5)/0.1414) = 0.0786 -> INCONCLUSIVE; the n that would decide, in closed form
    e = judge_table([_metric(0.3)], 0.95)[0]
    assert e.verdict == "INCONCLUSIVE"
    assert e.n_to_decide == math.ceil((se ** 2 * 1000) * (ZC / (0.5 - 0.3)) ** 2)
    assert judge_table([_metric(0.9)], 0.95)[0].verdict == "FAIL"  # the whole interval beyond +0.5


def test_non_inferiority_tests_only_the_loss():
    se = 0.1 * math.sqrt(2)
    # lower is better: a loss is B - A > 0; a large gain (-0.9) is non-inferior, not "not equivalent"
    e = judge_table([_metric(-0.9, test="non_inferior")], 0.95)[0]
    assert e.verdict == "PASS" and e.p_value == pytest.approx(stats.norm.sf((0.5 + 0.9) / se))
    assert judge_table([_metric(-0.9)], 0.95)[0].verdict == "FAIL"
    assert judge_table([_metric(0.95, test="non_inferior")], 0.95)[0].verdict == "FAIL"


def test_holm_over_the_family_by_hand():
    table = [_metric(d) for d in (0.0, 0.2, 0.25)]
    se = 0.1 * math.sqrt(2)
    raw = [max(stats.norm.sf((d + 0.5) / se), stats.norm.cdf((d - 0.5) / se)) for d in (0.0, 0.2, 0.25)]
    # raw ascending already: x3, x2, x1 with a running max
    hand = [3 * raw[0], max(3 * raw[0], 2 * raw[1]), max(3 * raw[0], 2 * raw[1], raw[2])]
    out = judge_table(table, 0.95)
    assert [e.p_value for e in out] == pytest.approx(hand, rel=1e-9)
    for e in out:
        assert (e.verdict == "PASS") == (e.low >= -0.5 and e.high <= 0.5)


def test_rate_tost_interval_and_verdict_agree_over_many_tables():
    rng = np.random.default_rng(11)
    for _ in range(200):
        ka, kb = rng.binomial(400, 0.8, 2)
        oa = rng.random(300) < 0.8
        ob = np.where(rng.random(300) < 0.9, oa, rng.random(300) < 0.8)
        table = [rate_equivalence(int(ka), 400, int(kb), 400, margin=0.06),
                 rate_equivalence(0, 0, 0, 0, margin=0.05, paired_outcomes=(oa, ob)),
                 rate_equivalence(int(ka), 400, int(kb), 400, margin=0.03, test="non_inferior")]
        for e in judge_table(table, 0.95):
            ok = e.low >= -e.margin if e.test == "non_inferior" else (e.low >= -e.margin and e.high <= e.margin)
            assert (e.verdict == "PASS") == ok, e


def _false_pass_rate(draw, tables):
    hits = sum(judge_table([draw()], 0.95)[0].verdict == "PASS" for _ in range(tables))
    return hits / tables


def test_false_equivalence_at_the_margin_is_at_most_alpha():
    """True difference = the margin (the worst case of H0): PASS in <= 5 % (+2 se; a 10 % claim fails)."""
    rng = np.random.default_rng(5)
    tables = 800
    bound = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / tables)
    n, m = 800, 0.05
    unpaired = _false_pass_rate(lambda: rate_equivalence(int(rng.binomial(n, 0.8)), n, int(rng.binomial(n, 0.85)), n,
                                                         margin=m), tables)

    def paired():
        # per sample: lost w.p. 0.05, gained w.p. 0.10 -> B - A = +0.05 exactly at the margin
        u = rng.random(n)
        oa = np.where(u < 0.05, True, np.where(u < 0.15, False, rng.random(n) < 0.8))
        ob = np.where(u < 0.05, False, np.where(u < 0.15, True, oa))
        return rate_equivalence(0, 0, 0, 0, margin=m, paired_outcomes=(oa, ob))
    paired_rate = _false_pass_rate(paired, tables)

    def metric():
        a, b = rng.normal(0, 0.1), rng.normal(0.5, 0.1)  # each value's spread 0.1; true B - A = the margin 0.5
        h = ZC * 0.1
        return metric_equivalence(a, a - h, a + h, b, b - h, b + h, confidence=0.95, margin=0.5,
                                  higher_is_better=False, n_a=500, n_b=500)
    metric_rate = _false_pass_rate(metric, tables)
    assert max(unpaired, paired_rate, metric_rate) <= bound, (unpaired, paired_rate, metric_rate)


def test_power_at_no_difference_grows_with_n_and_pairing_helps():
    rng = np.random.default_rng(6)

    def unpaired(n):
        return rate_equivalence(int(rng.binomial(n, 0.8)), n, int(rng.binomial(n, 0.8)), n, margin=0.05)

    def paired(n):
        oa = rng.random(n) < 0.8
        ob = np.where(rng.random(n) < 0.9, oa, rng.random(n) < 0.8)  # the same model, 10 % of samples redrawn
        return rate_equivalence(0, 0, 0, 0, margin=0.05, paired_outcomes=(oa, ob))
    p_small, p_big = _false_pass_rate(lambda: unpaired(300), 300), _false_pass_rate(lambda: unpaired(2000), 300)
    p_paired = _false_pass_rate(lambda: paired(300), 300)
    assert p_small < 0.3 < 0.9 < p_big
    assert p_paired > 0.9  # the discordant pairs are few: the paired interval is narrow


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="margin"):
        rate_equivalence(1, 2, 1, 2, margin=0)
    with pytest.raises(ValueError, match="test must be"):
        rate_equivalence(1, 2, 1, 2, margin=0.1, test="same")
    with pytest.raises(ValueError, match="pass counts"):
        rate_equivalence(3, 2, 1, 2, margin=0.1)
