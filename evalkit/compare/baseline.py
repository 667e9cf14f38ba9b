"""Baseline mode: flag only *significant* regressions beyond a tolerance.

Every rate requirement and every metric of every subject found in both reports is
one comparison, tested by the one comparison engine (``judge/compare.py``) for
"this run is worse than the baseline by more than the tolerance". Holm's procedure
runs over the whole table (requirements × subjects) at the **spec's confidence**
c (``confidence:``), so the chance that a run of an unchanged model is flagged as
regressed anywhere is at most 1 − c. A requirement's own ``confidence:`` sets the
level of its verdict, not the gate's.

Every row carries the numbers its decision used: the Holm-adjusted p-value and an
*adjusted* interval, each bound at the confidence its Holm step decided at
(``judge.compare.decided_level``: 1 − α·p/p_adj, between 1 − α and Bonferroni's
1 − α/m), so the deciding bound lies at or beyond the tolerance exactly when the
row says REGRESSED.

Rates are compared *paired* (exact McNemar, or Tango's score test with a
tolerance) where ``compare.pairing`` found the run and the baseline drew the same
samples (same seed, indices and asked classes: the per-sample outcomes of both
sample stores), unpaired otherwise (Fisher's exact test, or Farrington–Manning);
metrics paired on per-sample influences where both stores hold them, otherwise on
their intervals.

Equivalence and non-inferiority (``regression: {equivalent: ..., non_inferior: ...}``)
are a second family, judged by ``judge.equivalence`` with Holm over their own
p-values at the same level.
"""

from __future__ import annotations

from typing import Any

from .. import registry
from ..judge.compare import Difference, compare_metrics, compare_rates, holm
from ..judge.equivalence import Equivalence, family_words, judge_table, metric_equivalence, rate_equivalence
from ..records.model import (DifferenceResult, MetricResult, Report, RequirementResult, SubjectResult,
                             equivalence_record)

Questions = dict[str, tuple[str, float]]  # requirement or metric name -> ("equivalent" | "non_inferior", margin)


def higher_is_better(metric: str) -> bool:
    """The declared orientation of the registered metric ``metric`` (a name, not a readable label)."""
    return registry.metrics.get(metric).decl.higher_is_better


def _rate_difference(s: SubjectResult, r: RequirementResult, br: RequirementResult, tolerance: dict[str, float],
                     level: float, pair: Any) -> Difference:
    outcomes = pair.outcomes.get(r.name) if pair is not None and pair.paired else None
    return compare_rates(br.passed or 0, br.n or 0, r.passed or 0, r.n or 0, confidence=level,
                         tolerance=tolerance.get(r.name, 0.0), higher_is_better=True, sides="worse",
                         paired_outcomes=outcomes, subject=s.name, requirement=r.name)


def _metric_difference(s: SubjectResult, m: MetricResult, bm: MetricResult, hib: bool, tol: float, level: float,
                       pair: Any) -> Difference:
    infl = pair.influences.get(m.name) if pair is not None and pair.paired else None
    return compare_metrics(bm.value, bm.lower, bm.upper, m.value, m.lower, m.upper, confidence=level,
                           higher_is_better=hib, tolerance=tol, sides="worse", paired_influence=infl,
                           n_a=bm.n, n_b=m.n, subject=s.name, requirement=m.name,
                           bounds_hold=bm.bounds_hold and m.bounds_hold)


def subject_differences(s: SubjectResult, b: SubjectResult, tolerance: dict[str, float], level: float,
                        pair: Any = None) -> list[Difference]:
    """Every comparison of subject ``s`` with baseline subject ``b`` (unadjusted; ``pair``: its SubjectPairing)."""
    out: list[Difference] = []
    base_reqs = {r.name: r for r in b.requirements}
    for r in s.requirements:
        br = base_reqs.get(r.name)
        if r.kind == "rate" and br is not None and br.kind == "rate" and br.n and r.n:
            out.append(_rate_difference(s, r, br, tolerance, level, pair))
    for m in s.metrics:
        bm = next((x for x in b.metrics if x.same_measure(m)), None)
        decl = m.declaration()
        if bm is None or decl is None:  # every metric of a run is registered in it: decl is None only by hand-editing
            continue
        tol = tolerance.get(m.name, tolerance.get(m.registered, 0.0))
        out.append(_metric_difference(s, m, bm, decl.higher_is_better, tol, level, pair))
    return out


