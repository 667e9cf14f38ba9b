"""Cheap user code for the drawn-spec tests (tests/test_spec_language.py), named as module:attribute.

An RGB (3x8x8) class-conditional generator, a grey unconditional one, and an RGB classifier
that reads the class the RGB generator paints (so label checks have a classifier to
ask). All are small closed forms, so a drawn spec runs in a fraction of a second.
"""

import torch

RGB_SHAPE = (3, 8, 8)
RGB_CLASSES = 4


def _paint(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Class k lights channel k (k < 3) or all three (k = 3) in a square, plus noise."""
    n = len(labels)
    c, h, w = RGB_SHAPE
    x = torch.rand(n, c, h, w, generator=generator, device=generator.device).cpu() * 0.2
    size = 2 + (torch.rand(n, generator=generator, device=generator.device).cpu() * 5).long()
    for i, k in enumerate(labels.tolist()):
        chans = [k] if k < 3 else [0, 1, 2]
        s = int(size[i])
        x[i, chans, :s, :s] = 0.9
    return x


class RGBSquares:
    """Class-conditional 3x8x8: class k paints a square in channel k (all channels for class 3)."""

    image_shape = RGB_SHAPE
    num_classes = RGB_CLASSES

    def sample(self, n, *, labels, generator):
        return _paint(labels.cpu(), generator)


class GreyBlobs:
    """Unconditional 1x28x28: a soft blob at a random place (any brightness ``level``)."""

    image_shape = (1, 28, 28)
    num_classes = None

    def __init__(self, level: float = 0.9):
        self.level = float(level)

    def sample(self, n, *, labels, generator):
        centre = torch.rand(n, 2, generator=generator, device=generator.device).cpu() * 28
        yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        d2 = (yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2
        return (self.level * torch.exp(-d2 / 40.0))[:, None]


class SquareClassifier(torch.nn.Module):
    """Logits for RGBSquares' classes: the brightness of each channel's top-left square, and their agreement."""

    num_classes = RGB_CLASSES

    def forward(self, x):
        m = x[:, :, :2, :2].mean(dim=(2, 3))  # (N, 3)
        lit = (m > 0.5).float()
        all_lit = lit.prod(dim=1, keepdim=True)
        single = lit * (1 - all_lit)
        return 8.0 * torch.cat([single, all_lit], dim=1)


square_classifier = SquareClassifier().eval()


def rgb_images(n: int, seed: int) -> torch.Tensor:
    """n RGBSquares images with uniformly drawn classes: the RGB reference and saved subjects."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, RGB_CLASSES, (n,), generator=g)
    return _paint(labels, g)
