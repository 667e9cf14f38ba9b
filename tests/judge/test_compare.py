"""The comparison engine, checked against brute force and by its error rates.

Levels of the rate tests are computed *exactly* (enumerating every outcome of the
two binomials or of the paired trinomial), so a test that rejects more than its
level at any tested point fails here without simulation noise.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.judge import compare as cmp
from evalkit.judge.compare import compare_metrics, compare_rates, holm

ALPHA = 0.05


def _fisher_lower_tail(k_a, n_a, k_b, n_b):
    """P(B's passes <= k_b | total passes), by counting tables with math.comb."""
    total = k_a + k_b
    denom = sum(math.comb(n_a, total - j) * math.comb(n_b, j) for j in range(0, min(total, n_b) + 1) if total - j <= n_a)
    num = sum(math.comb(n_a, total - j) * math.comb(n_b, j) for j in range(0, k_b + 1) if total - j <= n_a)
    return num / denom


@pytest.mark.parametrize("k_a,n_a,k_b,n_b", [(9, 10, 3, 10), (18, 20, 15, 25), (0, 5, 0, 7), (40, 50, 45, 50)])
def test_fisher_pvalue_counts_tables(k_a, n_a, k_b, n_b):
    d = compare_rates(k_a, n_a, k_b, n_b, confidence=0.95)
    assert d.p_worse == pytest.approx(_fisher_lower_tail(k_a, n_a, k_b, n_b), rel=1e-9)
    assert d.method.startswith("Fisher")


def test_mcnemar_is_a_binomial_of_the_discordant_pairs():
    a = np.array([1] * 7 + [0] * 2 + [1] * 50 + [0] * 41, bool)
    b = np.array([0] * 7 + [1] * 2 + [1] * 50 + [0] * 41, bool)
    d = compare_rates(0, 0, 0, 0, confidence=0.95, paired_outcomes=(a, b))
    # 7 lost, 2 gained: P(Bin(9, 1/2) >= 7) = (36 + 9 + 1) / 512
    assert d.p_worse == pytest.approx(46 / 512, rel=1e-12)
    assert d.paired and d.n_a == 100 and d.b == pytest.approx(0.52)


def test_restricted_mles_match_a_grid_search():
    rng = np.random.default_rng(5)
    for _ in range(60):
        n_a, n_b = (int(x) for x in rng.integers(2, 200, 2))
        k_a, k_b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        delta = float(rng.uniform(-0.9, 0.9))
        lo, hi = max(0, -delta), min(1, 1 - delta)
        g = np.linspace(lo, hi, 100_001)[1:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = (k_a * np.log(g) + (n_a - k_a) * np.log1p(-g) + k_b * np.log(g + delta) + (n_b - k_b) * np.log1p(-g - delta))
        assert cmp._restricted_pa(k_a, n_a, k_b, n_b, delta) == pytest.approx(g[np.nanargmax(ll)], abs=3e-5)


def test_tango_statistic_matches_a_grid_search_of_its_restricted_mle():
    n, lost, gained, delta = 120, 14, 5, -0.03
    g = np.linspace(max(0, -delta), (1 - delta) / 2, 200_001)[1:-1]
    ll = lost * np.log(g) + gained * np.log(g + delta) + (n - lost - gained) * np.log1p(-2 * g - delta)
    p = g[np.argmax(ll)]
    num = gained - lost - n * delta
    num = math.copysign(max(abs(num) - 1, 0), num)  # the engine's continuity correction of one count
    z = num / math.sqrt(n * (2 * p + delta - delta**2))
    assert cmp._tango_z(lost, gained, n, delta) == pytest.approx(z, rel=1e-4)


def _unpaired_level(n_a, n_b, p_a, tol):
    p_b = p_a - tol  # the boundary of "B not worse by more than tol"
    wa, wb = sps.binom.pmf(np.arange(n_a + 1), n_a, p_a), sps.binom.pmf(np.arange(n_b + 1), n_b, p_b)
    level = 0.0
    for ka in np.nonzero(wa > 1e-14)[0]:
        for kb in np.nonzero(wb > 1e-14)[0]:
            if cmp._unpaired_rate_pvalues(int(ka), n_a, int(kb), n_b, tol)[1] <= ALPHA:
                level += wa[ka] * wb[kb]
    return level


@pytest.mark.parametrize("n_a,n_b", [(30, 30), (20, 60)])
@pytest.mark.parametrize("tol", [0.0, 0.02, 0.1])
def test_unpaired_rate_test_holds_its_level_exactly(n_a, n_b, tol):
    levels = [_unpaired_level(n_a, n_b, p, tol) for p in (0.12, 0.5, 0.8, 0.97, 1.0) if p - tol >= 0]
    assert max(levels) <= ALPHA
    assert max(levels) > 0.004  # not a test that never rejects


def _paired_level(n, p_lost, tol):
    p_gain = p_lost - tol
    level = 0.0
    for lost in range(n + 1):
        pl = sps.binom.pmf(lost, n, p_lost)
        if pl < 1e-14:
            continue
        pg = sps.binom.pmf(np.arange(n - lost + 1), n - lost, p_gain / (1 - p_lost))
        for gained in np.nonzero(pg > 1e-14)[0]:
            if cmp._paired_rate_pvalues(lost, int(gained), n, tol)[1] <= ALPHA:
                level += pl * pg[gained]
    return level


@pytest.mark.parametrize("tol", [0.0, 0.02, 0.05])
def test_paired_rate_test_holds_its_level_exactly(tol):
    levels = [_paired_level(60, p, tol) for p in (0.05, 0.1, 0.3) if p >= tol]
    assert max(levels) <= ALPHA
    assert max(levels) > 0.004


def test_rate_interval_brackets_the_estimate_and_is_one_sided_consistent():
    d = compare_rates(80, 100, 70, 100, confidence=0.95)
    assert d.low < d.diff < d.high
    # the upper bound is where the score statistic for H0: diff = high reaches -z
    assert cmp._fm_z(80, 100, 70, 100, d.high) == pytest.approx(-sps.norm.ppf(0.95), abs=1e-6)


def _metric_false_worse(rng, runs, sd_a, sd_b, shrink=1.0, higher=True):
    """Share of runs flagged worse when both truths are equal; intervals value -/+ z*sd (times shrink)."""
    z = sps.norm.ppf(0.95)
    flagged = 0
    for _ in range(runs):
        a, b = rng.normal(10, sd_a), rng.normal(10, sd_b)
        d = compare_metrics(a, a - z * sd_a * shrink, a + z * sd_a * shrink, b, b - z * sd_b * shrink,
                            b + z * sd_b * shrink, confidence=0.95, higher_is_better=higher, sides="worse")
        flagged += d.verdict == "worse"
    return flagged / runs


def test_metric_comparison_false_worse_rate_is_at_most_alpha():
    rng = np.random.default_rng(11)
    runs = 3000
    se = math.sqrt(ALPHA * (1 - ALPHA) / runs)
    for higher in (True, False):
        assert _metric_false_worse(rng, runs, 1.0, 2.0, higher=higher) <= ALPHA + 2.5 * se
    # intervals half as wide as they should be flag far more often: the check can fail
    assert _metric_false_worse(rng, runs, 1.0, 1.0, shrink=0.5) > 0.1


def test_metric_comparison_reads_asymmetric_intervals_per_side():
    z = sps.norm.ppf(0.95)
    # lower is better (FID-like); B is 3 higher; B's upper side is wide, its lower side narrow
    d = compare_metrics(10, 10 - z, 10 + z, 13, 13 - 0.1 * z, 13 + 5 * z, confidence=0.95, higher_is_better=False)
    # a false "worse" needs B overestimated (its lower side, 0.1) and A underestimated (its upper side, 1)
    assert d.p_worse == pytest.approx(sps.norm.sf(3 / math.hypot(0.1, 1.0)), rel=1e-9)
    assert d.verdict == "worse"


def test_paired_replicates_use_the_spread_of_the_differences():
    rng = np.random.default_rng(2)
    common = rng.normal(0, 5, 400)
    ra, rb = 20 + common + rng.normal(0, 0.1, 400), 20.5 + common + rng.normal(0, 0.1, 400)
    d = compare_metrics(20, 10, 30, 20.5, 10.5, 30.5, confidence=0.95, higher_is_better=False,
                        paired_replicates=(ra, rb))
    assert d.verdict == "worse" and d.paired  # unpaired, these wide intervals could never tell
    assert compare_metrics(20, 10, 30, 20.5, 10.5, 30.5, confidence=0.95, higher_is_better=False).verdict != "worse"


def test_paired_influence_uses_the_spread_of_the_influence_differences():
    """se of B - A = sd(influence_B - influence_A) / sqrt(N), by hand; the p-value and bounds follow."""
    rng = np.random.default_rng(3)
    common = rng.normal(0, 4, 300)
    ia, ib = common + rng.normal(0, 0.5, 300), common + rng.normal(0, 0.5, 300)
    d = compare_metrics(20, 19, 21, 20.2, 19.2, 21.2, confidence=0.95, higher_is_better=False,
                        paired_influence=(ia, ib))
    se = np.sqrt(((ib - ia) - (ib - ia).mean()) @ ((ib - ia) - (ib - ia).mean()) / 299) / np.sqrt(300)
    z = sps.norm.ppf(0.95)
    assert d.paired and "paired delta method" in d.method and "300 shared samples" in d.method
    assert (d.low, d.high) == pytest.approx((0.2 - z * se, 0.2 + z * se), rel=1e-9)
    assert d.p_worse == pytest.approx(sps.norm.sf(0.2 / se), rel=1e-9)
    assert d.verdict == "worse"  # the shared part cancels; unpaired, the +-1 intervals could never tell
    with pytest.raises(ValueError, match="not both"):
        compare_metrics(20, 19, 21, 20.2, 19.2, 21.2, confidence=0.95, higher_is_better=False,
                        paired_influence=(ia, ib), paired_replicates=(ia, ib))
    with pytest.raises(ValueError, match="one length"):
        compare_metrics(20, 19, 21, 20.2, 19.2, 21.2, confidence=0.95, higher_is_better=False,
                        paired_influence=(ia, ib[:-1]))


def test_holm_matches_hand_computation_and_states_itself():
    base = compare_rates(50, 100, 50, 100, confidence=0.95, sides="worse")
    table = [cmp.replace(base, p_worse=p, requirement=str(i)) for i, p in enumerate([0.01, 0.04, 0.03])]
    out = holm(table, 0.95, sides="worse")
    assert [d.p_value for d in out] == pytest.approx([0.03, 0.06, 0.06])
    assert [d.verdict for d in out] == ["worse", "no significant difference", "no significant difference"]
    assert "Holm over 3" in out[0].correction


def test_family_wise_false_regression_rate_over_a_table():
    """30 unchanged requirements per table: any false 'worse' in at most 5 % of tables."""
    rng = np.random.default_rng(3)
    tables, hits = 400, 0
    rates = rng.uniform(0.5, 0.99, 30)
    for _ in range(tables):
        ka, kb = rng.binomial(300, rates), rng.binomial(300, rates)
        table = [compare_rates(int(a), 300, int(b), 300, confidence=0.95, sides="worse") for a, b in zip(ka, kb)]
        hits += any(d.verdict == "worse" for d in holm(table, 0.95, sides="worse"))
    se = math.sqrt(ALPHA * (1 - ALPHA) / tables)
    assert hits / tables <= ALPHA + 2 * se


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="tolerance"):
        compare_rates(1, 2, 1, 2, confidence=0.95, tolerance=-1)
    with pytest.raises(ValueError, match="low <= value <= high"):
        compare_metrics(1, 2, 3, 1, 0, 2, confidence=0.95, higher_is_better=True)
    with pytest.raises(ValueError, match="same samples"):
        compare_rates(0, 0, 0, 0, confidence=0.95, paired_outcomes=(np.ones(3, bool), np.ones(4, bool)))
