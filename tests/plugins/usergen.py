"""Real user-side generators used by the tests through ``module:attribute`` references."""

import torch


class Blobs:
    """Unconditional RGB generator: a bright Gaussian blob at a random place (any size)."""

    num_classes = None

    def __init__(self, size: int = 32, channels: int = 3):
        self.image_shape = (channels, size, size)

    def sample(self, n, *, labels, generator):
        c, h, w = self.image_shape
        centre = torch.rand(n, 2, generator=generator, device=generator.device) * torch.tensor([h, w])
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        d2 = (yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2
        img = torch.exp(-d2 / (2 * (h / 6) ** 2))
        return img[:, None].expand(n, c, h, w).clone()


class Striped:
    """Class-conditional 1x28x28: class k draws k+1 vertical stripes, plus noise."""

    image_shape = (1, 28, 28)
    num_classes = 10

    def sample(self, n, *, labels, generator):
        x = torch.rand(n, 1, 28, 28, generator=generator) * 0.1
        cols = torch.arange(28)
        for i, k in enumerate(labels.tolist()):
            x[i, 0, :, cols % (28 // (k + 1) + 1) == 0] = 1.0
        return x


class NaNAfter:
    """Returns NaN for every sample from index ``start`` on (counts calls)."""

    num_classes = None

    def __init__(self, start: int = 0, size: int = 8):
        self.start, self.seen = start, 0
        self.image_shape = (1, size, size)

    def sample(self, n, *, labels, generator):
        x = torch.rand(n, *self.image_shape, generator=generator)
        for i in range(n):
            if self.seen + i >= self.start:
                x[i, 0, 0, 0] = float("nan")
        self.seen += n
        return x


class WrongShape:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        return torch.rand(n, 1, 9, 9, generator=generator)


class Raises:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        raise RuntimeError("out of cheese")


def make_blobs(size: int = 32, checkpoint=None):
    """A factory taking params (size) and an optional checkpoint path."""
    return Blobs(size=size)


class NaNFeatures(torch.nn.Module):
    """A user feature extractor that yields NaN for images whose top-left pixel is bright."""

    def forward(self, x):
        f = x.flatten(1)[:, :6].clone()
        f[x[:, 0, 0, 0] > 0.5] = float("nan")
        return f


nan_features = NaNFeatures()


class Tanh:
    """Unconditional 1x8x8 images in [-1, 1] (a tanh output never rescaled); ``declared`` sets output_range."""

    num_classes = None
    image_shape = (1, 8, 8)

    def __init__(self, declared: bool = False):
        if declared:
            self.output_range = (-1.0, 1.0)

    def sample(self, n, *, labels, generator):
        return torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1
class NoisyReplay:
    """Real Fashion-MNIST images of the asked class plus uniform noise of amplitude ``noise``, clamped to [0, 1].

    The noise is drawn after the images from the same generator, so two noise levels
    share their base images sample for sample: a real, pairable difference.
    """

    def __init__(self, noise: float = 0.0, range=(5000, 6000)):
        from evalkit.data.datasets import DatasetReplay

        self.noise = float(noise)
        self.replay = DatasetReplay(range=tuple(range))
        self.image_shape, self.num_classes = self.replay.image_shape, self.replay.num_classes

    def sample(self, n, *, labels, generator):
        x = self.replay.sample(n, labels=labels, generator=generator)
        if self.noise:
            x = (x + self.noise * torch.rand(x.shape, generator=generator, device=generator.device).to(x.device)).clamp(0, 1)
        return x


def noisy_replay(noise: float = 0.0, checkpoint=None):
    return NoisyReplay(noise)


COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0))  # class k's colour


class ColourBars:
    """Class-conditional RGB of any size: class k paints a bar of colour COLOURS[k] on black, plus noise."""

    num_classes = len(COLOURS)

    def __init__(self, height: int = 32, width: int = 48):
        self.image_shape = (3, height, width)

    def sample(self, n, *, labels, generator):
        _, h, w = self.image_shape
        x = torch.rand(n, 3, h, w, generator=generator, device=generator.device).cpu() * 0.05
        top = torch.randint(0, h // 2, (n,), generator=generator, device=generator.device).cpu()
        colour = torch.tensor(COLOURS)[labels.cpu()]
        for i in range(n):
            x[i, :, top[i]: top[i] + h // 2, w // 4: 3 * w // 4] = colour[i][:, None, None]
        return x


class Noise:
    """Unconditional uniform RGB noise of any size (the hardest picture for a PNG to compress)."""

    num_classes = None

    def __init__(self, height: int = 128, width: int = 128):
        self.image_shape = (3, height, width)

    def sample(self, n, *, labels, generator):
        return torch.rand(n, *self.image_shape, generator=generator, device=generator.device)


class BarClassifier(torch.nn.Module):
    """Logits for ColourBars' classes: how near the mean colour of the bright pixels lies to each class colour."""

    num_classes = len(COLOURS)

    def forward(self, x):
        flat = x.flatten(2)
        bright = (flat.max(1, keepdim=True).values > 0.5).float()
        colour = (flat * bright).sum(2) / bright.sum(2).clamp_min(1)
        return -((colour[:, None] - torch.tensor(COLOURS, device=x.device)[None]) ** 2).sum(2) * 10


bar_classifier = BarClassifier()
