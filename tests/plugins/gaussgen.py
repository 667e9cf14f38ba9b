"""A user generator for the metric-verdict simulations: a squashed Gaussian in 8 pixels."""

import torch

SHAPE = (1, 2, 4)
SCALES = torch.tensor([1.0, 0.5, 1.5, 0.8, 1.2, 0.7, 1.0, 0.9])


class Gaussian:
    """Unconditional 1x2x4 images: sigmoid(scale * z * SCALES + shift), z standard normal."""

    num_classes = None
    image_shape = SHAPE

    def __init__(self, shift: float = 0.0, scale: float = 1.0):
        self.shift, self.scale = shift, scale

    def sample(self, n, *, labels, generator):
        z = torch.randn(n, 8, generator=generator, device=generator.device)
        return torch.sigmoid(self.scale * z * SCALES + self.shift).reshape(n, *SHAPE)
