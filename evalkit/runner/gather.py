"""Under torchrun: what the processes exchange. Each round of batches shares the values that
later batches read (no_duplicate's pixels, the looks' counts); at the end the states merge.
Outside torchrun these are identities, so one code path serves both."""

from __future__ import annotations

from typing import Any

from .context import RunContext
from .state import SubjectState


def share_round(ctx: RunContext, mine: Any) -> list[Any]:
    """Every process's ``mine`` for this round, in rank order (= batch order), Nones dropped."""
    if ctx.world <= 1:
        return [] if mine is None else [mine]
    import torch.distributed as dist

    gathered: list[Any] = [None] * ctx.world
    dist.all_gather_object(gathered, mine)
    return [g for g in gathered if g is not None]


def gather_state(state: SubjectState, world: int, keep: int) -> SubjectState:
    """Every process's state merged (in rank order; the merge is order-free)."""
    if world <= 1:
        return state
    import torch.distributed as dist

    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, state)
    merged = gathered[0]
    for other in gathered[1:]:
        merged = merged.merge(other, keep)
    return merged
