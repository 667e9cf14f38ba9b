"""Imported FID reference statistics (``reference: {statistics: x.npz}``), through the command line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from scipy import linalg

from evalkit import registry
from evalkit.cli import main
from evalkit.observe.features import make_extractor
from tests.specs import spec_text

REF_RANGE = [0, 600]


def closed_form_fd(mu1, s1, mu2, s2) -> float:
    """Heusel et al.'s Fréchet distance with SciPy's sqrtm (independent of evalkit's)."""
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))


@pytest.fixture(scope="module")
def fashion():
    """(reference images, subject images, their fashion-classifier features): Fashion-MNIST test rows."""
    registry.load_plugins()
    data = registry.datasets.get("fashion-mnist").obj(split="test", range=None)
    ref, sub = data.slice(*REF_RANGE), data.slice(7000, 7100)
    ex = make_extractor("fashion-classifier", (1, 28, 28), torch.device("cpu"), None)
    with torch.no_grad():
        return ref, sub, ex.features(ref).double().numpy(), ex.features(sub).double().numpy()


def _spec(folder, reference, requirements=({"name": "fid", "metric": "fid", "at_most": 1000},), **more):
    path = folder / "spec.yaml"
    path.write_text(spec_text(reference=reference, features="fashion-classifier", subjects=[{"path": "sub.npz"}],
                              sampling={"n": 100, "seed": 0}, requirements=list(requirements), **more))
    return path


@pytest.fixture
def folder(tmp_path, fashion):
    _, sub, _, _ = fashion
    np.savez(tmp_path / "sub.npz", images=(sub.numpy() * 255).round().astype(np.uint8))
    return tmp_path


def _run(path, capsys):
    out = path.parent / ("out-" + path.stem)
    code = main(["run", str(path), "--out", str(out)])
    assert "Traceback" not in capsys.readouterr().err
    return code, json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_imported_statistics_give_the_fid_of_the_features_behind_them(folder, fashion, capsys):
    _, _, real, fake = fashion
    mu, sigma = real.mean(0), np.cov(real, rowvar=False)  # as pytorch-fid computes them
    np.savez(folder / "stats.npz", mu=mu, sigma=sigma)
    code, from_images, _ = _run(_spec(folder, {"dataset": "fashion-mnist", "split": "test", "range": REF_RANGE}), capsys)
    stats_spec = _spec(folder, {"statistics": "stats.npz"})
    stats_spec.rename(folder / "imported.yaml")
    code2, imported, md = _run(folder / "imported.yaml", capsys)
    a, b = from_images["subjects"][0]["metrics"][0], imported["subjects"][0]["metrics"][0]
    assert code == code2 == 0
    assert b["value"] == pytest.approx(a["value"], rel=1e-7)  # float32 features: batches round alike to ~1e-8
    # the subject's images round-trip through uint8: its features are those computed above
    assert b["value"] == pytest.approx(closed_form_fd(mu, sigma, fake.mean(0), np.cov(fake, rowvar=False)), rel=1e-6)
    # the interval covers the generated side only, either way: the same bounds
    assert (b["lower"], b["upper"]) == pytest.approx((a["lower"], a["upper"]), rel=1e-6)
    ref = imported["reference"]
    assert ref["imported"] is True and ref["n"] is None and ref["feature_dim"] == 128
    assert ref["statistics_sha256"] == hashlib.sha256((folder / "stats.npz").read_bytes()).hexdigest()
    assert "no interval claims on the reference side" in md and ref["statistics_sha256"] in md
    assert "imported reference statistics" in b["note"] and b["n_reference"] is None
    assert ref["features_check"]["status"] == "passed" and set(ref["features_check"]["distances"]) == {"uniform noise", "constant"}


def _bad(folder, capsys, **arrays):
    np.savez(folder / "bad.npz", **arrays)
    path = _spec(folder, {"statistics": "bad.npz"})
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_bad_statistics_are_refused_at_validate(folder, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 128))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    skew = sigma.copy()
    skew[0, 1] += 1.0
    nan_mu = mu.copy()
    nan_mu[3] = np.nan
    cases = {
        "not symmetric": dict(mu=mu, sigma=skew),
        "NaN/Inf": dict(mu=nan_mu, sigma=sigma),
        "feature space gives 128-d": dict(mu=mu[:10], sigma=sigma[:10, :10]),
        "no `sigma` array": dict(mu=mu),
        "positive semi-definite": dict(mu=mu, sigma=sigma - 2 * np.eye(128) * np.linalg.eigvalsh(sigma)[-1]),
        "must be (d, d)": dict(mu=mu, sigma=sigma[:, :10]),
    }
    for words, arrays in cases.items():
        code, err = _bad(folder, capsys, **arrays)
        assert code == 2 and "bad.npz" in err and words in err and "reference.statistics" in err, (words, err)


def test_a_pickled_object_array_is_refused_unread(folder, capsys):
    class Boom:
        def __reduce__(self):
            return (print, ("unpickled!",))

    np.savez(folder / "bad.npz", mu=np.zeros(128), sigma=np.array([Boom()], dtype=object))
    path = _spec(folder, {"statistics": "bad.npz"})
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert "unpickled!" not in out.out + out.err
    assert "bad.npz" in out.err and "`sigma` holds Python objects" in out.err and "never unpickles" in out.err


def test_only_fid_reads_imported_statistics(folder, capsys):
    np.savez(folder / "stats.npz", mu=np.zeros(128), sigma=np.eye(128))
    path = _spec(folder, {"statistics": "stats.npz"},
                 requirements=[{"name": "fid", "metric": "fid", "at_most": 1000}, {"name": "kid", "metric": "kid", "at_most": 1}])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'kid' needs the reference's features" in err and "only `fid` can use" in err and "'fid'" not in err.split("kid")[0]


def test_a_user_extractor_of_another_dimension_breaks_the_run_naming_the_file(folder, capsys):
    np.savez(folder / "stats.npz", mu=np.zeros(10), sigma=np.eye(10))
    path = folder / "spec.yaml"
    path.write_text(spec_text(reference={"statistics": "stats.npz"}, features="sanity_models:huge",
                              subjects=[{"path": "sub.npz"}], sampling={"n": 100, "seed": 0},
                              requirements=[{"metric": "fid", "at_most": 1e12}]))
    assert main(["validate", str(path)]) == 0  # a user extractor's dimension is known once it is built
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(folder / "o")]) == 3
    assert "Traceback" not in capsys.readouterr().err
    (sub,) = json.loads((folder / "o" / "report.json").read_text())["subjects"]
    assert sub["status"] != "ok" and "stats.npz" in sub["error"] and "10-d but the feature space gives 784-d" in sub["error"]


def test_training_takes_no_statistics(folder, capsys):
    np.savez(folder / "stats.npz", mu=np.zeros(128), sigma=np.eye(128))
    path = _spec(folder, {"dataset": "fashion-mnist", "range": [0, 100]}, training={"statistics": "stats.npz"})
    assert main(["validate", str(path)]) == 2
    assert "training.statistics" in capsys.readouterr().err


def test_statistics_cannot_be_sliced_by_range_or_split(make_spec):
    import subprocess
    import sys

    spec = make_spec(reference={"statistics": "stats.npz", "range": [0, 100]},
                     requirements=[{"name": "fid", "metric": "fid", "at_most": 10}])
    r = subprocess.run([sys.executable, "-m", "evalkit", "validate", str(spec)], capture_output=True, text=True)
    assert r.returncode == 2 and "cannot be sliced" in r.stderr and "Traceback" not in r.stderr, r.stderr
