"""The numbers a decision used: Holm-adjusted p-values and intervals consistent with every verdict."""

import math

import numpy as np
import pytest
from scipy import stats

from evalkit.judge.compare import compare_metrics, compare_rates, decided_level, holm

ZC = stats.norm.ppf(0.95)


def _metric(d, requirement):
    # A = 0 with spread 1, B = d with spread 1 (symmetric one-sided bounds at 0.95): se of B - A is sqrt(2)
    return compare_metrics(0.0, -ZC, ZC, d, d - ZC, d + ZC, confidence=0.95, higher_is_better=False, sides="worse",
                           requirement=requirement)


def test_adjusted_p_and_interval_match_a_hand_computed_holm_table():
    diffs = [4.2, 3.4, 2.9, 0.5]
    out = holm([_metric(d, str(i)) for i, d in enumerate(diffs)], 0.95, sides="worse")
    se = math.sqrt(2)
    raw = [stats.norm.sf(d / se) for d in diffs]  # lower is better: "worse" is B - A > 0
    order = np.argsort(raw)
    adjusted, running = [0.0] * 4, 0.0
    for rank, j in enumerate(order):
        running = max(running, min(1.0, (4 - rank) * raw[j]))
        adjusted[j] = running
    alpha = 0.05
    for d, p, pa, row in zip(diffs, raw, adjusted, out):
        assert row.p_value == pytest.approx(pa, rel=1e-9)
        level = 1 - alpha * p / pa
        # the bound deciding "worse" for a lower-is-better metric is the lower one
        assert row.adj_low == pytest.approx(d - stats.norm.ppf(level) * se, rel=1e-9)
        assert (row.verdict == "worse") == (pa <= alpha) == (row.adj_low >= 0)
    # by hand: raw p = 0.00149, 0.00810, 0.0202, 0.362 -> x4, x3, x2, x1 = 0.00596, 0.0243, 0.0403, 0.362
    assert [round(x, 4) for x in adjusted] == [0.006, 0.0243, 0.0403, 0.3618]
    assert [r.verdict for r in out] == ["worse", "worse", "worse", "no significant difference"]


def test_holm_rejects_where_bonferroni_intervals_would_not_and_the_row_agrees():
    """The third row is rejected by Holm (p_adj = 0.0403) though its Bonferroni bound (1 - 0.05/4) includes 0."""
    out = holm([_metric(d, str(i)) for i, d in enumerate([4.2, 3.4, 2.9, 0.5])], 0.95, sides="worse")
    third = out[2]
    assert 2.9 - stats.norm.ppf(1 - 0.05 / 4) * math.sqrt(2) < 0 < third.adj_low
    assert third.verdict == "worse"


def test_an_unadjusted_interval_excluding_zero_is_not_printed_beside_no_regression():
    """The issue's case: Holm p 0.07 beside an unadjusted interval excluding 0; the adjusted one includes it."""
    table = [_metric(2.6, "a"), _metric(2.5, "b")]
    out = holm(table, 0.95, sides="worse")
    assert all(r.low > 0 for r in out)  # unadjusted: each alone looks significant
    assert all(r.verdict == "no significant difference" and r.p_value > 0.05 for r in out)
    assert all(r.adj_low < 0 for r in out)


def _excludes(d, direction):
    if direction == "worse":
        return d.adj_high <= -d.tolerance if d.higher_is_better else d.adj_low >= d.tolerance
    return d.adj_low >= d.tolerance if d.higher_is_better else d.adj_high <= -d.tolerance


@pytest.mark.parametrize("sides", ["worse", "both"])
def test_adjusted_interval_excludes_the_tolerance_exactly_when_the_verdict_says_so(sides):
    rng = np.random.default_rng(7)
    rows = 0
    for _ in range(120):
        table = []
        for j in range(6):
            tol = (0.0, 0.02)[j % 2]
            ka, kb = rng.binomial(200, 0.8), rng.binomial(200, 0.8 - rng.uniform(-0.1, 0.12))
            table.append(compare_rates(int(ka), 200, int(kb), 200, confidence=0.95, tolerance=tol, sides=sides,
                                       higher_is_better=bool(j % 3)))
            oa = rng.random(150) < 0.8
            ob = np.where(rng.random(150) < 0.85, oa, rng.random(150) < 0.7)
            table.append(compare_rates(0, 0, 0, 0, confidence=0.95, tolerance=tol, sides=sides, paired_outcomes=(oa, ob)))
            va = rng.normal(10, 1)
            vb = va + rng.normal(0.8, 0.7)
            table.append(compare_metrics(va, va - 1, va + 1.3, vb, vb - 1.2, vb + 1, confidence=0.95,
                                         higher_is_better=bool(j % 2), tolerance=tol * 10, sides=sides))
        for d in holm(table, 0.95, sides=sides):
            rows += 1
            assert _excludes(d, "worse") == (d.verdict == "worse"), d
            if sides == "both":
                assert _excludes(d, "better") == (d.verdict == "better"), d
    assert rows == 120 * 18


def test_decided_level_lies_between_unadjusted_and_bonferroni():
    assert decided_level(0.01, 0.04, 0.05) == pytest.approx(1 - 0.05 / 4)
    assert decided_level(0.3, 1.0, 0.05) == pytest.approx(1 - 0.05 * 0.3)
    assert decided_level(0.0, 0.0, 0.05) == pytest.approx(0.95)


def test_untested_metric_has_no_adjusted_interval():
    d = compare_metrics(1, 0.5, 1.5, 2, 1.5, 2.5, confidence=0.95, higher_is_better=True, bounds_hold=False)
    assert math.isnan(d.adj_low) and math.isnan(d.adj_high) and "not tested" in d.adjusted_rule
