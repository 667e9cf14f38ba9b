"""What evalkit asks of a generator."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class Generator(Protocol):
    """Anything that draws images. Pixel values in [0, 1], shape (n, *image_shape).

    ``sample`` must take all its randomness from ``generator`` so that a sample is
    a pure function of the seed; ``labels`` is None for unconditional models.
    """

    image_shape: tuple[int, int, int]
    num_classes: int | None

    def sample(self, n: int, *, labels: Tensor | None, generator: torch.Generator) -> Tensor: ...
