"""Sequential looks: after each batch, stop when every rate requirement is decided.

Look j of a requirement runs at the confidence that an O'Brien-Fleming-type spending
function allows it (``stats.look_confidences``); by the union bound the verdicts of
all looks together are wrong at most 1 - c of the time. Off when the spec has metric
requirements (metrics are biased in N and need the planned sample size). Under torchrun
every process looks at the same counts (all processes' batches, in batch order), so all
stop after the same batch, as one process would.
"""

from __future__ import annotations

from .._errors import present
from ..judge import stats
from ..plan import Plan, RequirementPlan
from .state import RateState, SubjectState

SEQUENTIAL_NOTE = "O'Brien-Fleming-type error spending over sequential looks"


class Looks:
    """The looks of one subject: the confidence of each requirement at each batch."""

    def __init__(self, plan: Plan, n: int, batch_size: int):
        s = plan.spec.sampling
        self.plan = plan
        self.total = -(-n // batch_size)
        self.enabled = bool(s.sequential and not plan.metric_requirements and plan.rate_requirements)
        self.conf: dict[int, list[float]] = {}
        if self.enabled:
            fracs = [min(1.0, (j + 1) * batch_size / n) for j in range(self.total)]
            self.conf = {rp.index: stats.look_confidences(rp.confidence, fracs) for rp in plan.rate_requirements}

    def decided(self, state: SubjectState, j: int) -> bool:
        """True when look j (after batch j) decides every requirement, so sampling may stop."""
        if not self.enabled or j + 1 >= self.total:
            return False
        return all(_decided_at(rs, rp, self.conf[rp.index][j]) for rp, rs in zip(self.plan.rate_requirements, state.rates))

    def final(self, stopped_at: int | None) -> dict[int, float] | None:
        """Each requirement's confidence for the verdict: that of the stopping look, or at the
        last look all the error the earlier looks did not spend. None when looks are off."""
        if not self.enabled:
            return None
        if stopped_at is not None:
            return {k: v[stopped_at] for k, v in self.conf.items()}
        return {rp.index: 1 - ((1 - rp.confidence) - sum(1 - c for c in self.conf[rp.index][:-1]))
                for rp in self.plan.rate_requirements}


def _decided_at(rs: RateState, rp: RequirementPlan, conf: float) -> bool:
    at_least = present(rp.req.at_least, f"at_least of {rp.name!r}")
    if rp.req.per_class:
        return all(stats.decide_rate(k, n, at_least, 1 - (1 - conf) / max(1, len(rs.per_class))) != "INCONCLUSIVE"
                   for k, n in rs.per_class.values())
    return stats.decide_rate(rs.passed, rs.n, at_least, conf) != "INCONCLUSIVE"
