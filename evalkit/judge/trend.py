"""Change points in a history: did a requirement's rate or a metric's value move, and from which run?

A *series* is one requirement or metric of one subject over K runs, in the order the
runs finished. Each run gives an estimate with the interval its report gave. The
question per series: is there a run j from which the level differs from the level
before it? A *page* is every series of one spec × subject; a page's family-wise error,
the chance that a page of a subject that never changed shows any change point, is at
most 1 − c.

The method (pure statistics, no I/O):

1. **Split statistic.** For every candidate split j = 1 … K−1 (runs 0..j−1 "before",
   runs j..K−1 "from j"), a two-sample z statistic:

   * *rates* (k_i passed of n_i): the pooled binomial test,
     z_j = (p_after − p_before) / √(p̄(1 − p̄)(1/N_before + 1/N_after)), with p̄ the pass
     rate of all K runs pooled (the null's common rate); two-sided, T_j = |z_j|.
   * *metrics* (value v_i with one-sided bounds lower_i/upper_i at confidence c_i):
     each side's standard error is half-width / z_{c_i} (z_c = Φ⁻¹(c)), per side, as
     ``judge.compare`` reads a metric's interval. The runs may scatter more than their
     intervals say (a feature extractor's nondeterminism, an interval that undercovers),
     so a between-run variance τ² is estimated at every split from the spread *within*
     the two segments (DerSimonian–Laird moment estimator with the two segment means as
     the fitted model: τ² = max(0, (Q − (K − 2)) / C)); each run then weighs
     1 / (se_i² + τ²) in its segment's weighted mean. "Up" (the level rose) is tested
     with the before-runs' upward and the after-runs' downward spread, "down" the other
     way, and T_j = max(z_up, z_down). Estimating τ² within the segments, not around one
     common mean, keeps a real shift from inflating τ² and hiding itself. Where a run
     has no interval, every run weighs the same and τ² is the whole within-segment
     variance (a two-sample t statistic).

2. **The series' p-value.** T = max_j T_j. Its null distribution is the permutation
   distribution of the run order: under "no change" the K runs are exchangeable, so
   every order is as likely as the observed one. All K! orders when K! ≤ the
   permutation budget, else that many random orders (fixed seed: a page is
   reproducible) with p = (1 + #{T_perm ≥ T}) / (1 + B). The permutation also
   calibrates what the statistic gets wrong: overdispersed rates, a badly estimated
   τ², the selection of the best split. It is exact when the runs are exchangeable
   under no change (same n, same model, different seeds) and approximate where the
   runs differ in n.

3. **The page.** Bonferroni over the S series of the page that could be tested:
   p_adj = min(1, S · p); a series is flagged, at its best split ĵ, when
   p_adj ≤ 1 − c. Whatever the dependence between a page's series, P(any flag on a
   page with no change) ≤ 1 − c.

One change point per series, the most significant split: a second one would need a
test of its own segment at a level the page has not budgeted. With K runs the
smallest p-value is 1/K!, so a page of S series can flag nothing until
K! ≥ S / (1 − c) (K = 5 suffices for S ≤ 6 at c = 0.95).

Simulated: ``benchmarks/trend.py``, results in ``benchmarks/TREND.md``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Literal, Sequence

import numpy as np
from scipy import stats

MIN_RUNS = 3  # a split needs a run on each side and one degree of freedom for the spread
PERMUTATIONS = 1999
_CHUNK = 256  # permutations per vectorized block (memory: CHUNK × K² floats)

Kind = Literal["rate", "metric"]


@dataclass(frozen=True)
class SeriesTest:
    """The change-point test of one series.

    ``split`` is the first run of the new level (0-based, in the series' order) at the
    largest statistic; ``before``/``after`` the pooled levels on either side of it (the
    rate pooled, or the weighted mean); ``p_value`` the permutation p-value of the max
    statistic over the series' K−1 splits; ``p_adjusted`` and ``flagged`` are filled by
    :func:`adjust_page` (Bonferroni over the page's series)."""

    kind: Kind
    runs: int
    statistic: float
    split: int
    before: float
    after: float
    p_value: float
    permutations: int
    exact: bool
    tau2: float = 0.0
    p_adjusted: float = 1.0
    flagged: bool = False
    method: str = ""

    @property
    def direction(self) -> str:
        return "up" if self.after > self.before else "down"


# ---------------------------------------------------------------- standard errors


def metric_standard_errors(values: Sequence[float], lower: Sequence[float | None], upper: Sequence[float | None],
                           confidence: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per run, the downward and upward standard errors read off the interval (half-width / z_c).

    A run with one bound only uses it for both sides; None when any run has no bound at all
    (then the test weighs runs equally)."""
    lo_se, hi_se = [], []
    for v, lo, hi, c in zip(values, lower, upper, confidence):
        z = float(stats.norm.ppf(c))
        down = (v - lo) / z if lo is not None and math.isfinite(lo) and z > 0 else None
        up = (hi - v) / z if hi is not None and math.isfinite(hi) and z > 0 else None
        if down is None and up is None:
            return None
        down = up if down is None else down
        up = down if up is None else up
        lo_se.append(max(float(down), 0.0))  # type: ignore[arg-type]
        hi_se.append(max(float(up), 0.0))  # type: ignore[arg-type]
    lo_a, hi_a = np.asarray(lo_se), np.asarray(hi_se)
    if np.any(lo_a + hi_a <= 0):  # a zero-width interval: no spread to weigh by
        return None
    return lo_a, hi_a


# ---------------------------------------------------------------- split statistics


def rate_split_statistics(passed: np.ndarray, n: np.ndarray) -> np.ndarray:
    """z_j of the pooled binomial test at every split, for rows of runs: shape (B, K) -> (B, K−1)."""
    passed, n = np.atleast_2d(np.asarray(passed, float)), np.atleast_2d(np.asarray(n, float))
    kb, nb = np.cumsum(passed, axis=1)[:, :-1], np.cumsum(n, axis=1)[:, :-1]
    kt, nt = passed.sum(axis=1, keepdims=True), n.sum(axis=1, keepdims=True)
    ka, na = kt - kb, nt - nb
    pbar = kt / nt
    se = np.sqrt(pbar * (1 - pbar) * (1 / nb + 1 / na))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (ka / na - kb / nb) / se
    return np.asarray(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0))


def _tau2(y: np.ndarray, v: np.ndarray | None) -> np.ndarray:
    """The between-run variance at every split, from the spread within the two segments: (B, K) -> (B, K−1).

    DerSimonian–Laird with weights 1/v where runs have standard errors; the plain within-segment
    variance (pooled over the two segments, K − 2 degrees of freedom) where they do not."""
    k = y.shape[1]
    w = np.ones_like(y) if v is None else 1.0 / v
    y = y - (w * y).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)  # centred: no cancellation in Q
    sums = [np.cumsum(a, axis=1) for a in (w, w * y, w * y * y, w * w)]
    pre = [s[:, :-1] for s in sums]
    post = [s[:, -1:] - p for s, p in zip(sums, pre)]

    def q_and_c(s: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        sw, swy, swyy, sww = s
        return np.maximum(swyy - swy * swy / sw, 0.0), sw - sww / sw

    (qb, cb), (qa, ca) = q_and_c(pre), q_and_c(post)
    q = qb + qa
    if v is None:
        return np.asarray(q / (k - 2))
    c = cb + ca
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(c > 0, (q - (k - 2)) / c, 0.0)
    return np.maximum(t, 0.0)


def metric_split_statistics(y: np.ndarray, se_down: np.ndarray | None, se_up: np.ndarray | None,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z_up, z_down, τ²) at every split, for rows of runs: each (B, K) -> (B, K−1).

    z_up = (m_after − m_before) / se with the after-runs weighed by their downward and the
    before-runs by their upward spread (a false "up" needs both to have erred that way);
    z_down the mirror image. Weights 1 / (se² + τ²), τ² estimated at each split."""
    y = np.atleast_2d(np.asarray(y, float))
    b, k = y.shape
    if se_down is None or se_up is None:
        vd = vu = np.zeros_like(y)
        tau2 = _tau2(y, None)
    else:
        vd, vu = np.atleast_2d(se_down) ** 2, np.atleast_2d(se_up) ** 2
        vd, vu = np.broadcast_to(vd, y.shape), np.broadcast_to(vu, y.shape)
        tau2 = _tau2(y, ((np.sqrt(vd) + np.sqrt(vu)) / 2) ** 2)
    before = np.tri(k - 1, k, 0, dtype=bool)[None]  # [split j-1, run i]: run i is before split j
    t = tau2[:, :, None]

    def mean_and_var(v: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(mask, 1.0 / (v[:, None, :] + t), 0.0)
            sw = w.sum(axis=2)
            return (w * y[:, None, :]).sum(axis=2) / sw, 1.0 / sw

    mb_u, vb_u = mean_and_var(vu, before)
    ma_d, va_d = mean_and_var(vd, ~before)
    mb_d, vb_d = mean_and_var(vd, before)
    ma_u, va_u = mean_and_var(vu, ~before)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_up = (ma_d - mb_u) / np.sqrt(vb_u + va_d)
        z_down = (mb_d - ma_u) / np.sqrt(vb_d + va_u)
    def clean(a: np.ndarray) -> np.ndarray:  # a zero spread: no evidence
        return np.asarray(np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0))

    return clean(z_up), clean(z_down), tau2


# ---------------------------------------------------------------- the permutation test


def _orders(k: int, budget: int, seed: int) -> tuple[np.ndarray, bool]:
    """Every order of k runs when there are at most ``budget``; else ``budget`` random ones (identity excluded)."""
    if math.factorial(k) <= budget:
        return np.array(list(itertools.permutations(range(k))), dtype=np.intp), True
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((budget, k)), axis=1), False


def _max_stat(kind: Kind, data: tuple[np.ndarray, ...]) -> np.ndarray:
    """T = max over splits of the split statistic, per row."""
    if kind == "rate":
        return np.asarray(np.abs(rate_split_statistics(data[0], data[1])).max(axis=1))
    y, down, up = data
    z_up, z_down, _ = metric_split_statistics(y, down if down.size else None, up if up.size else None)
    return np.asarray(np.maximum(z_up, z_down).max(axis=1))


def _permutation_p(kind: Kind, data: tuple[np.ndarray, ...], observed: float, budget: int,
                   seed: int) -> tuple[float, int, bool]:
    k = data[0].shape[0]
    orders, exact = _orders(k, budget, seed)
    hits = 0
    for start in range(0, len(orders), _CHUNK):
        block = orders[start:start + _CHUNK]
        permuted = tuple(a[block] if a.size else a for a in data)
        hits += int((_max_stat(kind, permuted) >= observed * (1 - 1e-12) - 1e-12).sum())
    if exact:  # the identity is among the orders: p = share of orders at least as extreme
        return hits / len(orders), len(orders), True
    return (1 + hits) / (1 + len(orders)), len(orders), False


def change_in_rates(passed: Sequence[int], n: Sequence[int], *, permutations: int = PERMUTATIONS,
               seed: int = 0) -> SeriesTest | None:
    """The change-point test of a rate's series (k_i passed of n_i per run, in run order); None below MIN_RUNS runs."""
    k_arr, n_arr = np.asarray(passed, float), np.asarray(n, float)
    if len(k_arr) < MIN_RUNS or np.any(n_arr <= 0):
        return None
    z = rate_split_statistics(k_arr, n_arr)[0]
    j = int(np.argmax(np.abs(z)))
    observed = float(abs(z[j]))
    p, b, exact = _permutation_p("rate", (k_arr, n_arr), observed, permutations, seed)
    split = j + 1
    before = float(k_arr[:split].sum() / n_arr[:split].sum())
    after = float(k_arr[split:].sum() / n_arr[split:].sum())
    return SeriesTest("rate", len(k_arr), observed, split, before, after, p, b, exact,
                      method="pooled binomial z at each split; max over splits; permutation of run order")


def change_in_metric(values: Sequence[float], lower: Sequence[float | None], upper: Sequence[float | None],
                 confidence: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = 0) -> SeriesTest | None:
    """The change-point test of a metric's series (values with one-sided bounds, in run order); None below MIN_RUNS."""
    y = np.asarray(values, float)
    if len(y) < MIN_RUNS or not np.all(np.isfinite(y)):
        return None
    ses = metric_standard_errors(values, lower, upper, confidence)
    down, up = ses if ses is not None else (np.empty(0), np.empty(0))
    z_up, z_down, tau2 = metric_split_statistics(y, ses[0] if ses else None, ses[1] if ses else None)
    t = np.maximum(z_up, z_down)[0]
    j = int(np.argmax(t))
    observed = float(t[j])
    p, b, exact = _permutation_p("metric", (y, down, up), observed, permutations, seed)
    split = j + 1
    before, after = _weighted_levels(y, ses, float(tau2[0, j]), split)
    weights = "1/(se² + τ²), τ² within segments (DerSimonian–Laird)" if ses else "equal (runs without intervals)"
    return SeriesTest("metric", len(y), observed, split, before, after, p, b, exact, tau2=float(tau2[0, j]),
                      method=f"weighted two-sample z at each split, weights {weights}; max over splits; "
                             "permutation of run order")


def _weighted_levels(y: np.ndarray, ses: tuple[np.ndarray, np.ndarray] | None, tau2: float,
                     split: int) -> tuple[float, float]:
    v = np.zeros_like(y) if ses is None else ((ses[0] + ses[1]) / 2) ** 2
    w = 1.0 / np.maximum(v + tau2, 1e-300) if ses is not None or tau2 > 0 else np.ones_like(y)
    return (float(np.average(y[:split], weights=w[:split])), float(np.average(y[split:], weights=w[split:])))


def adjust_page(tests: Sequence[SeriesTest | None], confidence: float) -> list[SeriesTest | None]:
    """Bonferroni over the tested series of one page: p_adj = min(1, S·p), flagged when p_adj ≤ 1 − confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    s = sum(t is not None for t in tests)
    out: list[SeriesTest | None] = []
    for t in tests:
        if t is None:
            out.append(None)
            continue
        adj = min(1.0, s * t.p_value)
        out.append(replace(t, p_adjusted=adj, flagged=adj <= 1 - confidence))
    return out
