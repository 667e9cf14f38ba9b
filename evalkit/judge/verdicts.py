"""Turn accumulated counts and metric values into verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..records.model import ClassResult, MetricResult, RequirementResult
from . import stats
from .anytime import METHOD as ANYTIME_METHOD

FIXED_N_METHOD = "Clopper-Pearson, one-sided"


def judge_rate(
    name: str, passed: int, n: int, target: float, confidence: float, *, undefined: int = 0,
    per_class: dict[int, tuple[int, int]] | None = None, correction: str | None = None, anytime: bool = False,
) -> RequirementResult:
    """Verdict for 'rate >= target' from k passes of n (Clopper–Pearson, one-sided; with ``anytime``
    the confidence sequence of ``judge.anytime``, valid however n was chosen after looking)."""
    lower, upper = stats.rate_bounds(passed, n, confidence, anytime=anytime)
    verdict = stats.decide_rate(passed, n, target, confidence, anytime=anytime)
    res = RequirementResult(
        name=name, kind="rate", verdict=verdict, confidence=confidence, target=target, at_least=target,
        passed=passed, n=n, undefined=undefined, value=passed / n if n else None, lower=lower, upper=upper,
        method=ANYTIME_METHOD if anytime else FIXED_N_METHOD, correction=correction,
    )
    if per_class:
        _judge_per_class(res, per_class, target, confidence, correction)
        return res
    if verdict == "INCONCLUSIVE":
        res.more_samples = stats.samples_to_decide(passed, n, target, confidence, anytime=anytime)
        res.message = (
            f"need about {res.more_samples} more samples" if res.more_samples is not None
            else "the observed rate equals the target; no sample size decides it"
        )
    return res


def _judge_per_class(res: RequirementResult, per_class: dict[int, tuple[int, int]], target: float,
                     confidence: float, correction: str | None) -> None:
    """Decide ``res`` class by class: Holm over the classes; FAIL if any fails, PASS if all pass."""
    alpha, m = 1 - confidence, len(per_class)
    anytime = is_anytime(res)
    rows = _class_rows(per_class, target, alpha, anytime)
    res.per_class = rows
    if any(r.verdict == "FAIL" for r in rows):
        res.verdict = "FAIL"
    elif all(r.verdict == "PASS" for r in rows):
        res.verdict = "PASS"
    else:
        res.verdict = "INCONCLUSIVE"
    res.correction = ((correction + "; ") if correction else "") + f"Holm over {m} classes"
    if res.verdict == "INCONCLUSIVE":
        # each undecided class at the Bonferroni level; None when any of them cannot be decided by more samples
        worst = [stats.samples_to_decide(r.passed, r.n, target, 1 - alpha / m, anytime=anytime)
                 for r in rows if r.verdict == "INCONCLUSIVE"]
        known = [w for w in worst if w is not None]
        res.more_samples = max(known) * m if len(known) == len(worst) else None


def is_anytime(r: RequirementResult) -> bool:
    """Whether a rate result was judged on the confidence sequence (its method says so)."""
    return r.method == ANYTIME_METHOD


def _class_rows(per_class: dict[int, tuple[int, int]], target: float, alpha: float, anytime: bool) -> list[ClassResult]:
    """One verdict per class, Holm-adjusted over the classes in both directions (with ``anytime``,
    over anytime-valid p-values: Holm needs only p-values valid where they are read)."""
    classes = sorted(per_class)
    m = len(classes)
    pass_adj = stats.holm([stats.pass_pvalue(*per_class[c], target, anytime=anytime) for c in classes])
    fail_adj = stats.holm([stats.fail_pvalue(*per_class[c], target, anytime=anytime) for c in classes])
    rows = []
    for c, pp, fp in zip(classes, pass_adj, fail_adj):
        k, nn = per_class[c]
        v = "PASS" if pp <= alpha else ("FAIL" if fp <= alpha else "INCONCLUSIVE")
        # Bounds shown at the Bonferroni level, the widest Holm may use.
        lower, upper = stats.rate_bounds(k, nn, 1 - alpha / m, anytime=anytime)
        rows.append(ClassResult(label=c, passed=k, n=nn, lower=lower, upper=upper, verdict=v))
    return rows


def judge_metric(name: str, m: MetricResult, at_least: float | None, at_most: float | None) -> RequirementResult:
    """Verdict for a metric bound, decided on the metric's one-sided bounds (a bound that does
    not hold, ``m.upper_holds`` or ``m.lower_holds`` False, decides nothing)."""
    up, low = m.upper_holds, m.lower_holds
    verdicts = []
    if at_most is not None:
        verdicts.append("PASS" if up and m.upper <= at_most else ("FAIL" if low and m.lower > at_most else "INCONCLUSIVE"))
    if at_least is not None:
        verdicts.append("PASS" if low and m.lower >= at_least else ("FAIL" if up and m.upper < at_least else "INCONCLUSIVE"))
    verdict = "FAIL" if "FAIL" in verdicts else ("PASS" if all(v == "PASS" for v in verdicts) else "INCONCLUSIVE")
    return RequirementResult(
        name=name, kind="metric", verdict=verdict, confidence=m.confidence,
        target=at_most if at_most is not None else at_least, at_least=at_least, at_most=at_most,
        n=m.n, value=m.value, lower=m.lower, upper=m.upper, method=m.method, message=m.note,
    )


@dataclass(frozen=True)
class DecidingClass:
    """The class a ``per_class`` verdict rests on, with its interval at the level Holm decided it at."""

    label: int
    passed: int
    n: int
    lower: float
    upper: float
    confidence: float
    verdict: str


def deciding_class(r: RequirementResult) -> DecidingClass | None:
    """The class that decides a per-class verdict, or None when ``r`` was not judged per class.

    FAIL: the failing class with the strongest evidence (first in Holm's fail order, so
    at the Bonferroni level alpha/m, where its upper bound is below the target). PASS: the
    class whose lower bound at its own Holm level (alpha/(m - rank), rank in the pass
    order) is closest to the target, the weakest link. INCONCLUSIVE: the undecided class
    with the lowest lower bound at the Bonferroni level, where every class Holm left
    undecided straddles the target. Derived from ``r.per_class``, so every renderer (and
    reports written before this existed) names the same class.
    """
    rows = list(r.per_class)
    if not rows or r.at_least is None or r.verdict not in ("PASS", "FAIL", "INCONCLUSIVE"):
        return None
    alpha, m, target, anytime = 1 - r.confidence, len(r.per_class), r.at_least, is_anytime(r)
    if r.verdict == "PASS":
        levels = _holm_levels(rows, lambda c: stats.pass_pvalue(c.passed, c.n, target, anytime=anytime), alpha, m)
        pick = min(rows, key=lambda c: (stats.rate_bounds(c.passed, c.n, 1 - levels[c.label], anytime=anytime)[0] - target,
                                        c.label))
        return _at_level(pick, 1 - levels[pick.label], anytime)
    if r.verdict == "FAIL":
        failing = [c for c in rows if c.verdict == "FAIL"] or rows
        pick = min(failing, key=lambda c: (stats.fail_pvalue(c.passed, c.n, target, anytime=anytime), c.upper, c.label))
        return _at_level(pick, 1 - alpha / m, anytime)
    undecided = [c for c in rows if c.verdict == "INCONCLUSIVE"] or rows
    pick = min(undecided, key=lambda c: (c.lower, c.label))
    return _at_level(pick, 1 - alpha / m, anytime)


def _holm_levels(rows: list[ClassResult], pvalue: Callable[[ClassResult], float], alpha: float, m: int) -> dict[int, float]:
    """Each class's Holm step-down level: alpha/m for the smallest p-value, ..., alpha for the largest."""
    order = sorted(rows, key=lambda c: (pvalue(c), c.label))
    return {c.label: alpha / (m - rank) for rank, c in enumerate(order)}


def _at_level(c: ClassResult, confidence: float, anytime: bool) -> DecidingClass:
    lower, upper = stats.rate_bounds(c.passed, c.n, confidence, anytime=anytime)
    return DecidingClass(label=c.label, passed=c.passed, n=c.n, lower=lower, upper=upper, confidence=confidence,
                         verdict=c.verdict)
