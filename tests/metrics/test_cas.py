"""CAS (``metrics.cas``): a small CNN trained on the samples, scored on labelled real images."""

import pytest
import torch

from evalkit._errors import DataError
from evalkit.metrics.binomial import cp_lower, cp_upper
from evalkit.metrics.cas import CAS
from evalkit.metrics.metric import MetricInputs


def _inputs(train=False):
    g = torch.Generator().manual_seed(1)
    images = (torch.rand(40, 1, 8, 8, generator=g) * 255).to(torch.uint8)
    labels = torch.randint(0, 3, (40,), generator=g)
    test = (torch.rand(30, 1, 8, 8, generator=g), torch.randint(0, 3, (30,), generator=g))
    training = ((torch.rand(60, 1, 8, 8, generator=g) * 255).to(torch.uint8), torch.randint(0, 3, (60,), generator=g))
    return MetricInputs("s", None, torch.zeros(40, 2), images=images, image_labels=labels, real_images=lambda: test,
                        train_images=(lambda: training) if train else None, seed=1)


def test_cas_is_a_clopper_pearson_share_of_the_test_images():
    v = CAS().compute(_inputs(), 0.9, epochs=1)
    k = round(v.value * 30)
    assert v.value == k / 30 and (v.low, v.high) == (cp_lower(k, 30, 0.9), cp_upper(k, 30, 0.9))
    assert v.n == 40 and v.n_reference == 30 and "real_accuracy" not in v.extra
    assert v == CAS().compute(_inputs(), 0.9, epochs=1)  # seeded training


def test_cas_with_a_training_set_gives_the_real_baseline():
    v = CAS().compute(_inputs(train=True), 0.9, epochs=1)
    assert 0.0 <= v.extra["real_accuracy"] <= 1.0 and "40 real training images" in v.note


def test_cas_needs_labelled_samples_and_reference():
    with pytest.raises(DataError, match="class-conditional samples and a labelled `reference:`"):
        CAS().compute(MetricInputs("s", None, torch.zeros(4, 2)), 0.9)
