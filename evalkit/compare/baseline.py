"""Baseline mode: flag only *significant* regressions beyond a tolerance.

Every rate requirement and every metric of every subject found in both reports is
one comparison, tested by the one comparison engine (``judge/compare.py``) for
"this run is worse than the baseline by more than the tolerance". Holm's procedure
runs over the whole table (requirements × subjects), so the chance that a run of
an unchanged model is flagged as regressed anywhere is at most 1 − confidence
(the smallest confidence among the compared requirements). Reports keep counts
and intervals, not per-sample outcomes, so rates are compared unpaired (Fisher's
exact test, or the Farrington–Manning score test with a tolerance) and metrics on
their intervals.
"""

from __future__ import annotations

from .. import registry
from ..judge.compare import Difference, compare_metrics, compare_rates, holm
from ..records.model import DifferenceResult, Report, RequirementResult, SubjectResult


def higher_is_better(metric: str) -> bool:
    """The declared orientation of the registered metric ``metric`` (a name, not a readable label)."""
    return registry.metrics.get(metric).decl.higher_is_better


def _rate_difference(s: SubjectResult, r: RequirementResult, br: RequirementResult, tolerance: dict[str, float]) -> Difference:
    return compare_rates(br.passed or 0, br.n or 0, r.passed or 0, r.n or 0, confidence=r.confidence,
                         tolerance=tolerance.get(r.name, 0.0), higher_is_better=True, sides="worse",
                         subject=s.name, requirement=r.name)


def _subject_differences(s: SubjectResult, b: SubjectResult, tolerance: dict[str, float]) -> list[Difference]:
    out: list[Difference] = []
    base_reqs = {r.name: r for r in b.requirements}
    for r in s.requirements:
        br = base_reqs.get(r.name)
        if r.kind == "rate" and br is not None and br.kind == "rate" and br.n and r.n:
            out.append(_rate_difference(s, r, br, tolerance))
    for m in s.metrics:
        bm = next((x for x in b.metrics if x.same_measure(m)), None)
        decl = m.declaration()
        if bm is None or decl is None:  # every metric of a run is registered in it: decl is None only by hand-editing
            continue
        tol = tolerance.get(m.name, tolerance.get(m.registered, 0.0))
        out.append(compare_metrics(bm.value, bm.lower, bm.upper, m.value, m.lower, m.upper, confidence=m.confidence,
                                   higher_is_better=decl.higher_is_better, tolerance=tol, sides="worse",
                                   n_a=bm.n, n_b=m.n, subject=s.name, requirement=m.name,
                                   bounds_hold=bm.bounds_hold and m.bounds_hold))
    return out


def compare(current: Report, baseline: Report, tolerance: dict[str, float], baseline_path: str) -> Report:
    """Fill ``regressions`` and ``differences`` of each subject of ``current`` present in ``baseline``."""
    current.baseline = baseline_path
    base_subjects = {s.name: s for s in baseline.subjects}
    table: list[Difference] = []
    for s in current.subjects:
        b = base_subjects.get(s.name)
        if b is None or s.status != "ok":
            continue
        table += _subject_differences(s, b, tolerance)
    if not table:
        current.baseline_correction = "nothing in common with the baseline to compare"
        return current
    confidence = min(d.confidence for d in table)
    judged = holm(table, confidence, sides="worse")
    current.baseline_correction = judged[0].correction
    by_subject = {s.name: s for s in current.subjects}
    for d in judged:
        s = by_subject[d.subject]
        s.differences.append(DifferenceResult.of(d))
        if d.verdict == "worse" and d.requirement not in s.regressions:
            s.regressions.append(d.requirement)
    return current
