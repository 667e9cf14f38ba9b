"""The fold's states: what a subject has accumulated so far, and how two of them merge.

Merging is associative and order-free (counts add; per-sample rows are kept with their
sample indices and sorted by them on read), so batches, journal records and processes
under torchrun can be combined in any order with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..metrics.states import FeatureState
from ..report.model import FailingExample
from ..report.samples import SampleLog, log_from_record, log_to_record, new_log


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


def new_state(plan) -> SubjectState:
    """The fold's starting point for a subject of ``plan`` (an empty rate state per rate requirement)."""
    return SubjectState([RateState() for _ in plan.rate_requirements], samples=new_log(plan))


# ---------------------------------------------------------------- serialisation
# A state becomes (tensors, meta) for the store: counts in the JSON meta, per-sample rows
# (features, failing examples' measurements, which may be NaN) as tensors. Round trips are exact.

_ROWS = ("features", "predicted", "asked", "memo", "images", "labels")


def rate_to_record(rs: RateState, prefix: str) -> tuple[dict[str, Tensor], dict]:
    names = sorted({k for f in rs.failing for k in f.values})
    tensors = {
        f"{prefix}.failing.index": torch.tensor([f.index for f in rs.failing], dtype=torch.long),
        f"{prefix}.failing.label": torch.tensor([-1 if f.label is None else f.label for f in rs.failing], dtype=torch.long),
        f"{prefix}.failing.values": torch.tensor([[f.values.get(k, float("nan")) for k in names] for f in rs.failing],
                                                 dtype=torch.float64).reshape(len(rs.failing), len(names)),
        f"{prefix}.failing.has": torch.tensor([[k in f.values for k in names] for f in rs.failing],
                                              dtype=torch.bool).reshape(len(rs.failing), len(names)),
    }
    meta = {"passed": rs.passed, "n": rs.n, "undefined": rs.undefined,
            "per_class": [[c, k, n] for c, (k, n) in sorted(rs.per_class.items())], "failing_names": names}
    return tensors, meta


def rate_from_record(tensors: dict[str, Tensor], meta: dict, prefix: str) -> RateState:
    idx, lab = tensors[f"{prefix}.failing.index"], tensors[f"{prefix}.failing.label"]
    vals, has, names = tensors[f"{prefix}.failing.values"], tensors[f"{prefix}.failing.has"], meta["failing_names"]
    failing = [FailingExample(index=int(idx[i]), label=None if int(lab[i]) < 0 else int(lab[i]),
                              values={k: float(vals[i, j]) for j, k in enumerate(names) if bool(has[i, j])})
               for i in range(len(idx))]
    return RateState(int(meta["passed"]), int(meta["n"]), int(meta["undefined"]),
                     {int(c): [int(k), int(n)] for c, k, n in meta["per_class"]}, failing)


def state_to_record(state: SubjectState) -> tuple[dict[str, Tensor], dict]:
    tensors: dict[str, Tensor] = {}
    rates = []
    for i, rs in enumerate(state.rates):
        t, m = rate_to_record(rs, f"rate{i}")
        tensors.update(t)
        rates.append(m)
    for name in _ROWS:
        fs: FeatureState = getattr(state, name)
        if len(fs):
            tensors[f"{name}.rows"], tensors[f"{name}.idx"] = fs.value()
    for name, fs in state.measured.items():
        if len(fs):
            tensors[f"measured.{name}.rows"], tensors[f"measured.{name}.idx"] = fs.value()
    meta = {"rates": rates, "n": state.n, "nonfinite": state.nonfinite, "measured": sorted(state.measured)}
    if state.samples is not None:
        t, meta["samples"] = log_to_record(state.samples, "samples")
        tensors.update(t)
    return tensors, meta


def state_from_record(tensors: dict[str, Tensor], meta: dict) -> SubjectState:
    state = SubjectState([rate_from_record(tensors, m, f"rate{i}") for i, m in enumerate(meta["rates"])],
                         n=int(meta["n"]), nonfinite=int(meta["nonfinite"]))
    for name in _ROWS:
        if f"{name}.rows" in tensors:
            getattr(state, name).update(tensors[f"{name}.rows"], tensors[f"{name}.idx"])
    for name in meta.get("measured", []):
        fs = state.measured.setdefault(str(name), FeatureState())
        if f"measured.{name}.rows" in tensors:
            fs.update(tensors[f"measured.{name}.rows"], tensors[f"measured.{name}.idx"])
    if meta.get("samples") is not None:
        state.samples = log_from_record(tensors, meta["samples"], "samples")
    return state
