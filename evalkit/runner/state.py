"""The fold's states: what a subject has accumulated so far, and how two of them merge.

Merging is associative and order-free (counts add; per-sample rows are kept with their
sample indices and sorted by them on read), so batches, journal records and processes
under torchrun can be combined in any order with the same result. The per-sample states a
metric declares are ``metrics.states`` (one home, with their journal form); here they are
only held, by name, beside the rate counts of the subject's rate requirements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..contract import Input, Merge, State
from ..metrics.states import FeatureState, RowState, from_record, merge_states, to_record
from ..records.model import FailingExample
from ..records.samples import SampleLog, log_from_record, log_to_record, new_log


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
    """One subject's fold: the rate counts, and every per-sample state the plan's metrics declare
    (``declared_states``), by name. Which states exist comes from the declarations, not from
    fields here: a metric with a new state needs no change to the runner."""

    rates: list[RateState]
    rows: dict[str, RowState] = field(default_factory=dict)
    n: int = 0
    nonfinite: int = 0
    samples: SampleLog | None = None  # per-sample rows for the sample store beside the report

    def row(self, name: str) -> RowState:
        """The state ``name`` (empty when nothing was folded into it)."""
        return self.rows.get(name, FeatureState())

    def merge(self, o: "SubjectState", keep: int) -> "SubjectState":
        rows: dict[str, RowState] = {}
        for k in sorted(set(self.rows) | set(o.rows)):
            a, b = self.rows.get(k), o.rows.get(k)
            # a key of the union is in one side at least: kept as it is when only one folded it
            rows[k] = merge_states(a, b) if a is not None and b is not None else (self.rows[k] if a is not None else o.rows[k])
        return SubjectState(
            [a.merge(b, keep) for a, b in zip(self.rates, o.rates)], rows,
            self.n + o.n, self.nonfinite + o.nonfinite,
            self.samples.merge(o.samples) if self.samples is not None and o.samples is not None else (self.samples or o.samples),
        )


# The features of every sample are kept whenever a metric or the training set reads them (and
# for the sample store); a metric on images reads the asked labels of the same rows.
_FEATURES = State("features", Input.FEATURES, Merge.CAT)
_ASKED = State("asked", Input.LABELS, Merge.CAT)


def declared_states(plan) -> dict[str, State]:
    """The per-sample states the run folds for ``plan``: the union of what its metrics declare
    (``MetricDecl.states``), by name."""
    out: dict[str, State] = {}
    if plan.metric_requirements or Input.TRAINING in plan.needs:
        out["features"] = _FEATURES
    for rp in plan.metric_requirements:
        for st in rp.metric.decl.states:
            out.setdefault(st.name, st)
            if st.source is Input.IMAGES:
                out.setdefault("asked", _ASKED)
    return out


def new_state(plan) -> SubjectState:
    """The fold's starting point for a subject of ``plan`` (an empty rate state per rate requirement)."""
    return SubjectState([RateState() for _ in plan.rate_requirements], samples=new_log(plan))


# ---------------------------------------------------------------- serialisation
# A state becomes (tensors, meta) for the store: counts in the JSON meta, per-sample rows
# (features, failing examples' measurements, which may be NaN) as tensors. Round trips are exact.




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
    kinds = {}
    for name, row in sorted(state.rows.items()):
        t, kinds[name] = to_record(name, row)
        tensors.update(t)
    meta = {"rates": rates, "n": state.n, "nonfinite": state.nonfinite, "rows": kinds}
    if state.samples is not None:
        t, meta["samples"] = log_to_record(state.samples, "samples")
        tensors.update(t)
    return tensors, meta


def state_from_record(tensors: dict[str, Tensor], meta: dict) -> SubjectState:
    state = SubjectState([rate_from_record(tensors, m, f"rate{i}") for i, m in enumerate(meta["rates"])],
                         n=int(meta["n"]), nonfinite=int(meta["nonfinite"]))
    for name, meta_row in meta["rows"].items():
        state.rows[str(name)] = from_record(name, tensors, meta_row)
    if meta.get("samples") is not None:
        state.samples = log_from_record(tensors, meta["samples"], "samples")
    return state
