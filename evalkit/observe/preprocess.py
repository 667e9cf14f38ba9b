"""Images to a network's input: channels, size, quantisation, value range, as a feature space declares.

One implementation of every resize filter evalkit names (``contract.RESIZE_FILTERS``), used both
by evalkit's own resizing (a spec's ``resize:`` policy, :class:`Resized`) and by feature spaces that
declare their preprocessing (:func:`apply`), so a declared "bicubic" means the same thing everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..contract import LUMA, Preprocessing
from ..protocols import FeatureExtractor
from .features import Extractor



def to_channels(images: Tensor, channels: int | None) -> Tensor:
    """(N, C, H, W) with C in {1, 3} to ``channels``: grey replicated to RGB (as pytorch-fid,
    torch-fidelity and clean-fid feed grey images to Inception), RGB to BT.601 luminance."""
    c = images.shape[1]
    if channels is None or c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = images.new_tensor(LUMA).view(1, 3, 1, 1)
        return (images * w).sum(1, keepdim=True)
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels")


def quantize(images: Tensor) -> Tensor:
    """Rounded to the 256 levels of uint8 (kept as floats in [0, 1]): what a tool that reads the
    images from PNG files sees. Values are clamped to [0, 1] first, as a PNG writer must."""
    return torch.round(images.clamp(0.0, 1.0) * 255.0) / 255.0


def resize(images: Tensor, size: tuple[int, int], filter: str) -> Tensor:
    """(N, C, H, W) to (N, C, *size) with the named filter (see ``contract.RESIZE_FILTERS``)."""
    if tuple(images.shape[-2:]) == tuple(size) or filter == "none":
        return images
    x = images.float()
    if filter in ("bicubic", "bilinear"):  # antialiased when shrinking, as PIL does
        out = F.interpolate(x, size=size, mode=filter, align_corners=False, antialias=True)
        return out.clamp(0.0, 1.0) if filter == "bicubic" else out  # bicubic overshoots; an image file cannot
    if filter == "tf-bilinear":
        return tf1_resize_bilinear(x, size)
    if filter == "nearest":
        return F.interpolate(x, size=size, mode="nearest-exact")
    if filter == "area":
        return F.interpolate(x, size=size, mode="area")
    raise ValueError(f"unknown resize filter {filter!r}")


def tf1_resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize as TensorFlow 1.x's ``resize_bilinear(align_corners=False)``, which the FID
    graph ran: output pixel i samples input position i * (in / out), with no half-pixel offset
    (unlike torch's ``F.interpolate(align_corners=False)``), the scale rounded to float32 as
    TensorFlow computes it, the upper neighbour clamped at the last row/column and no antialiasing.
    The blend order (left-right, then top-bottom, each as a + (b - a) * t) is TensorFlow's, so the
    float32 result is the one the torch-fidelity port gets bit for bit."""

    def taps(n_in: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
        scale = torch.tensor(n_in / n_out, dtype=torch.float32, device=x.device)
        pos = torch.arange(n_out, dtype=x.dtype, device=x.device) * scale
        lo = pos.long()  # positions are >= 0, so truncation is floor
        return lo, (lo + 1).clamp_max(n_in - 1), pos - lo.to(pos.dtype)

    (y0, y1, dy), (x0, x1, dx) = taps(x.shape[2], size[0]), taps(x.shape[3], size[1])
    top, bottom = x.index_select(2, y0), x.index_select(2, y1)
    dx = dx.view(1, 1, 1, -1)
    upper = top.index_select(3, x0) + (top.index_select(3, x1) - top.index_select(3, x0)) * dx
    lower = bottom.index_select(3, x0) + (bottom.index_select(3, x1) - bottom.index_select(3, x0)) * dx
    return upper + (lower - upper) * dy.view(1, 1, -1, 1)


def apply(images: Tensor, prep: Preprocessing) -> Tensor:
    """Evalkit images ((N, C, H, W) in [0, 1]) as the network of ``prep`` takes them: quantised at
    their own size (a PNG is uint8 before any tool resizes it), channels converted, resized, then
    scaled to the declared value range or normalised by the declared mean and std."""
    x = quantize(images) if prep.quantize else images.float()
    x = to_channels(x, prep.channels)
    if prep.size is not None:
        x = resize(x, prep.size, prep.resize)
    if prep.normalize is not None:
        mean = x.new_tensor(prep.normalize[0]).view(1, -1, 1, 1)
        std = x.new_tensor(prep.normalize[1]).view(1, -1, 1, 1)
        return (x - mean) / std
    lo, hi = prep.value_range
    return x if (lo, hi) == (0.0, 1.0) else lo + x * (hi - lo)


class Resized(Extractor):
    """A network of a fixed input shape, fed images of another shape through the spec's ``resize:``
    filter (channels converted as :func:`to_channels` does). Its features are those of the network,
    so its name and dim are the network's; its digest adds the filter, which changes the numbers."""

    def __init__(self, base: FeatureExtractor, input_shape: tuple[int, int, int], filter: str):
        self.base, self.filter = base, filter
        self.channels, self.size = input_shape[0], (input_shape[1], input_shape[2])
        self.name, self.dim, self.num_classes = base.name, base.dim, base.num_classes
        self.digest = f"{base.digest}|resized:{filter}"
        self.preprocessing = Preprocessing(size=self.size, resize=filter, channels=self.channels)

    def _fit(self, images: Tensor) -> Tensor:
        return resize(to_channels(images, self.channels), self.size, self.filter)

    def features(self, images: Tensor) -> Tensor:
        return self.base.features(self._fit(images))

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.base.features_and_logits(self._fit(images))
