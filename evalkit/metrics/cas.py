"""CAS, the Classification Accuracy Score: a small CNN trained on the generated samples."""

from __future__ import annotations

import torch
from torch import Tensor

from .._errors import DataError
from .intervals import share_value
from .metric import MetricInputs, MetricValue


def _small_cnn(shape: tuple[int, ...], classes: int) -> torch.nn.Module:
    c = shape[0]
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def _train_and_test(x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, classes: int, epochs: int, seed: int) -> Tensor:
    """Train a small CNN on (x, y), return per-test-image correctness on (xt, yt)."""
    torch.manual_seed(seed)
    net = _small_cnn(tuple(x.shape[1:]), classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xt[i : i + 1000].float()).argmax(1) for i in range(0, len(xt), 1000)])
    return pred == yt


class CAS:
    """Classification Accuracy Score (Ravuri & Vinyals, 2019).

    A small CNN is trained on the generated samples with their asked labels and
    tested on the labelled reference images; with a ``training:`` set, the same
    CNN trained on as many real training images gives the real-data baseline
    (``extra.real_accuracy``). Bounds: Clopper-Pearson over the test images,
    conditional on the trained network.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, epochs: int = 5) -> MetricValue:
        if inputs.images is None or inputs.image_labels is None or inputs.real_images is None:
            raise DataError(f"metric 'cas' needs class-conditional samples and a labelled `reference:` (subject {inputs.subject!r})")
        xt, yt = inputs.real_images()
        classes = int(max(int(yt.max()), int(inputs.image_labels.max()))) + 1
        correct = _train_and_test(inputs.images, inputs.image_labels, xt, yt, classes, epochs, inputs.seed)
        v = share_value(correct, confidence, len(yt), "real test images")
        v.method = f"Clopper-Pearson over the {len(yt)} test images; CNN trained {epochs} epochs on {len(inputs.images)} samples"
        v.n = len(inputs.images)
        if inputs.train_images is not None:
            xr, yr = inputs.train_images()
            g = torch.Generator().manual_seed(inputs.seed)
            pick = torch.randperm(len(xr), generator=g)[: len(inputs.images)]
            real_correct = _train_and_test(xr[pick], yr[pick], xt, yt, classes, epochs, inputs.seed)
            v.extra["real_accuracy"] = float(real_correct.double().mean())
            v.note = f"the same CNN trained on {len(pick)} real training images scores {v.extra['real_accuracy']:.4f}"
        return v
