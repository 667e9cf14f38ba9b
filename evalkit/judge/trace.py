"""The sequential trace: a rate requirement's bounds at every look, for the report's plot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import stats
from ..records.model import Look, SubjectResult

if TYPE_CHECKING:
    from ..plan import Plan


def look_trace(counts: list[tuple[int, int]], look_confidences: list[float], final_confidence: float) -> list[Look]:
    """One ``Look`` per (passed, n) pair, in order. Look j's bounds are at the confidence it
    was allowed to spend; the last look at ``final_confidence`` (the verdict's own: the
    stopping look's, or at the planned end all the error the earlier looks left)."""
    confs = list(look_confidences[: len(counts)])
    if confs:
        confs[-1] = final_confidence
    return [Look(n=n, passed=k, lower=stats.cp_lower(k, n, c), upper=stats.cp_upper(k, n, c), confidence=c)
            for (k, n), c in zip(counts, confs)]


def trace_of(plan: Plan, counts: list[list[tuple[int, int]]], conf: dict[int, list[float]], final: dict[int, float]
             ) -> dict[str, list[Look]]:
    """Per rate requirement name, its looks (``counts[j][i]``: requirement i after look j)."""
    return {rp.name: look_trace([c[i] for c in counts], conf[rp.index], final[rp.index])
            for i, rp in enumerate(plan.rate_requirements)}


def attach_looks(res: SubjectResult, trace: dict[str, list[Look]] | None) -> None:
    """Put each requirement's looks on its result (nothing outside sequential mode)."""
    for r in res.requirements:
        if trace and r.name in trace:
            r.looks = trace[r.name]
