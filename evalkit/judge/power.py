"""Power of the verdict rules evalkit applies: the chance of the right decided verdict.

For a source whose true pass rate is ``p`` (the same in every class), each function
gives the probability that the rule the runner applies says PASS (``p`` above the
target) or FAIL (``p`` below it) at ``n`` samples:

* ``fixed_power`` — one Clopper–Pearson decision at n (exact binomial sums).
* ``per_class_power`` — Holm over the asked classes, as ``judge_rate`` does: PASS
  needs every class to PASS after Holm, FAIL needs one class to FAIL after Holm.
  The class counts are the spec's own (labels are a pure function of (seed, i), so
  they are known before sampling); the outcomes are simulated (``draws`` runs,
  common random numbers across n so the search over n is monotone), s.e. <= 0.008.
* ``sequential_power`` — the looks of sequential mode (``stats.look_confidences``):
  stop at the first look that decides, else decide at the last look with the error
  left unspent. Exact, by carrying the distribution of passes over the looks. As if
  the requirement alone decided when the subject stops.
* ``sequential_per_class_power`` — the same looks for a per-class requirement
  (stop when every class is decided at the look's Bonferroni level; the verdict then
  is Holm at the stopping look's confidence), simulated.

``samples_for_power`` searches the smallest n at which a power function reaches
the asked power (doubling then bisection).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import stats as sps

from . import stats
from .stats import samples_for_power  # noqa: F401  (the search lives with the exact one-look sizes)


def _alpha_holm_pass_all(p_pass: np.ndarray, alpha: float) -> np.ndarray:
    """Rows (runs) where Holm rejects every hypothesis: sorted p_(i) <= alpha / (m - i)."""
    m = p_pass.shape[1]
    srt = np.sort(p_pass, axis=1)
    limits = alpha / (m - np.arange(m))
    return (srt <= limits).all(axis=1)


def _holm_any(p: np.ndarray, alpha: float) -> np.ndarray:
    """Rows where Holm rejects at least one hypothesis: its first step, min p <= alpha / m."""
    return p.min(axis=1) <= alpha / p.shape[1]


def fixed_power(p: float, target: float, confidence: float, n: int) -> float:
    """P(right verdict) of one Clopper–Pearson decision at n."""
    if n <= 0 or p == target:
        return 0.0
    if p > target:
        kmin = stats._min_pass_k(n, target, confidence)
        return 0.0 if kmin is None else float(sps.binom.sf(kmin - 1, n, p))
    kmax = stats._max_fail_k(n, target, confidence)
    return 0.0 if kmax is None else float(sps.binom.cdf(kmax, n, p))


def _class_pvalues(k: np.ndarray, n: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """(pass, fail) p-values of every class of every run, as ``stats.pass_pvalue``/``fail_pvalue``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p_pass = np.where((k > 0) & (n > 0), sps.binom.sf(k - 1, n, target), 1.0)
        p_fail = np.where(n > 0, sps.binom.cdf(k, n, target), 1.0)
    return p_pass, p_fail


