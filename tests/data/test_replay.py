"""The dataset replay: no repeats while the pool lasts, a warning naming the numbers after."""

import logging

import pytest
import torch

import evalkit
from evalkit.data.datasets import DatasetReplay
from evalkit.sample.sources import GeneratorSource, iid_labels
from tests.specs import OMIT


def _images(replay, n, seed, batch_size):
    labels = iid_labels(seed, range(n), 10)
    src = GeneratorSource("real", replay, n, labels, seed, 50, torch.device("cpu"))
    return torch.cat([b.images for b in src.batches(batch_size)]), labels


def test_replay_draws_without_replacement_and_keeps_the_asked_class():
    replay = DatasetReplay(range=(5000, 7000))
    imgs, labels = _images(replay, 1000, 0, 250)
    idx = replay.assignment(0, 1000, labels)
    assert len(set(idx.tolist())) == 1000  # 1000 distinct images of the pool (895 before)
    assert torch.equal(imgs, replay.data.take(idx))
    assert torch.equal(replay.data.labels[idx], labels)


def test_replay_is_the_same_whatever_the_batch_size_and_differs_by_seed():
    replay = DatasetReplay(range=(5000, 7000))
    a, _ = _images(replay, 400, 3, 400)
    b, _ = _images(DatasetReplay(range=(5000, 7000)), 400, 3, 37)
    c, _ = _images(replay, 400, 4, 400)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_replay_past_its_pool_warns_with_both_numbers(caplog):
    replay = DatasetReplay(range=(5000, 5500))
    with caplog.at_level(logging.WARNING):
        idx = replay.assignment(0, 800, iid_labels(0, range(800), 10))
    assert "800 samples asked of a pool of 500 images" in caplog.text
    assert len(set(idx.tolist())) == 500  # every image used before any repeats


def test_direct_sample_calls_draw_without_replacement():
    replay = DatasetReplay(range=(5000, 5300))
    g = torch.Generator().manual_seed(0)
    out = replay.sample(300, labels=None, generator=g)
    assert len(torch.unique(out.flatten(1), dim=0)) == len(torch.unique(replay.data.take(torch.arange(300)).flatten(1), dim=0))


def test_an_image_folder_smaller_than_n_is_an_error(make_spec, tmp_path):
    import numpy as np

    np.savez(tmp_path / "few.npz", images=np.zeros((30, 28, 28), np.uint8))
    spec = make_spec(name="few", reference=OMIT, subjects=[{"path": str(tmp_path / "few.npz")}],
                     sampling={"n": 100, "batch_size": 50}, requirements=[{"check": "in_range", "at_least": 0.9}])
    # Counted before anything samples: a spec error (exit 2) naming the file and the fix.
    with pytest.raises(evalkit.SpecError, match="holds 30 images but sampling.n asks 100; lower n"):
        evalkit.run(spec, device="cpu", write=False)
