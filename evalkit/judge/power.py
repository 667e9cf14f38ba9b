"""Power of the verdict rules evalkit applies: the chance of the right decided verdict.

For a source whose true pass rate is ``p`` (the same in every class), each function
gives the probability that the rule the runner applies says PASS (``p`` above the
target) or FAIL (``p`` below it) at ``n`` samples:

* ``fixed_power`` — one Clopper–Pearson decision at n. Exact (a binomial sum over
  the counts that decide), vectorised over n.
* ``sequential_power`` — the looks of sequential mode (``stats.look_confidences``):
  stop at the first look that decides, else decide at the last look with the error
  left unspent. Exact, by carrying the distribution of passes over the looks; only
  the undecided band of counts is carried, so a look costs O(band), not O(n), and
  all true rates asked share one pass. As if the requirement alone decided when the
  subject stops.
* ``per_class_power`` — Holm over the asked classes, as ``judge_rate`` does: PASS
  needs every class to PASS after Holm, FAIL needs one class to FAIL after Holm. The
  FAIL side is exact (a product over the independent classes); the PASS side is
  simulated from each class's exact distribution of Holm levels (``PER_CLASS_DRAWS``
  runs, common random numbers across n so the search over n is monotone).
* ``sequential_per_class_power`` — the same looks for a per-class requirement (stop
  when every class seen is decided at the look's Bonferroni level; the verdict then
  is Holm at the stopping look's confidence), simulated within a bounded budget of
  draws x looks x classes (``SIM_CELLS``); its standard error is returned with it.

The class counts are the spec's own (labels are a pure function of (seed, i), so
they are known before sampling). Count thresholds come from the binomial duality of
the Clopper–Pearson bounds: the lower bound at k of n is >= t exactly when
P(Bin(n, t) >= k) <= 1 - c, so the smallest passing k is a binomial quantile, found
for every look at once instead of by a bisection per look.

``samples_for_power`` searches the smallest n at which a power function reaches the
asked power (doubling then bisection); ``samples_needed`` does it for every true rate
of a requirement at once (exact n for the one-look rule; for the other rules n on a
grid of steps of at most ``GRID_STEP``, every evaluation shared by all true rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from .._errors import RunError
from .stats import samples_for_power as samples_for_power  # re-exported: the search lives with the exact one-look sizes

if TYPE_CHECKING:
    from torch import Tensor

Rates = Sequence[float] | np.ndarray  # true pass rates, one power each

PER_CLASS_DRAWS = 20_000  # s.e. of a simulated power <= 0.5 / sqrt(20,000) = 0.0035
SEQ_CLASS_DRAWS = 4_000  # at most; fewer when the looks are many (SIM_CELLS)
SEQ_CLASS_MIN_DRAWS = 400  # below this the simulation is refused: s.e. would pass 0.025
SIM_CELLS = 16_000_000  # draws x looks x classes one simulated evaluation may cost
GRID_STEP = 0.03  # relative step of the n searched for the rules that are costly to evaluate


# ---- count thresholds -------------------------------------------------------------------


def pass_threshold(n: ArrayLike, target: ArrayLike, confidence: ArrayLike) -> np.ndarray:
    """Smallest k with ``cp_lower(k, n, confidence) >= target``, for arrays of n and confidence;
    n + 1 where no k passes (confidence 1 included)."""
    n = np.asarray(n, dtype=np.int64)
    alpha = 1.0 - np.asarray(confidence, dtype=float)
    with np.errstate(invalid="ignore"):
        k = np.where(alpha > 0, sps.binom.isf(np.maximum(alpha, 0.0), n, target) + 1, n + 1)
    k = np.where(np.isfinite(k), k, n + 1).astype(np.int64)
    return np.clip(k, 1, n + 1)


def fail_threshold(n: ArrayLike, target: ArrayLike, confidence: ArrayLike) -> np.ndarray:
    """Largest k with ``cp_upper(k, n, confidence) < target``; -1 where no k fails."""
    n = np.asarray(n, dtype=np.int64)
    alpha = 1.0 - np.asarray(confidence, dtype=float)
    with np.errstate(invalid="ignore"):
        k = np.where(alpha > 0, sps.binom.ppf(np.maximum(alpha, 0.0), n, target) - 1, -1)
    k = np.where(np.isfinite(k), k, -1).astype(np.int64)
    return np.clip(k, -1, n)


def _exact_pass_k(n: np.ndarray, target: float | np.ndarray, confidence: float | np.ndarray) -> np.ndarray:
    """``pass_threshold`` checked against the bound the runner computes (beta quantiles), so the
    one-look power decides exactly where ``stats.decide_rate`` does."""
    k = pass_threshold(n, target, confidence)

    def ok(kk: np.ndarray) -> np.ndarray:
        inside = (kk >= 1) & (kk <= n)
        low: np.ndarray = sps.beta.ppf(1.0 - confidence, np.maximum(kk, 1), np.maximum(n - kk + 1, 1))
        return inside & (low >= target)

    for _ in range(4):  # the quantile is right but for float ties: a step or two at most
        down = ok(k - 1)
        up = ~ok(k) & (k <= n)
        if not (down.any() or up.any()):
            break
        k = np.where(down, k - 1, np.where(up, k + 1, k))
    return k


def _exact_fail_k(n: np.ndarray, target: float | np.ndarray, confidence: float | np.ndarray) -> np.ndarray:
    k = fail_threshold(n, target, confidence)

    def ok(kk: np.ndarray) -> np.ndarray:
        inside = (kk >= 0) & (kk < n)
        high: np.ndarray = sps.beta.ppf(confidence, np.maximum(kk + 1, 1), np.maximum(n - kk, 1))
        return inside & (high < target)

    for _ in range(4):
        up = ok(k + 1)
        down = ~ok(k) & (k >= 0)
        if not (down.any() or up.any()):
            break
        k = np.where(up, k + 1, np.where(down, k - 1, k))
    return k


# ---- one look ---------------------------------------------------------------------------


def fixed_powers(p: float, target: float, confidence: float, n: ArrayLike) -> np.ndarray:
    """P(right verdict) of one Clopper–Pearson decision, for an array of n."""
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    out = np.zeros(len(n))
    pos = n > 0
    if p == target or not pos.any():
        return out
    m = n[pos]
    if p > target:
        out[pos] = sps.binom.sf(_exact_pass_k(m, target, confidence) - 1, m, p)
    else:
        out[pos] = sps.binom.cdf(_exact_fail_k(m, target, confidence), m, p)
    return out


def fixed_power(p: float, target: float, confidence: float, n: int) -> float:
    """P(right verdict) of one Clopper–Pearson decision at n."""
    return float(fixed_powers(p, target, confidence, [n])[0])


# ---- sequential looks -------------------------------------------------------------------


def look_plan(n: int, batch_size: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples seen at each look and each look's confidence (the last spends what is left),
    as ``runner.looks.Looks`` computes them, for all looks at once."""
    looks = -(-n // batch_size)
    seen = np.minimum(n, (np.arange(looks) + 1) * batch_size)
    t = seen / n
    alpha = 1 - confidence
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore"):
        total = np.minimum(alpha, 2 - 2 * sps.norm.cdf(z / np.sqrt(t)))
    total = np.where(t >= 1, alpha, np.where(t <= 0, 0.0, total))
    spent = np.concatenate([[0.0], np.maximum.accumulate(total)[:-1]])
    inc = np.maximum(total - spent, 0.0)
    conf = np.where(inc > 0, 1 - inc, 1.0)
    # the last look: the error not spent before it, summed in the runner's order
    conf[-1] = 1 - ((1 - confidence) - sum((1 - conf[:-1]).tolist()))
    return seen, conf


def _add_batch(state: np.ndarray, ps: np.ndarray, add: int) -> np.ndarray:
    """Carry each row's distribution of passes through ``add`` more samples at its rate."""
    if add == 1:  # the common case of batch size 1: one shift, no convolution
        out = np.empty((state.shape[0], state.shape[1] + 1))
        out[:, :-1] = state * (1 - ps)[:, None]
        out[:, -1] = 0.0
        out[:, 1:] += state * ps[:, None]
        return out
    pmf = sps.binom.pmf(np.arange(add + 1)[None, :], add, ps[:, None])
    if add <= 32:
        out = np.zeros((state.shape[0], state.shape[1] + add))
        for i in range(add + 1):
            out[:, i:i + state.shape[1]] += state * pmf[:, i:i + 1]
        return out
    # a long batch: convolve by FFT (numpy's, scipy.signal costs seconds to import)
    size = state.shape[1] + add
    out = np.fft.irfft(np.fft.rfft(state, size, axis=1) * np.fft.rfft(pmf, size, axis=1), size, axis=1)
    return np.maximum(out, 0.0)


NEGLIGIBLE = 1e-15  # mass dropped from the carried band: a power is exact to about 1e-13


def sequential_powers(ps: Rates, target: float, confidence: float, n: int, batch_size: int) -> np.ndarray:
    """P(right verdict) with sequential looks, exact, for every true rate in ``ps`` at once.

    Rows whose undecided mass is negligible leave the carried state, and so do the counts
    at either end of the band that no row reaches but for a negligible mass.
    """
    ps = np.atleast_1d(np.asarray(ps, dtype=float))
    right = np.zeros(len(ps))
    if n <= 0:
        return right
    seen, conf = look_plan(n, batch_size, confidence)
    kmin, kmax = pass_threshold(seen, target, conf), fail_threshold(seen, target, conf)
    rows = np.flatnonzero(ps != target)  # the rows still carried
    state, low, prev = np.ones((len(rows), 1)), 0, 0  # low: the pass count of state's column 0
    for j, (m, a, b) in enumerate(zip(seen.tolist(), kmin.tolist(), kmax.tolist())):
        if not len(rows):
            break
        state = _add_batch(state, ps[rows], m - prev)
        prev = m
        up = ps[rows] > target
        if a - low < state.shape[1]:  # counts >= a PASS at this look; they leave the band
            cut = max(a - low, 0)
            right[rows] += np.where(up, state[:, cut:].sum(axis=1), 0.0)
            state = state[:, :cut]
        if b >= low:  # counts <= b FAIL
            cut = min(b - low + 1, state.shape[1])
            right[rows] += np.where(up, 0.0, state[:, :cut].sum(axis=1))
            state, low = state[:, cut:], low + cut
        if j % 32 == 31 and state.size:
            state, rows, low = _drop_negligible(state, rows, low)
        if state.shape[1] == 0:
            break
    return right


def _drop_negligible(state: np.ndarray, rows: np.ndarray, low: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The carried state without rows of negligible mass and without end columns no row reaches."""
    keep = state.sum(axis=1) > NEGLIGIBLE
    state, rows = state[keep], rows[keep]
    if not len(rows):
        return state, rows, low
    col = state.max(axis=0)
    first = int(np.argmax(np.cumsum(col) > NEGLIGIBLE * 1e-3))
    last = len(col) - int(np.argmax(np.cumsum(col[::-1]) > NEGLIGIBLE * 1e-3))
    return state[:, first:last], rows, low + first


def sequential_power(p: float, target: float, confidence: float, n: int, batch_size: int) -> float:
    """P(right verdict) with sequential looks: exact over the distribution of passes."""
    return float(sequential_powers([p], target, confidence, n, batch_size)[0])


# ---- per class --------------------------------------------------------------------------


def _uniforms(draws: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((draws, *shape))


def _holm_all(levels: np.ndarray) -> np.ndarray:
    """Rows where Holm rejects every hypothesis, from each class's level L (the largest j
    with p <= alpha / j, 0 if none): sorted p_(i) <= alpha / (m - i) is L_(i) >= m - i
    with the levels sorted in decreasing order."""
    m = levels.shape[1]
    srt = -np.sort(-levels, axis=1)
    return np.asarray((srt >= m - np.arange(m)).all(axis=1))


def _class_levels(counts: np.ndarray, target: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the pass counts reaching Holm level j = 1..m (``pass_pvalue <= alpha / j``),
    and the largest count whose ``fail_pvalue <= alpha / m`` (-1 if none)."""
    m = len(counts)
    j = np.arange(1, m + 1)
    with np.errstate(invalid="ignore"):
        reach = sps.binom.isf(alpha / j[None, :], counts[:, None], target) + 1
    reach = np.where(np.isfinite(reach), reach, counts[:, None] + 1)
    q = alpha / m
    k0 = sps.binom.ppf(q, counts, target)
    fail = np.where(sps.binom.cdf(k0, counts, target) <= q, k0, k0 - 1)
    return np.maximum(reach, 1), fail


def per_class_powers(ps: Rates, target: float, confidence: float, counts: Iterable[int], *, draws: int = PER_CLASS_DRAWS,
                     seed: int = 0) -> np.ndarray:
    """P(right verdict) of a per-class requirement (Holm over classes with these counts), every
    rate in ``ps``: the FAIL side exact, the PASS side simulated (s.e. <= 0.5 / sqrt(draws))."""
    ps = np.atleast_1d(np.asarray(ps, dtype=float))
    counts = np.asarray([c for c in counts if c > 0], dtype=np.int64)
    out = np.zeros(len(ps))
    if len(counts) == 0:
        return out
    alpha = 1 - confidence
    reach, fail = _class_levels(counts, target, alpha)
    u = _uniforms(draws, (len(counts),), seed)
    for i, p in enumerate(ps.tolist()):
        p_fail = sps.binom.cdf(fail, counts, p)  # P(this class FAILs after Holm's first step)
        if p < target:
            out[i] = 1 - np.prod(1 - p_fail)
        elif p > target:
            # a run's count is the u-quantile; it reaches level j when u > P(k < reach_j)
            below = sps.binom.cdf(reach - 1, counts[:, None], p)
            levels = (u[:, :, None] > below[None, :, :]).sum(axis=2)
            no_fail = (u > p_fail[None, :]).all(axis=1)
            out[i] = float((_holm_all(levels) & no_fail).mean())
    return out


def per_class_power(p: float, target: float, confidence: float, counts: list[int], *, draws: int = PER_CLASS_DRAWS,
                    seed: int = 0) -> float:
    """P(right verdict) of a per-class requirement: Holm over the classes with these counts."""
    return float(per_class_powers([p], target, confidence, counts, draws=draws, seed=seed)[0])


@dataclass
class _ClassLooks:
    """What the simulation needs of a per-class run's looks: per look, the samples each class
    adds, and the pass/fail count thresholds of each class at the look's Bonferroni level."""

    adds: np.ndarray  # (looks, classes)
    kmin: np.ndarray  # (looks, classes), n + 1 where the class cannot PASS (or is unseen)
    kmax: np.ndarray  # (looks, classes), -1 where it cannot FAIL
    seen: np.ndarray  # (looks, classes) bool: the class has samples by this look
    last_conf: float


def _class_looks(labels: np.ndarray, batch_size: int, target: float, confidence: float) -> _ClassLooks:
    classes, idx = np.unique(labels, return_inverse=True)
    n = len(labels)
    seen_at, conf = look_plan(n, batch_size, confidence)
    onehot = np.zeros((n, len(classes)), dtype=np.int64)
    onehot[np.arange(n), idx] = 1
    cum = np.cumsum(onehot, axis=0)[seen_at - 1]  # (looks, classes): samples of each class by each look
    adds = np.diff(np.vstack([np.zeros((1, len(classes)), np.int64), cum]), axis=0)
    seen = cum > 0
    k_seen = np.maximum(seen.sum(axis=1), 1)  # the runner's Bonferroni counts only the classes seen
    bonf = 1 - (1 - conf[:, None]) / k_seen[:, None]
    bonf = np.broadcast_to(bonf, cum.shape)
    kmin = np.where(seen, pass_threshold(cum, target, bonf), cum + 1)
    kmax = np.where(seen, fail_threshold(cum, target, bonf), -1)
    return _ClassLooks(adds, kmin, kmax, seen, float(conf[-1]))


def sequential_per_class_power(p: float, target: float, confidence: float, labels: np.ndarray, batch_size: int, *,
                               draws: int | None = None, seed: int = 0) -> float:
    """P(right verdict) of a per-class requirement under sequential looks (simulated)."""
    power, _ = sequential_per_class_powers([p], target, confidence, labels, batch_size, draws=draws, seed=seed)
    return float(power[0])


def seq_class_draws(looks: int, classes: int) -> int:
    """Draws one simulated evaluation affords within ``SIM_CELLS``; 0 when under the minimum."""
    d = min(SEQ_CLASS_DRAWS, SIM_CELLS // max(1, looks * classes))
    return d if d >= SEQ_CLASS_MIN_DRAWS else 0


def sequential_per_class_powers(ps: Rates, target: float, confidence: float, labels: ArrayLike, batch_size: int, *,
                                draws: int | None = None, seed: int = 0) -> tuple[np.ndarray, int]:
    """(power of each rate in ``ps``, draws used) of a per-class requirement under sequential looks.

    At a look before the last, the run stops when every class seen is decided at the
    look's Bonferroni level; its verdict is then FAIL if a class is in its FAIL region,
    else PASS (each class's p-value is below alpha / m, so Holm rejects them all). At the
    last look the verdict is Holm at the confidence left.
    """
    ps = np.atleast_1d(np.asarray(ps, dtype=float))
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(len(ps)), 0
    cl = _class_looks(labels, batch_size, target, confidence)
    looks, k_cls = cl.adds.shape
    draws = draws or seq_class_draws(looks, k_cls)
    if not draws:
        raise ValueError(f"{looks} looks x {k_cls} classes is past the simulation budget")
    out = np.zeros(len(ps))
    for i, p in enumerate(ps.tolist()):
        if p != target:
            out[i] = _simulate_class_looks(cl, p, target, draws, seed)
    return out, draws


def _simulate_class_looks(cl: _ClassLooks, p: float, target: float, draws: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    looks, k_cls = cl.adds.shape
    k = np.zeros((draws, k_cls), dtype=np.int64)
    alive = np.ones(draws, bool)
    right = np.zeros(draws, bool)
    want_pass = p > target
    for j in range(looks - 1):
        add = cl.adds[j]
        cols = np.flatnonzero(add)
        k[:, cols] += rng.binomial(add[cols], p, size=(draws, len(cols)))
        passed, failed = k >= cl.kmin[j], k <= cl.kmax[j]
        decided = alive & ((passed | failed) | ~cl.seen[j]).all(axis=1)
        if decided.any():
            any_fail = (failed & cl.seen[j]).any(axis=1)
            right |= decided & (~any_fail if want_pass else any_fail)
            alive &= ~decided
    add = cl.adds[-1]
    cols = np.flatnonzero(add)
    k[:, cols] += rng.binomial(add[cols], p, size=(draws, len(cols)))
    counts = cl.adds.sum(axis=0)
    levels, fails = _levels_of(k[alive], counts, target, 1 - cl.last_conf)
    ok = (_holm_all(levels) & ~fails) if want_pass else fails
    right[np.flatnonzero(alive)[ok]] = True
    return float(right.mean())


def _levels_of(k: np.ndarray, counts: np.ndarray, target: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm levels of each run's classes and whether Holm's first step FAILs one of them."""
    reach, fail = _class_levels(counts, target, alpha)
    levels = (k[:, :, None] >= reach[None, :, :]).sum(axis=2)
    return levels, np.asarray((k <= fail[None, :]).any(axis=1))


# ---- the rule the runner applies, and the search over n ---------------------------------


def rule_power(p: float, n: int, *, target: float, confidence: float, per_class: bool, sequential: bool,
               batch_size: int, labels_at: Callable[[int], np.ndarray] | None) -> float:
    """P(right verdict) at n under the rule the runner applies to this requirement.

    ``labels_at(n)`` gives the asked labels of a run of n (for per-class rules).
    """
    return float(rule_powers([p], n, target=target, confidence=confidence, per_class=per_class,
                             sequential=sequential, batch_size=batch_size, labels_at=labels_at)[0][0])


def rule_powers(ps: Rates, n: int, *, target: float, confidence: float, per_class: bool, sequential: bool,
                batch_size: int, labels_at: Callable[[int], np.ndarray] | None) -> tuple[np.ndarray, int]:
    """(power of each rate in ``ps`` at n, draws behind it; 0 when exact)."""
    batch_size = min(batch_size, n)
    if per_class:
        if labels_at is None:
            raise ValueError("a per-class rule needs the asked labels")
        labels = labels_at(n)
        if sequential:
            return sequential_per_class_powers(ps, target, confidence, labels, batch_size)
        counts = np.bincount(labels)
        return per_class_powers(ps, target, confidence, counts), PER_CLASS_DRAWS
    if sequential:
        return sequential_powers(ps, target, confidence, n, batch_size), 0
    return np.array([fixed_power(p, target, confidence, n) for p in ps]), 0


@dataclass
class Need:
    """The samples a true rate needs: ``n`` (None: not within the limit), the power there and
    its Monte-Carlo standard error (0 when exact); ``beyond`` when the search stopped at a
    size the simulation budget does not afford (then ``n`` is None and ``beyond`` the size)."""

    rate: float
    n: int | None
    power: float | None = None
    se: float = 0.0
    beyond: int | None = None


def _grid(limit: int, start: int = 8) -> list[int]:
    """Sizes searched for the costly rules: every n up to 64, then steps of at most GRID_STEP."""
    out, m = [], start
    while m <= limit:
        out.append(m)
        m = m + 1 if m < 64 else m + max(1, int(m * GRID_STEP))
    return out


def samples_needed(ps: Rates, power: float, *, target: float, confidence: float, per_class: bool, sequential: bool,
                   batch_size: int, labels_at: Callable[[int], np.ndarray] | None,
                   limit: int = 1_000_000) -> list[Need]:
    """For each true rate in ``ps``: the smallest n at which the rule reaches ``power``."""
    ps = [float(p) for p in ps]
    if not (per_class or sequential):
        return [_fixed_need(p, power, target, confidence, limit) for p in ps]
    cache: dict[int, tuple[np.ndarray, int]] = {}
    grid = _grid(limit)

    def at(i: int) -> tuple[np.ndarray, int]:
        m = grid[i]
        if m not in cache:
            cache[m] = rule_powers(ps, m, target=target, confidence=confidence, per_class=per_class,
                                   sequential=sequential, batch_size=batch_size, labels_at=labels_at)
        return cache[m]

    needs = [Need(p, None) if p == target else _grid_need(r, p, power, grid, at) for r, p in enumerate(ps)]
    for need in needs:
        if per_class and not sequential and need.rate < target:
            need.se = 0.0  # the FAIL side of the one-look per-class rule is exact
    return needs


def fixed_needs(rows: list[tuple[float, float, float]], power: float, limit: int = 1_000_000) -> list[Need]:
    """``_fixed_need`` for many (true rate, target, confidence) rows at once: the same doubling
    and bisection, each step one vectorised exact binomial evaluation over every row, so a spec
    of a thousand distinct rate requirements plans in about the time of one."""
    if not rows:
        return []
    p, target, conf = (np.array(col, dtype=float) for col in zip(*rows))
    hi = np.full(len(rows), 8, dtype=np.int64)
    done = _rows_power(p, target, conf, hi) >= power
    while not done.all() and (hi[~done] <= limit).any():
        hi = np.where(done, hi, hi * 2)
        done = done | ((hi <= limit) & (_rows_power(p, target, conf, np.minimum(hi, limit)) >= power))
    found = done & (hi <= limit) & (p != target)
    lo = np.where(hi > 8, hi // 2, 0)
    while True:  # smallest n in (lo, hi] with power >= goal, as samples_for_power bisects
        open_ = found & (hi - lo > 1)
        if not open_.any():
            break
        mid = (lo + hi) // 2
        ok = _rows_power(p, target, conf, np.maximum(mid, 1)) >= power
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid, lo)
    there = _rows_power(p, target, conf, hi)
    return [Need(float(p[i]), int(hi[i]), float(there[i])) if found[i] else Need(float(p[i]), None)
            for i in range(len(rows))]


def _rows_power(p: np.ndarray, target: np.ndarray, conf: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``fixed_powers`` row by row: row i's true rate, target and confidence at its own n."""
    out = np.zeros(len(p))
    up, down = p > target, p < target
    if up.any():
        k = _exact_pass_k(n[up], target[up], conf[up])
        out[up] = sps.binom.sf(k - 1, n[up], p[up])
    if down.any():
        k = _exact_fail_k(n[down], target[down], conf[down])
        out[down] = sps.binom.cdf(k, n[down], p[down])
    return out


def _fixed_need(p: float, power: float, target: float, confidence: float, limit: int) -> Need:
    if p == target:
        return Need(p, None)
    n = samples_for_power(lambda m: fixed_power(p, target, confidence, m), power, limit=limit)
    return Need(p, n, None if n is None else fixed_power(p, target, confidence, n))


def _grid_need(r: int, p: float, power: float, grid: list[int], at: Callable[[int], tuple[np.ndarray, int]]) -> Need:
    """Doubling over grid indices, then the bracket narrowed by interpolation of the power
    (near linear in log n, which the grid's index is) with bisection as a guard."""

    def value(i: int) -> tuple[float, int] | None:
        try:
            pw, draws = at(i)
        except ValueError:  # past the simulation budget
            return None
        return float(pw[r]), draws

    hi, lo, p_lo = 0, -1, 0.0
    while True:
        v = value(hi)
        if v is None:
            return Need(p, None, beyond=grid[hi])
        if v[0] >= power:
            break
        if hi == len(grid) - 1:
            return Need(p, None)
        lo, p_lo = hi, v[0]
        hi = min(len(grid) - 1, _index_at(grid, 2 * grid[hi]))
    p_hi, turn = v[0], 0
    while hi - lo > 1:
        mid = _next_probe(lo, hi, p_lo, p_hi, power, bisect=turn % 3 == 2)
        turn += 1
        v = value(mid)
        if v is not None and v[0] >= power:
            hi, p_hi = mid, v[0]
        else:
            lo, p_lo = mid, (v[0] if v is not None else p_lo)
    last = value(hi)
    if last is None:  # hi was probed and reached the power above; the same probe cannot fail now
        raise RunError(f"internal: the power at n = {grid[hi]} could not be evaluated again")
    pw, draws = last
    return Need(p, grid[hi], pw, math.sqrt(pw * (1 - pw) / draws) if draws else 0.0)


def _next_probe(lo: int, hi: int, p_lo: float, p_hi: float, power: float, bisect: bool) -> int:
    if bisect or p_hi <= p_lo or lo < 0:
        return (lo + hi) // 2
    guess = lo + round((power - p_lo) / (p_hi - p_lo) * (hi - lo))
    return min(hi - 1, max(lo + 1, guess))


def _index_at(grid: list[int], m: int) -> int:
    """Index of the first grid size >= m (the last index when m is past the grid)."""
    i = int(np.searchsorted(grid, m))
    return min(i, len(grid) - 1)


# ---- metric bounds on real data ----------------------------------------------------------


def metric_reference_power(interval: Callable[[object, object], tuple[float, float]], real: Tensor, size: int, *,
                           at_least: float | None, at_most: float | None, draws: int = 8, seed: int = 0) -> float:
    """Share of draws in which real data PASSes a metric bound at N = ``size``.

    The reference is split in two seeded halves: one plays the reference, ``size``
    images drawn without replacement from the other play an ideal generator, and
    ``interval(reference_half, drawn)`` gives the metric's one-sided bounds.
    """
    passed, _ = metric_reference_shares(interval, real, size, at_least=at_least, at_most=at_most,
                                        max_draws=draws, min_draws=draws, seed=seed)
    return passed


def metric_reference_shares(interval: Callable[[object, object], tuple[float, float]], real: Tensor, size: int, *,
                            at_least: float | None, at_most: float | None, max_draws: int, min_draws: int = 20,
                            se_goal: float = 0.01, time_budget: float | None = None, decide_at: float | None = None,
                            seed: int = 0) -> tuple[float, int]:
    """(share of draws PASSing, draws made): draws go on until the share's standard error is
    at most ``se_goal``, or (with ``decide_at``) its 2-s.e. interval leaves that power, or
    ``max_draws`` or ``time_budget`` seconds are spent; never fewer than ``min_draws``."""
    import time

    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(real), generator=g)
    half = len(real) // 2
    ref, held = real[perm[:half]], real[perm[half:]]
    if size > len(held):
        raise ValueError(f"N = {size} exceeds the held-out half ({len(held)} images)")
    t0, passed, draws = time.monotonic(), 0, 0
    while draws < max_draws:
        low, high = interval(ref, held[torch.randperm(len(held), generator=g)[:size]])
        passed += (at_least is None or low >= at_least) and (at_most is None or high <= at_most)
        draws += 1
        if draws >= min_draws and _share_settled(passed, draws, se_goal, decide_at):
            break
        if draws >= min_draws and time_budget is not None and time.monotonic() - t0 > time_budget:
            break
    return passed / draws, draws


def _share_settled(passed: int, draws: int, se_goal: float, decide_at: float | None) -> bool:
    share = passed / draws
    # a share of 0 or 1 has an estimated s.e. of 0: use the rule-of-three width instead
    se = max(math.sqrt(share * (1 - share) / draws), 1.5 / draws)
    if se <= se_goal:
        return True
    return decide_at is not None and abs(share - decide_at) > 2 * se


def metric_sizes(n: int, held_out: int) -> list[int]:
    """The N at which ``evalkit plan`` tries a metric on real data: a 1-3-10 ladder and the spec's n."""
    ladder = [10, 30, 100, 300, 1000, 3000, 10000, 30000]
    return sorted({m for m in ladder + [n] if m <= held_out})
