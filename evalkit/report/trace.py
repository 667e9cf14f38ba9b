"""The sequential trace: a rate requirement's bounds at every look, for the report's plot."""

from __future__ import annotations

from ..judge import stats
from .model import Look


def look_trace(counts: list[tuple[int, int]], look_confidences: list[float], final_confidence: float) -> list[Look]:
    """One ``Look`` per (passed, n) pair, in order. Look j's bounds are at the confidence it
    was allowed to spend; the last look at ``final_confidence`` (the verdict's own: the
    stopping look's, or at the planned end all the error the earlier looks left)."""
    confs = list(look_confidences[: len(counts)])
    if confs:
        confs[-1] = final_confidence
    return [Look(n=n, passed=k, lower=stats.cp_lower(k, n, c), upper=stats.cp_upper(k, n, c), confidence=c)
            for (k, n), c in zip(counts, confs)]
