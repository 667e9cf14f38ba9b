"""inception-fid: evalkit's FID Inception-v3 against torch-fidelity's, and the weights file's checks.

The network is compared with torch-fidelity's ``FeatureExtractorInceptionV3`` (an independent
port of the same TensorFlow graph) given the same random weights: the real file is 95 MB and
not downloadable here, and random weights exercise every layer as well. torch-fidelity's module
is imported through a stub package, since its ``__init__`` imports torchvision.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from evalkit._errors import CheckpointError, SpecError
from tests.fidelity import stub_torch_fidelity
from evalkit.observe import inception
from evalkit.observe.inception import (
    ALLOW_ANY_ENV,
    STANDARD_SHA256,
    WEIGHTS_ENV,
    WEIGHTS_NAMES,
    WEIGHTS_URLS,
    FIDInceptionV3,
    InceptionFID,
    find_weights,
    to_uint8_rgb,
)


def _torch_fidelity_module():
    """torch_fidelity.feature_extractor_inceptionv3, without running the package's __init__."""
    if not stub_torch_fidelity():
        pytest.skip("torch-fidelity is not installed (pip install --no-deps torch-fidelity==0.4.0)")
    import torch_fidelity.feature_extractor_inceptionv3 as module  # type: ignore[import-not-found]

    return module


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """A seeded random state dict with the standard file's keys and shapes, saved as a plain .pth.
    Batch-norm statistics are moved off their (0, 1) defaults so the normalisation is exercised."""
    torch.manual_seed(20151205)
    net = FIDInceptionV3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def allow_any(monkeypatch):
    monkeypatch.setenv(ALLOW_ANY_ENV, "1")


@pytest.fixture(scope="module")
def fidelity(random_weights):
    module = _torch_fidelity_module()
    return module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                              feature_extractor_weights_path=str(random_weights))


# ------------------------------------------------------------------ the network against torch-fidelity


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 3, 32, 32), (1, 3, 64, 64), (1, 3, 299, 299)])
def test_features_equal_torch_fidelity(random_weights, fidelity, allow_any, shape):
    gen = torch.Generator().manual_seed(sum(shape))
    levels = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    ours = InceptionFID("cpu", random_weights).features(levels.float() / 255)  # evalkit images in [0, 1]
    with torch.no_grad():
        theirs = fidelity(levels.expand(-1, 3, -1, -1).contiguous())[0]  # grey replicated to RGB, as PIL's convert
    assert ours.shape == theirs.shape == (shape[0], 2048)
    # the same float32 operations in the same order: equal to float32 rounding of the feature size
    # (bit for bit on this machine; the bound allows a different kernel choice on another)
    assert (ours - theirs).abs().max() <= 1e-5 * theirs.norm(dim=1).max()
    assert theirs.norm() > 0  # not a vacuous comparison of zeros


def test_the_resize_is_tensorflow_1s_not_torchs(fidelity):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.rand(1, 3, 28, 20, generator=torch.Generator().manual_seed(1)) * 255
    ours = inception.tf1_resize_bilinear(x, (299, 299))
    assert torch.equal(ours, interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False))
    # TensorFlow 1.x samples position i * in / out (no half-pixel centres): pixel (0, 0) is the input's
    half_pixel = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert torch.equal(ours[..., 0, 0], x[..., 0, 0]) and not torch.allclose(ours, half_pixel)


def test_quantisation_and_grey():
    k = torch.arange(256, dtype=torch.float32)
    x = torch.stack([k / 255, (k + 0.45) / 255, (k - 0.45) / 255]).clamp(0, 1).view(1, 1, 3, 256)
    out = to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 3, 256)
    assert torch.equal(out[0, 1], out[0, 0]) and torch.equal(out[0, 2], out[0, 0])  # grey replicated
    assert out[0, 0].tolist() == [list(range(256))] * 3  # round(x * 255): each level within 0.45 of k is k
    assert to_uint8_rgb(torch.tensor([-0.5, 2.0]).view(1, 1, 1, 2))[0, 0, 0].tolist() == [0, 255]


# ------------------------------------------------------------------ the weights file


def test_a_file_of_another_digest_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ANY_ENV, raising=False)
    bad = tmp_path / "my-inception.pth"
    bad.write_bytes(b"not the FID weights")
    with pytest.raises(SpecError) as err:
        find_and_build(bad)
    msg = str(err.value)
    assert str(bad) in msg and _sha(bad) in msg and STANDARD_SHA256 in msg
    assert WEIGHTS_URLS[0] in msg and ALLOW_ANY_ENV in msg


