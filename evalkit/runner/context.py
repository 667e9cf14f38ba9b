"""What every step of a run reads: the plan, the device, the shared references, the process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from ..contract import State
from ..plan import Plan
from ..spec.model import Spec
from .journal import Journal
from .references import References
from .state import declared_states


@dataclass
class RunContext:
    plan: Plan
    device: torch.device
    refs: References
    rank: int = 0
    world: int = 1
    progress: bool = False
    time_limit: float | None = None  # --time-limit: overrides the spec's per-subject limits
    journal: Journal | None = None  # OUT/journal, when the run writes one
    sample_sink: dict | None = None  # subject name -> its sample record, made as the subject ends (rank 0)

    @property
    def spec(self) -> Spec:
        return self.plan.spec

    @property
    def keep(self) -> int:
        """How many failing examples each requirement keeps."""
        return self.spec.report.failing_examples

    @property
    def needs_features(self) -> bool:
        return bool(self.plan.metric_requirements) or "training" in self.plan.needs

    @cached_property
    def states(self) -> dict[str, State]:
        """The per-sample states every batch is folded into (``state.declared_states``), once per run."""
        return declared_states(self.plan)