def subject_equivalences(s: SubjectResult, b: SubjectResult, questions: Questions, pair: Any = None) -> list[Equivalence]:
    """The equivalence / non-inferiority tests the spec asks of subject ``s`` against ``b`` (unadjusted)."""
    paired = pair is not None and pair.paired
    base_reqs = {r.name: r for r in b.requirements}
    out = [_rate_equivalence(s, r, base_reqs.get(r.name), q, pair.outcomes.get(r.name) if paired else None)
           for r in s.requirements if (q := questions.get(r.name)) is not None]
    for m in s.metrics:
        q = questions.get(m.name) or questions.get(m.registered)
        bm = next((x for x in b.metrics if x.same_measure(m)), None)
        if q is not None and bm is not None:
            out.append(_metric_equivalence(s, m, bm, q, pair.influences.get(m.name) if paired else None))
    return [e for e in out if e is not None]


def _rate_equivalence(s: SubjectResult, r: RequirementResult, br: RequirementResult | None, q: tuple[str, float],
                      outcomes: Any) -> Equivalence | None:
    if r.kind != "rate" or br is None or br.kind != "rate" or not (br.n and r.n):
        return None
    return rate_equivalence(br.passed or 0, br.n, r.passed or 0, r.n, margin=q[1], test=q[0],  # type: ignore[arg-type]
                            paired_outcomes=outcomes, subject=s.name, requirement=r.name)


def _metric_equivalence(s: SubjectResult, m: MetricResult, bm: MetricResult, q: tuple[str, float],
                        influence: Any) -> Equivalence | None:
    decl = m.declaration()
    if decl is None or not (bm.bounds_hold and m.bounds_hold):  # an unclaimed bound carries no spread to test on
        return None
    return metric_equivalence(bm.value, bm.lower, bm.upper, m.value, m.lower, m.upper, confidence=m.confidence,
                              margin=q[1], test=q[0], higher_is_better=decl.higher_is_better,  # type: ignore[arg-type]
                              paired_influence=influence, n_a=bm.n, n_b=m.n, subject=s.name, requirement=m.name)


def level_words(level: float, m: int) -> str:
    """How the gate's level reads in the report."""
    return (f"family-wise level {level:g} (the spec's confidence), Holm over {m} one-sided test{'s' if m != 1 else ''} "
            "(worse only); each row's adjusted interval is at the confidence its Holm step decided at "
            "(1 - alpha*p/p_adj)")


def compare(current: Report, baseline: Report, tolerance: dict[str, float], baseline_path: str, *,
            level: float | None = None, pairing: dict[str, Any] | None = None,
            questions: Questions | None = None) -> Report:
    """Fill ``regressions`` and ``differences`` of each subject of ``current`` present in ``baseline``.

    ``level``: the family-wise confidence (the spec's ``confidence:``; by default the
    current report's spec's). ``pairing``: subject name -> ``compare.pairing.SubjectPairing``.
    """
    current.baseline = baseline_path
    if level is None:
        level = float(current.spec.get("confidence", 0.95))
    base_subjects = {s.name: s for s in baseline.subjects}
    table: list[Difference] = []
    equivalences: list[Equivalence] = []
    for s in current.subjects:
        b = base_subjects.get(s.name)
        if b is None or s.status != "ok":
            continue
        table += subject_differences(s, b, tolerance, level, (pairing or {}).get(s.name))
        equivalences += subject_equivalences(s, b, questions or {}, (pairing or {}).get(s.name))
    _judge_equivalences(current, equivalences, level)
    if not table:
        current.baseline_correction = "nothing in common with the baseline to compare"
        return current
    judged = holm(table, level, sides="worse")
    current.baseline_correction = level_words(level, len(table))
    by_subject = {s.name: s for s in current.subjects}
    for d in judged:
        s = by_subject[d.subject]
        s.differences.append(DifferenceResult.of(d))
        if d.verdict == "worse" and d.requirement not in s.regressions:
            s.regressions.append(d.requirement)
    return current


def _judge_equivalences(current: Report, table: list[Equivalence], level: float) -> None:
    """Holm over the equivalence family; each verdict onto its subject's ``equivalences``."""
    if not table:
        return
    by_subject = {s.name: s for s in current.subjects}
    for e in judge_table(table, level):
        by_subject[e.subject].equivalences.append(equivalence_record(e))
    current.equivalence_correction = family_words(level, len(table))