def find_and_build(path: Path):
    return inception.inception_fid((3, 32, 32), torch.device("cpu"), weights=path)


def test_a_name_that_carries_a_digest_prefix_must_match_it_even_when_any_weights_are_allowed(tmp_path, allow_any):
    truncated = tmp_path / WEIGHTS_NAMES[1]  # "...-6726825d.pth", but other bytes (a cut-off download)
    truncated.write_bytes(b"half a file")
    with pytest.raises(SpecError, match=r"named for SHA-256 6726825d\.\.\., but its SHA-256 is " + _sha(truncated)):
        inception.verified_weights(truncated)
    own = tmp_path / "weights-{}.pth".format(_sha(truncated)[:8])
    own.write_bytes(truncated.read_bytes())
    assert inception.verified_weights(own) == (_sha(own), False)


def test_the_standard_digest_names_the_extractor_plainly(random_weights, monkeypatch):
    monkeypatch.delenv(ALLOW_ANY_ENV, raising=False)
    # stand the random file in for the standard one: only the digest comparison is under test
    monkeypatch.setattr(inception, "STANDARD_SHA256", _sha(random_weights))
    ex = find_and_build(random_weights)
    assert ex.name == "inception-fid" and ex.dim == 2048 and _sha(random_weights) in ex.digest


def test_unverified_weights_say_so(random_weights, allow_any):
    ex = find_and_build(random_weights)
    assert ex.name == "inception-fid (unverified weights)"
    assert ex.digest == f"{inception.CODE_VERSION}:{_sha(random_weights)}"


class _Marker:
    """Unpickling this calls open(path, "w"): a file that runs code when loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, allow_any):
    marker = tmp_path / "ran"
    hostile = tmp_path / "inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": _Marker(marker)}, hostile)
    with pytest.raises(CheckpointError, match="not a plain PyTorch state dict"):
        find_and_build(hostile)
    assert not marker.exists()
    torch.load(hostile, weights_only=False)  # the file is really hostile: a full unpickle runs it
    assert marker.exists()


def test_a_state_dict_of_another_network_is_refused(tmp_path, allow_any):
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match=r"missing: Conv2d_1a_3x3\.conv\.weight.*wrong shape: fc\.weight"):
        find_and_build(other)


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return tmp_path


def test_no_file_anywhere_says_where_it_looked(no_weights_anywhere):
    with pytest.raises(SpecError) as err:
        find_weights(None)
    msg = str(err.value)
    for folder in (no_weights_anywhere / "torch-home", no_weights_anywhere / "home" / ".cache" / "torch"):
        for name in WEIGHTS_NAMES:
            assert str(folder / "hub" / "checkpoints" / name) in msg
    assert all(url in msg for url in WEIGHTS_URLS) and WEIGHTS_ENV in msg and "feature_weights" in msg


def test_spec_path_then_environment_then_caches(no_weights_anywhere, monkeypatch):
    root = no_weights_anywhere
    cached = root / "torch-home" / "hub" / "checkpoints" / WEIGHTS_NAMES[1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached")
    assert find_weights(None) == cached
    env = root / "env.pth"
    env.write_bytes(b"env")
    monkeypatch.setenv(WEIGHTS_ENV, str(env))
    assert find_weights(None) == env
    spec = root / "spec.pth"
    spec.write_bytes(b"spec")
    assert find_weights(spec) == spec
    folder = root / "weights"
    folder.mkdir()
    (folder / WEIGHTS_NAMES[0]).write_bytes(b"in a folder")
    assert find_weights(folder) == folder / WEIGHTS_NAMES[0]
    # a named path that is not there is an error, not a reason to fall back on the cache
    with pytest.raises(SpecError, match=f"feature_weights names {root / 'gone.pth'}, which does not exist"):
        find_weights(root / "gone.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(root / "gone.pth"))
    with pytest.raises(SpecError, match=rf"\${WEIGHTS_ENV} names .*gone\.pth, which does not exist"):
        find_weights(None)


def test_a_safetensors_copy_gives_the_same_features(random_weights, tmp_path, allow_any, monkeypatch):
    copy = inception.save_safetensors(random_weights, tmp_path / "inception.safetensors")
    images = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(5))
    from_pth, from_copy = find_and_build(random_weights), find_and_build(copy)
    assert from_copy.digest == from_pth.digest  # it names the weights, not the container
    assert torch.equal(from_copy.features(images), from_pth.features(images))
    monkeypatch.delenv(ALLOW_ANY_ENV)
    with pytest.raises(SpecError, match=f"made from weights of SHA-256 {_sha(random_weights)}, not the standard"):
        find_and_build(copy)


# ------------------------------------------------------------------ through the command line

RUN_SPEC = """\
version: 1
name: inception
reference: {path: ref.npz}
features: inception-fid
feature_weights: WEIGHTS
classifier: null
subjects:
  - {path: samples.npz, name: rgb}
