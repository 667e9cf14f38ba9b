"""Mergeable metric states, in the torchmetrics manner: the one home of the per-sample states.

A metric declares each state it accumulates (``contract.State``: a name, the input it
holds, a ``Merge`` rule), and the run folds one of these per declared state:
``FeatureState`` for ``Merge.CAT`` (per-sample rows, kept with their sample indices),
``SumState`` for ``Merge.SUM`` (a running sum and a count). Merging shards (processes
under torchrun, batches, journal records) in any order gives the same result up to the
row order of ``cat`` states, which every metric treats as a set (indices are kept to
restore order). ``to_record`` / ``from_record`` are the journal's form of a state
(``runner.state``, ``runner.journal``): round trips are exact.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from .._errors import RunError
from ..contract import Merge


class FeatureState:
    """Cat-merged per-sample rows (features or values), kept with their sample indices."""

    def __init__(self) -> None:
        self.rows: list[Tensor] = []
        self.idx: list[Tensor] = []

    def update(self, x: Tensor, indices: Tensor) -> None:
        self.rows.append(x.detach().to("cpu"))
        self.idx.append(indices.detach().to("cpu", torch.long))

    def merge(self, other: "FeatureState") -> "FeatureState":
        out = FeatureState()
        out.rows, out.idx = self.rows + other.rows, self.idx + other.idx
        return out

    def __len__(self) -> int:
        return sum(len(i) for i in self.idx)

    def value(self) -> tuple[Tensor, Tensor]:
        """Rows sorted by sample index (so the result never depends on merge order)."""
        if not self.rows:
            return torch.empty(0), torch.empty(0, dtype=torch.long)
        x, i = torch.cat(self.rows), torch.cat(self.idx)
        order = torch.argsort(i)
        return x[order], i[order]


class SumState:
    """A ``Merge.SUM`` state: the running sum of per-sample rows and how many were added."""

    def __init__(self) -> None:
        self.total: Tensor | None = None
        self.count = 0

    def update(self, x: Tensor, indices: Tensor) -> None:
        self.total = _plus(self.total, x.detach().to("cpu", torch.float64).sum(0))
        self.count += len(indices)

    def merge(self, other: "SumState") -> "SumState":
        out = SumState()
        out.total, out.count = _plus(self.total, other.total), self.count + other.count
        return out

    def __len__(self) -> int:
        return self.count

    def value(self) -> tuple[Tensor, Tensor]:
        """(the sum, the number of rows summed)."""
        return (torch.zeros(0) if self.total is None else self.total), torch.tensor(self.count)


def _plus(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b, where None is an empty sum."""
    return b if a is None else (a if b is None else a + b)


RowState = Union[FeatureState, SumState]


def new_row_state(merge: Merge) -> RowState:
    """An empty state for the merge rule ``merge``."""
    return FeatureState() if merge is Merge.CAT else SumState()


def merge_states(a: RowState, b: RowState) -> RowState:
    """Two shards' states of one name, merged; both have the kind of the name's merge rule."""
    if isinstance(a, FeatureState) and isinstance(b, FeatureState):
        return a.merge(b)
    if isinstance(a, SumState) and isinstance(b, SumState):
        return a.merge(b)
    raise RunError(f"cannot merge a {type(a).__name__} with a {type(b).__name__}")


def to_record(name: str, rs: RowState) -> tuple[dict[str, Tensor], list]:
    """The state ``name`` as (tensors, meta) for the journal: meta is [merge rule, count]; a sum
    state keeps ``row.<name>.total``, a cat state ``row.<name>.rows`` and ``row.<name>.idx``
    (sorted by sample index; none while empty)."""
    if isinstance(rs, SumState):
        return ({} if rs.total is None else {f"row.{name}.total": rs.total.contiguous()}), [Merge.SUM.value, rs.count]
    tensors = {}
    if len(rs):
        tensors[f"row.{name}.rows"], tensors[f"row.{name}.idx"] = (t.contiguous() for t in rs.value())
    return tensors, [Merge.CAT.value, len(rs)]


def from_record(name: str, tensors: dict[str, Tensor], meta: list) -> RowState:
    """The state ``name`` read back from ``to_record``'s (tensors, meta)."""
    merge, count = meta
    rs = new_row_state(Merge(merge))
    if isinstance(rs, SumState):
        rs.total, rs.count = tensors.get(f"row.{name}.total"), int(count)
    elif f"row.{name}.rows" in tensors:
        rs.update(tensors[f"row.{name}.rows"], tensors[f"row.{name}.idx"])
    return rs
