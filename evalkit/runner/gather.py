"""Under torchrun: every process's state, merged (in rank order; the merge is order-free)."""

from __future__ import annotations

from typing import Any

from .state import SubjectState


def gather_state(state: SubjectState, world: int, keep: int) -> SubjectState:
    if world <= 1:
        return state
    import torch.distributed as dist

    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, state)
    merged = gathered[0]
    for other in gathered[1:]:
        merged = merged.merge(other, keep)
    # history of no_duplicate is per process: only within-shard near-copies are seen
    return merged