sampling: {n: 6, batch_size: 6, seed: 0}
requirements:
  - {metric: fid, at_most: 1.0e9}
report: {formats: [json]}
"""


def _npz(path: Path, images) -> None:
    import numpy as np

    np.savez(path, images=images.numpy(), layout="NCHW")


def _fid_by_gram(real, fake) -> float:
    """FID from two small feature sets, written out independently of evalkit's solver: with
    N < d the covariances are low-rank, C1 = A'A / (n1 - 1) and C2 = B'B / (n2 - 1) for the
    centred rows A, B, and tr((C1 C2)^1/2) is the sum of the singular values of A B' over
    sqrt((n1 - 1)(n2 - 1)) (the nonzero eigenvalues of C1 C2 are those of A B' B A', scaled)."""
    import numpy as np

    a, b = real.double().numpy(), fake.double().numpy()
    ca, cb = a - a.mean(0), b - b.mean(0)
    na, nb = len(a) - 1, len(b) - 1
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    mean = ((a.mean(0) - b.mean(0)) ** 2).sum()
    return float(mean + (ca ** 2).sum() / na + (cb ** 2).sum() / nb - 2 * cross)


@pytest.mark.slow
def test_a_run_through_the_cli_gives_torch_fidelitys_fid(tmp_path, write_spec, random_weights, fidelity, allow_any):
    import json

    from evalkit.cli import main

    gen = torch.Generator().manual_seed(7)
    ref = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=gen)
    fake = (ref[:6].int() + torch.randint(-40, 41, (6, 3, 32, 32), generator=gen)).clamp(0, 255).to(torch.uint8)
    _npz(tmp_path / "ref.npz", ref)
    _npz(tmp_path / "samples.npz", fake)
    spec = write_spec(RUN_SPEC.replace("WEIGHTS", str(random_weights)))
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--no-cache", "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [metric] = report["subjects"][0]["metrics"]
    with torch.no_grad():
        expected = _fid_by_gram(fidelity(ref)[0], fidelity(fake)[0])
    assert metric["value"] == pytest.approx(expected, rel=1e-4)
    space = report["reference"]["feature_space"]
    assert space["name"] == "inception-fid (unverified weights)" and _sha(random_weights) in space["digest"]
    assert space["dim"] == 2048 and space["preprocessing"] == {
        "size": [299, 299], "resize": "tf-bilinear", "channels": 3, "value_range": [0, 255], "quantize": "uint8",
        "normalize": None}


def test_validate_refuses_a_wrong_digest_before_sampling(tmp_path, write_spec, capsys, monkeypatch):
    from evalkit.cli import main

    monkeypatch.delenv(ALLOW_ANY_ENV, raising=False)
    bad = tmp_path / "inception.pth"
    bad.write_bytes(b"a different file")
    images = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    _npz(tmp_path / "ref.npz", images)
    _npz(tmp_path / "samples.npz", images)
    spec = write_spec(RUN_SPEC.replace("WEIGHTS", "inception.pth"))  # relative to the spec's folder
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{bad} has SHA-256 {_sha(bad)}" in err and STANDARD_SHA256 in err
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "report.json").exists()


def test_validate_says_where_it_looked_when_there_is_no_file(tmp_path, write_spec, capsys, no_weights_anywhere):
    from evalkit.cli import main

    images = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    _npz(tmp_path / "ref.npz", images)
    _npz(tmp_path / "samples.npz", images)
    spec = write_spec(RUN_SPEC.replace("feature_weights: WEIGHTS\n", ""))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "weights file was not found; looked at" in err and WEIGHTS_URLS[1] in err
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints" / WEIGHTS_NAMES[0]) in err
