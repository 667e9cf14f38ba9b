"""The change-point test against a brute-force computation written here."""

import itertools
import math

import numpy as np

from evalkit.judge import trend


def _rate_max_z(k, n):
    pbar = sum(k) / sum(n)
    best = 0.0
    for j in range(1, len(k)):
        kb, nb, ka, na = sum(k[:j]), sum(n[:j]), sum(k[j:]), sum(n[j:])
        z = (ka / na - kb / nb) / math.sqrt(pbar * (1 - pbar) * (1 / nb + 1 / na))
        best = max(best, abs(z))
    return best


def test_rate_statistic_and_exact_permutation_p_match_brute_force():
    k, n = [90, 85, 92, 70, 72], [100, 100, 100, 100, 100]
    t = trend.change_in_rates(k, n)
    assert t is not None and t.exact and t.permutations == 120
    assert math.isclose(t.statistic, _rate_max_z(k, n), rel_tol=1e-9)
    obs = _rate_max_z(k, n)
    hits = sum(_rate_max_z([k[i] for i in o], [n[i] for i in o]) >= obs - 1e-9 for o in itertools.permutations(range(5)))
    assert math.isclose(t.p_value, hits / 120)
    assert t.split == 3


def test_page_adjustment_is_bonferroni():
    k, n = [90, 85, 92, 70, 72], [100] * 5
    t = trend.change_in_rates(k, n)
    a, none, b = trend.adjust_page([t, None, t], 0.95)
    assert none is None and math.isclose(a.p_adjusted, min(1.0, 2 * t.p_value))


def test_same_model_pages_rarely_flag():
    rng = np.random.default_rng(7)
    flags = 0
    pages = 100
    for _ in range(pages):
        k = rng.binomial(500, 0.9, 20)
        y = rng.normal(10, 1, 20)
        tests = [trend.change_in_rates(k, [500] * 20, permutations=199),
                 trend.change_in_metric(y, y - 1.645, y + 1.645, [0.95] * 20, permutations=199)]
        flags += any(t.flagged for t in trend.adjust_page(tests, 0.95))
    assert flags / pages <= 0.10  # nominal 0.05: a 2x overclaim fails


def test_a_drift_at_run_20_is_flagged():
    rng = np.random.default_rng(3)
    k = np.concatenate([rng.binomial(500, 0.9, 20), rng.binomial(500, 0.85, 10)])
    t = trend.adjust_page([trend.change_in_rates(k, [500] * 30)], 0.95)[0]
    assert t.flagged and t.split == 20
