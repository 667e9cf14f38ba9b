"""The bundled label-free encoder (`fashion-encoder`), the default feature space.

Its features must be a pure function of each image (no batch effects), its weights
file must round-trip, it must never pose as a classifier, and it must be a useful
embedding: checked here with a NumPy brute-force k-NN and a SciPy Fréchet distance
written in the test, not with evalkit's own metric code.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from scipy import linalg

from evalkit import registry
from evalkit._errors import SpecError
from evalkit.data import fashion
from evalkit.observe.features import in_fixed_rows, make_extractor, probe_classifier
from evalkit.spec.model import Spec
from evalkit.zoo import nets
from evalkit.zoo.models import FashionEncoderFeatures, models_dir
from evalkit.zoo.weights import read_weights, save_weights

CPU = torch.device("cpu")
SHIPPED = models_dir() / "fashion-encoder.safetensors"
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="fashion-encoder weights not shipped")

# Floors the shipped encoder clears with room (measured values in models/fashion-encoder.md).
KNN_FLOOR = 0.75  # 5-NN accuracy, 1,000 test queries against 5,000 training images: measured 0.838
FID_RATIO_FLOOR = 20.0  # FID(test vs shuffled pixels) / FID(test vs other test images), n = 500: measured 176.7 / 6.35 = 27.8


def _images(split: str, start: int, stop: int) -> tuple[torch.Tensor, np.ndarray]:
    x, y = fashion.load(split)
    return torch.from_numpy(x[start:stop].copy()).float().div(255).unsqueeze(1), y[start:stop].astype(np.int64)


@pytest.fixture(scope="module")
def encoder():
    return make_extractor("fashion-encoder", (1, 28, 28), CPU)


def test_declared_as_a_128_d_feature_space_without_logits_and_the_default():
    registry.load_plugins()
    decl = registry.features.get("fashion-encoder").decl
    assert (decl.dim, decl.num_classes, decl.input_shape) == (128, None, (1, 28, 28))
    assert decl.weights == ("fashion-encoder.safetensors",)
    spec = Spec.model_validate({"version": 1, "name": "d", "subjects": [{"model": "fashion-vae"}]})
    assert (spec.features, spec.classifier) == ("fashion-encoder", "fashion-classifier")


def test_features_are_standardised_on_the_training_split(encoder):
    x, _ = _images("train", 0, 4000)
    f = in_fixed_rows(encoder.features, x).double()
    assert f.mean(0).abs().max() < 0.15 and (f.std(0) - 1).abs().max() < 0.15  # a 4,000-image slice of the 60,000


def test_features_are_deterministic_and_do_not_depend_on_the_batch(encoder):
    x, _ = _images("test", 0, 45)
    whole = in_fixed_rows(encoder.features, x)
    assert whole.shape == (45, 128) and whole.dtype == torch.float32
    for size in (1, 7, 13, 45):  # how a run's batch_size would split the same samples
        parts = torch.cat([in_fixed_rows(encoder.features, x[s:s + size]) for s in range(0, 45, size)])
        assert torch.equal(parts, whole), size
    assert torch.equal(in_fixed_rows(encoder.features, x.flip(0)).flip(0), whole)  # position in the batch
    assert torch.allclose(encoder.features(x), whole, atol=1e-4)  # a direct call: the same map, other kernels


def test_gives_no_logits_so_it_cannot_judge_labels(encoder):
    _, logits = encoder.features_and_logits(torch.zeros(2, 1, 28, 28))
    assert logits is None and encoder.num_classes is None
    with pytest.raises(SpecError, match="gives no class logits"):
        probe_classifier("fashion-encoder", (1, 28, 28))


def test_other_image_shapes_are_refused_by_name():
    with pytest.raises(SpecError, match="'fashion-encoder' reads 1x28x28 images, but the samples are 3x32x32"):
        make_extractor("fashion-encoder", (3, 32, 32), CPU)


def test_shipped_file_is_label_free_with_its_own_seed_and_metadata():
    tensors, info = read_weights(SHIPPED)
    assert info["arch"] == "FashionEncoder"
    _, clf = read_weights(models_dir() / "fashion-classifier.safetensors")
    assert info["training"]["config"]["seed"] != clf["training"]["config"]["seed"]
    assert info["training"]["train_data_sha256"] == fashion.sha256("train")
    assert not any("head" in k for k in tensors)  # no classification layer anywhere in the file
    assert "standardize" in info["training"]


def test_weights_round_trip_and_the_digest_follows_the_file(tmp_path, encoder):
    torch.manual_seed(7)
    net = nets.FashionEncoder(width=16, feature_dim=64).eval()
    scale = nets.Standardizer(64)
    scale.mean.uniform_(-1, 1)
    scale.std.uniform_(0.5, 2)
    path = tmp_path / "enc.safetensors"
    save_weights(path, {"": net, "standardize": scale}, {"arch": "FashionEncoder", "kwargs": {"width": 16, "feature_dim": 64}})
    loaded = FashionEncoderFeatures(CPU, checkpoint=path)
    x, _ = _images("test", 0, 16)
    with torch.no_grad():
        expected = (net.encoder(x * 2 - 1) - scale.mean) / scale.std  # the layers called directly, scaled by hand
    assert loaded.dim == 64 and torch.allclose(loaded.features(x), expected, rtol=0, atol=1e-6)
    assert loaded.digest == "fashion-encoder:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.digest != encoder.digest
    # the shipped file, saved again and read back, holds the same tensors
    tensors, _ = read_weights(SHIPPED)
    again = tmp_path / "again.safetensors"
    shipped = FashionEncoderFeatures(CPU)
    save_weights(again, {"": shipped.net, "standardize": shipped.standardize}, {})
    back, _ = read_weights(again)
    assert tensors.keys() == back.keys() and all(torch.equal(tensors[k], back[k]) for k in tensors)


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussian fits, from the definition (float64, SciPy's sqrtm)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_a_useful_embedding_knn_and_fid_against_independent_computations(encoder):
    gallery, gy = _images("train", 0, 5000)
    queries, qy = _images("test", 0, 1000)
    g = in_fixed_rows(encoder.features, gallery).double().numpy()
    q = in_fixed_rows(encoder.features, queries).double().numpy()
    d2 = (q ** 2).sum(1)[:, None] + (g ** 2).sum(1)[None] - 2 * q @ g.T  # brute force, every pair
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :5]
    votes = np.stack([np.bincount(row, minlength=10) for row in gy[nearest]])
    acc = float((votes.argmax(1) == qy).mean())
    assert acc >= KNN_FLOOR, acc

    halves = _fid(q[:500], in_fixed_rows(encoder.features, _images("test", 5000, 5500)[0]).double().numpy())
    rng = np.random.default_rng(0)
    flat = queries.flatten(1)
    shuffled = flat[:, torch.from_numpy(rng.permutation(784))].view(-1, 1, 28, 28)  # same pixels, no shapes
    s = in_fixed_rows(encoder.features, shuffled[:500]).double().numpy()
    scrambled = _fid(q[:500], s)
    assert scrambled >= FID_RATIO_FLOOR * halves, (halves, scrambled)