def _uniforms(draws: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((draws, *shape))


def per_class_power(p: float, target: float, confidence: float, counts: list[int], *, draws: int = 4000,
                    seed: int = 0) -> float:
    """P(right verdict) of a per-class requirement: Holm over the classes with these counts."""
    if p == target or not counts:
        return 0.0
    n = np.asarray(counts)
    k = sps.binom.ppf(_uniforms(draws, (len(n),), seed), n, p)
    p_pass, p_fail = _class_pvalues(k, n, target)
    alpha = 1 - confidence
    if p > target:
        ok = _alpha_holm_pass_all(p_pass, alpha) & ~_holm_any(p_fail, alpha)
    else:
        ok = _holm_any(p_fail, alpha)
    return float(ok.mean())


def _look_plan(n: int, batch_size: int, confidence: float) -> tuple[list[int], list[float]]:
    """Samples seen at each look and each look's confidence (the last spends what is left)."""
    looks = -(-n // batch_size)
    seen = [min(n, (j + 1) * batch_size) for j in range(looks)]
    conf = stats.look_confidences(confidence, [s / n for s in seen])
    conf[-1] = 1 - ((1 - confidence) - sum(1 - c for c in conf[:-1]))
    return seen, conf


def sequential_power(p: float, target: float, confidence: float, n: int, batch_size: int) -> float:
    """P(right verdict) with sequential looks: exact over the distribution of passes."""
    if p == target or n <= 0:
        return 0.0
    seen, conf = _look_plan(n, batch_size, confidence)
    undecided = np.array([1.0])  # mass of each pass count among runs not yet stopped
    right, prev = 0.0, 0
    for m, c in zip(seen, conf):
        undecided = np.convolve(undecided, sps.binom.pmf(np.arange(m - prev + 1), m - prev, p))
        prev = m
        kmin = stats._min_pass_k(m, target, c) if c < 1 else None
        kmax = stats._max_fail_k(m, target, c) if c < 1 else None
        if kmin is not None:
            right += undecided[kmin:].sum() if p > target else 0.0
            undecided[kmin:] = 0.0
        if kmax is not None:
            right += undecided[: kmax + 1].sum() if p < target else 0.0
            undecided[: kmax + 1] = 0.0
    return float(right)


def sequential_per_class_power(p: float, target: float, confidence: float, labels: np.ndarray, batch_size: int, *,
                               draws: int = 2000, seed: int = 0) -> float:
    """P(right verdict) of a per-class requirement under sequential looks (simulated)."""
    labels = np.asarray(labels)
    n = len(labels)
    if p == target or n == 0:
        return 0.0
    classes = np.unique(labels)
    seen, conf = _look_plan(n, batch_size, confidence)
    u = _uniforms(draws, (len(seen), len(classes)), seed)
    k = np.zeros((draws, len(classes)))
    alive = np.ones(draws, bool)
    right = np.zeros(draws, bool)
    prev = 0
    for j, (m, c) in enumerate(zip(seen, conf)):
        batch = labels[prev:m]
        add = np.array([(batch == cl).sum() for cl in classes])
        k += sps.binom.ppf(u[:, j, :], add, p)
        prev = m
        nc = np.array([(labels[:m] == cl).sum() for cl in classes])
        p_pass, p_fail = _class_pvalues(k, nc, target)
        alpha = 1 - c
        last = j == len(seen) - 1
        if not last:
            bonf = alpha / len(classes)
            decided = ((p_pass <= bonf) | (p_fail <= bonf)).all(axis=1) & alive
        else:
            decided = alive.copy()
        if p > target:
            verdict_ok = _alpha_holm_pass_all(p_pass, alpha) & ~_holm_any(p_fail, alpha)
        else:
            verdict_ok = _holm_any(p_fail, alpha)
        right |= decided & verdict_ok
        alive &= ~decided
    return float(right.mean())


def rule_power(p: float, n: int, *, target: float, confidence: float, per_class: bool, sequential: bool,
               batch_size: int, labels_at: Callable[[int], np.ndarray] | None) -> float:
    """P(right verdict) at n under the rule the runner applies to this requirement.

    ``labels_at(n)`` gives the asked labels of a run of n (for per-class rules).
    """
    if per_class:
        if labels_at is None:
            raise ValueError("a per-class rule needs the asked labels")
        labels = labels_at(n)
        if sequential:
            return sequential_per_class_power(p, target, confidence, labels, batch_size)
        counts = np.bincount(labels)
        return per_class_power(p, target, confidence, [int(c) for c in counts if c > 0])
    if sequential:
        return sequential_power(p, target, confidence, n, batch_size)
    return fixed_power(p, target, confidence, n)


def metric_reference_power(interval: Callable[[object, object], tuple[float, float]], real, size: int, *,
                           at_least: float | None, at_most: float | None, draws: int = 8, seed: int = 0) -> float:
    """Share of draws in which real data PASSes a metric bound at N = ``size``.

    The reference is split in two seeded halves: one plays the reference, ``size``
    images drawn without replacement from the other play an ideal generator, and
    ``interval(reference_half, drawn)`` gives the metric's one-sided bounds.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(real), generator=g)
    half = len(real) // 2
    ref, held = real[perm[:half]], real[perm[half:]]
    if size > len(held):
        raise ValueError(f"N = {size} exceeds the held-out half ({len(held)} images)")
    passed = 0
    for _ in range(draws):
        low, high = interval(ref, held[torch.randperm(len(held), generator=g)[:size]])
        passed += (at_least is None or low >= at_least) and (at_most is None or high <= at_most)
    return passed / draws


def metric_sizes(n: int, held_out: int) -> list[int]:
    """The N at which ``evalkit plan`` tries a metric on real data: a 1-3-10 ladder and the spec's n."""
    ladder = [10, 30, 100, 300, 1000, 3000, 10000, 30000]
    return sorted({m for m in ladder + [n] if m <= held_out})
