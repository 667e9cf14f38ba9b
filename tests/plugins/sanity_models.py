"""User code for the feature-space check's tests: a shapeless generator, a randomly
initialised conv-net extractor, and extractors whose features are NaN or badly scaled."""

import torch

SHAPE = (1, 28, 28)


class Shapeless:
    """Unconditional 1x28x28 images with no shape: each pixel ink with probability 1/2, at one
    random level per image (the issue's "random-noise-ish" generator)."""

    num_classes = None
    image_shape = SHAPE

    def sample(self, n, *, labels, generator):
        on = torch.rand(n, *SHAPE, generator=generator, device=generator.device) < 0.5
        level = torch.rand(n, 1, 1, 1, generator=generator, device=generator.device)
        return on.float() * level


class RandomConv(torch.nn.Module):
    """Two random 3x3 conv layers, ReLU, global average pooling: 32-d features, never trained."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    def forward(self, x):
        return self.net(x)


def standardised(images):
    """Each image's pixels standardised by its own spread: NaN on a constant image."""
    flat = images.flatten(1)
    return (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True)


def huge(images):
    """Raw pixels times 1,000: features of a scale where KID's cubic kernel is unusable."""
    return images.flatten(1) * 1000.0
