"""The fold's states: what a subject has accumulated so far, and how two of them merge.

Merging is associative and order-free (counts add; per-sample rows are kept with their
sample indices and sorted by them on read), so batches, journal records and processes
under torchrun can be combined in any order with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..metrics.states import FeatureState
from ..report.model import FailingExample
from ..report.samples import SampleLog


@dataclass
class RateState:
    passed: int = 0
    n: int = 0
    undefined: int = 0
    per_class: dict[int, list[int]] = field(default_factory=dict)  # class -> [passed, n]
    failing: list[FailingExample] = field(default_factory=list)

    def merge(self, o: "RateState", keep: int) -> "RateState":
        pc = {c: list(v) for c, v in self.per_class.items()}
        for c, (k, n) in o.per_class.items():
            pc.setdefault(c, [0, 0])
            pc[c][0] += k
            pc[c][1] += n
        failing = sorted(self.failing + o.failing, key=lambda f: f.index)[:keep]
        return RateState(self.passed + o.passed, self.n + o.n, self.undefined + o.undefined, pc, failing)


@dataclass
class SubjectState:
    rates: list[RateState]
    features: FeatureState = field(default_factory=FeatureState)
    predicted: FeatureState = field(default_factory=FeatureState)
    asked: FeatureState = field(default_factory=FeatureState)
    memo: FeatureState = field(default_factory=FeatureState)
    images: FeatureState = field(default_factory=FeatureState)  # uint8, only for metrics that train on samples
    labels: FeatureState = field(default_factory=FeatureState)
    n: int = 0
    nonfinite: int = 0
    # per-sample values of the measurements metrics declare as inputs (plan.measured_inputs)
    measured: dict[str, FeatureState] = field(default_factory=dict)
    samples: SampleLog | None = None  # per-sample rows for the sample store beside the report

    def merge(self, o: "SubjectState", keep: int) -> "SubjectState":
        return SubjectState(
            [a.merge(b, keep) for a, b in zip(self.rates, o.rates)],
            self.features.merge(o.features), self.predicted.merge(o.predicted), self.asked.merge(o.asked),
            self.memo.merge(o.memo), self.images.merge(o.images), self.labels.merge(o.labels),
            self.n + o.n, self.nonfinite + o.nonfinite,
            {k: self.measured.get(k, FeatureState()).merge(o.measured.get(k, FeatureState()))
             for k in sorted(set(self.measured) | set(o.measured))},
            self.samples.merge(o.samples) if self.samples else None,
        )
