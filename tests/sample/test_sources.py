"""Asked labels: i.i.d. uniform from (seed, index) by default, exact turns when asked."""

import numpy as np
import pytest
import torch
from scipy import stats as sps

from evalkit.sample.sources import GeneratorSource, asked_labels, iid_labels
from evalkit.spec.model import Sampling

MASK = (1 << 64) - 1


def _splitmix_label(seed: int, i: int, k: int) -> int:
    """The documented hash, in plain Python integers (an independent computation)."""

    def fin(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    base = fin((seed ^ 0x5DEECE66D1A2B3C4) & MASK)
    return fin((base + (i + 1) * 0x9E3779B97F4A7C15) & MASK) % k


def test_labels_equal_the_documented_hash():
    got = iid_labels(7, range(300), 10).tolist()
    assert got == [_splitmix_label(7, i, 10) for i in range(300)]


def test_uniform_is_iid_uniform_by_frequency_and_runs():
    lab = iid_labels(0, range(200_000), 10).numpy()
    counts = np.bincount(lab, minlength=10)
    assert sps.chisquare(counts).pvalue > 0.001
    # i.i.d.: the next label equals this one 1/10 of the time (turns would give 0)
    same = np.mean(lab[1:] == lab[:-1])
    assert abs(same - 0.1) < 4 * np.sqrt(0.09 / len(lab))


def test_labels_are_a_pure_function_of_seed_and_index():
    full = asked_labels(Sampling(n=1000, seed=4), 10)
    assert torch.equal(asked_labels(Sampling(n=300, seed=4), 10), full[:300])
    assert torch.equal(iid_labels(4, range(250, 600), 10), full[250:600])
    other = asked_labels(Sampling(n=1000, seed=5), 10)
    # another seed is another sequence, not a shifted copy of this one
    for shift in range(-3, 4):
        a, b = full[max(0, shift):1000 + min(0, shift)], other[max(0, -shift):1000 - max(0, shift)]
        assert float((a == b).float().mean()) < 0.2


def test_stratified_turns_are_an_explicit_option():
    lab = asked_labels(Sampling(n=25, batch_size=5, labels="stratified"), 10)
    assert lab.tolist() == [i % 10 for i in range(25)]


class _Echo:
    """A generator whose image i shows the label and the first latent it was drawn with."""

    image_shape = (1, 1, 2)
    num_classes = 10

    def sample(self, n, *, labels, generator):
        z = torch.rand(n, generator=generator)
        return torch.stack([labels.float(), z], 1).view(n, 1, 1, 2)


@pytest.mark.parametrize("batch_size", [7, 50, 333])
def test_samples_do_not_depend_on_batch_size(batch_size):
    s = Sampling(n=333, seed=2, batch_size=7)
    labels = asked_labels(s, 10)
    src = GeneratorSource("echo", _Echo(), 333, labels, 2, 50, torch.device("cpu"))
    ref = torch.cat([b.images for b in src.batches(333)])
    got = torch.cat([b.images for b in src.batches(batch_size)])
    assert torch.equal(ref, got)
    assert torch.equal(got[:, 0, 0, 0].long(), iid_labels(2, range(333), 10))
