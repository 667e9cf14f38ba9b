"""Tiny real models for tests/test_evaluator.py: a class-conditional generator that training
improves, and a feature extractor that counts the rows it has seen."""

import torch
from torch import nn


class TinyConditional(nn.Module):
    """1x28x28, 10 classes: sigmoid(per-class logits + scale * noise), with a dropout that only
    an evaluation in eval mode leaves out. ``seen`` records (training, grad enabled) at every
    sample() call; with ``record`` set, ``drawn`` keeps every (images, labels) it returned."""

    image_shape = (1, 28, 28)
    num_classes = 10

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(0.1 * torch.randn(10, 784, generator=g))
        self.log_scale = nn.Parameter(torch.tensor(-1.0))
        self.drop = nn.Dropout(0.5)
        self.frozen = nn.Linear(1, 1)  # a part the loop keeps in eval mode: it must stay so
        self.seen: list[tuple[bool, bool]] = []
        self.record = False
        self.drawn: list[tuple[torch.Tensor, torch.Tensor]] = []

    def mean(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.drop(self.logits[labels])).view(-1, 1, 28, 28)

    def sample(self, n, *, labels, generator):
        self.seen.append((self.training, torch.is_grad_enabled()))
        z = torch.randn(n, 784, generator=generator, device=generator.device)
        x = torch.sigmoid(self.drop(self.logits[labels]) + self.log_scale.exp() * z).view(n, 1, 28, 28)
        if self.record:
            self.drawn.append((x.clone(), labels.clone()))
        return x


def tiny_conditional(seed: int = 0) -> TinyConditional:
    """A factory, as a spec's `params:` reach it. In eval mode: `evalkit run` samples a module in
    the mode its factory returns it (with dropout on, no two runs would agree)."""
    return TinyConditional(seed).eval()


class Ninefold(TinyConditional):
    """Returns 1x9x9 images while its image_shape says 1x28x28."""

    def sample(self, n, *, labels, generator):
        return torch.rand(n, 1, 9, 9, generator=generator)


class CountingPixels(nn.Module):
    """Flattened pixels, counting the rows it is asked for."""

    def __init__(self):
        super().__init__()
        self.rows = 0

    def forward(self, x):
        self.rows += len(x)
        return x.flatten(1)


counting_pixels = CountingPixels()
