"""Baseline mode: flag only *significant* regressions beyond a tolerance.

Rates: the one-sided lower confidence bound of (baseline rate - current rate),
from a normal approximation to the difference of two binomial proportions, must
exceed the tolerance. Metrics: the current interval must lie beyond the baseline's
interval by more than the tolerance (conservative: both intervals' errors count).
"""

from __future__ import annotations

import math

from scipy import stats

from .. import registry
from .model import Report


def _rate_regressed(kb: int, nb: int, kc: int, nc: int, tol: float, confidence: float) -> bool:
    pb, pc = kb / nb, kc / nc
    # Agresti–Caffo adjustment keeps the interval sane at rates of 0 or 1.
    pb_, pc_ = (kb + 1) / (nb + 2), (kc + 1) / (nc + 2)
    se = math.sqrt(pb_ * (1 - pb_) / (nb + 2) + pc_ * (1 - pc_) / (nc + 2))
    z = stats.norm.ppf(confidence)
    return (pb - pc) - z * se > tol


def compare(current: Report, baseline: Report, tolerance: dict[str, float], baseline_path: str) -> Report:
    """Fill ``regressions`` of each subject of ``current`` present in ``baseline``."""
    current.baseline = baseline_path
    base_subjects = {s.name: s for s in baseline.subjects}
    for s in current.subjects:
        b = base_subjects.get(s.name)
        if b is None or s.status != "ok":
            continue
        base_reqs = {r.name: r for r in b.requirements}
        for r in s.requirements:
            br = base_reqs.get(r.name)
            if br is None or br.value is None or r.value is None:
                continue
            if r.kind == "rate" and br.n and r.n:
                tol = tolerance.get(r.name, 0.0)
                if _rate_regressed(br.passed or 0, br.n, r.passed or 0, r.n, tol, r.confidence):
                    s.regressions.append(r.name)
        base_metrics = {m.name: m for m in b.metrics}
        for m in s.metrics:
            bm = base_metrics.get(m.name)
            if bm is None:
                continue
            base_name = m.metric or m.name  # reports before 0.2 named the metric only in `name`
            tol = tolerance.get(m.name, tolerance.get(base_name, 0.0))
            higher = registry.metrics.get(base_name).decl.higher_is_better  # the metric's declaration
            worse = (bm.lower - m.upper) if higher else (m.lower - bm.upper)
            if worse > tol:
                s.regressions.append(m.name)
    return current
