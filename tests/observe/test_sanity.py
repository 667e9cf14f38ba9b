"""The feature-space check (evalkit/observe/sanity.py): a randomly initialised conv-net, which
scores shapeless noise as near-perfect FID, is caught; the bundled feature spaces pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import linalg

from evalkit import registry
from evalkit.cli import main
from evalkit.observe.features import make_extractor
from evalkit.observe.sanity import BOUND_MARGIN, CHECK_N, SEPARATION, check_feature_space, overrule
from evalkit.records.model import RequirementResult
from tests.plugins.sanity_models import RandomConv
from tests.specs import spec_text

CPU = torch.device("cpu")
REFERENCE = {"dataset": "fashion-mnist", "split": "test", "range": [0, 1000]}


def closed_form_fd(a: np.ndarray, b: np.ndarray) -> float:
    """Heusel et al.'s Fréchet distance, written out with SciPy's sqrtm (independent of evalkit's)."""
    m1, m2, c1, c2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(linalg.sqrtm(c1 @ c2).real))


def fashion(n: int) -> torch.Tensor:
    registry.load_plugins()
    return registry.datasets.get("fashion-mnist").obj(split="test", range=[0, n]).slice(0, n)


def run(tmp_path, capsys, name: str, **parts) -> tuple[int, dict, str]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "spec.yaml").write_text(spec_text(name=name, **parts))
    code = main(["run", str(folder / "spec.yaml"), "--out", str(folder / "out")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, json.loads((folder / "out" / "report.json").read_text()), (folder / "out" / "report.md").read_text()


@pytest.fixture
def random_conv(tmp_path):
    path = tmp_path / "random-conv.pt"
    torch.jit.script(RandomConv().eval()).save(str(path))
    return path


def test_random_conv_net_is_flagged_and_trained_features_are_not(tmp_path, capsys, random_conv):
    common = dict(reference=REFERENCE, subjects=[{"model": "sanity_models:Shapeless"}], sampling={"n": 300, "seed": 1},
                  requirements=[{"name": "fid", "metric": "fid", "at_most": 25}])
    # without the check, the random conv-net's FID PASSes shapeless noise
    code, off, md_off = run(tmp_path, capsys, "off", features=str(random_conv), features_check=False, **common)
    fid_off = off["subjects"][0]["requirements"][0]
    assert (code, fid_off["verdict"]) == (0, "PASS") and fid_off["value"] < 1
    assert off["reference"]["features_check"] == {"status": "off"} and "features_check: off" in md_off
    # with it, the same run is INCONCLUSIVE, the reason in report.json and report.md
    code, on, md = run(tmp_path, capsys, "on", features=str(random_conv), **common)
    r = on["subjects"][0]["requirements"][0]
    assert r["value"] == pytest.approx(fid_off["value"], rel=1e-9)
    assert r["verdict"] == "INCONCLUSIVE" and "cannot tell noise from data" in r["message"]
    check = on["reference"]["features_check"]
    assert check["n"] == CHECK_N and set(check["distances"]) == {"uniform noise", "constant", "pixel-shuffled"}
    assert "cannot tell noise from data" in md and "feature-space check: PASSED" in md
    # independently: 256 fresh noise images and 256 reference images, SciPy's closed form in the same random net
    net = RandomConv().eval()
    with torch.no_grad():
        noise = net(torch.rand(CHECK_N, 1, 28, 28, generator=torch.Generator().manual_seed(5))).double().numpy()
        real = net(fashion(1000)[500:500 + CHECK_N]).double().numpy()
    independent = closed_form_fd(real, noise)
    assert independent * BOUND_MARGIN < 25  # noise itself meets the bound in this space
    assert check["distances"]["uniform noise"] == pytest.approx(independent, rel=0.5)
    # trained features tell the same samples from data: a FAIL, and the check passes with them
    code, trained, _ = run(tmp_path, capsys, "trained", features="fashion-classifier", **common)
    t = trained["subjects"][0]["requirements"][0]
    assert (code, t["verdict"], trained["reference"]["features_check"]["status"]) == (1, "FAIL", "passed")
    assert t["value"] > 100 and t["value"] > 1000 * fid_off["value"]


@pytest.mark.parametrize("name", ["fashion-classifier", "pixels"])
def test_bundled_feature_spaces_pass_on_fashion_mnist(name):
    images = fashion(1000)
    ex = make_extractor(name, (1, 28, 28), CPU, None)
    with torch.no_grad():
        feats = ex.features(images)
    check = check_feature_space(lambda rows: images[rows], feats, ex, CPU, [f"test-{name}"], cache=False)
    assert check.status == "passed" and not check.problems
    assert all(fd > SEPARATION * check.floor for fd in check.distances.values())
    # the floor and the noise distance, recomputed here with SciPy on draws of our own
    g = torch.Generator().manual_seed(11)
    perm = torch.randperm(1000, generator=g)
    with torch.no_grad():
        noise = ex.features(torch.rand(CHECK_N, 1, 28, 28, generator=g)).double().numpy()
    a, b = feats[perm[:CHECK_N]].double().numpy(), feats[perm[CHECK_N:2 * CHECK_N]].double().numpy()
    assert check.floor == pytest.approx(closed_form_fd(a, b), rel=0.35)
    assert check.distances["uniform noise"] == pytest.approx(closed_form_fd(a, noise), rel=0.2)


def test_check_is_cached_with_the_reference_features():
    images = fashion(200)
    ex = make_extractor("pixels", (1, 28, 28), CPU, None)
    feats = ex.features(images)
    reads = []

    def images_at(rows):
        reads.append(len(rows))
        return images[rows]

    first = check_feature_space(images_at, feats, ex, CPU, ["cached-test"])
    second = check_feature_space(images_at, feats, ex, CPU, ["cached-test"])
    assert reads == [100] and first.seconds is not None and second.seconds is None  # the second read the cache
    assert first.as_dict() == second.as_dict() and "seconds" not in first.as_dict()  # resume-exact records


def test_nan_features_and_a_bad_scale_are_flagged():
    images = fashion(200)
    nan_ex = make_extractor("sanity_models:standardised", (1, 28, 28), CPU, None)
    check = check_feature_space(lambda rows: images[rows], nan_ex.features(images), nan_ex, CPU, ["nan"], cache=False)
    assert check.status == "failed" and any("NaN/Inf on constant images" in p for p in check.problems)
    big = make_extractor("sanity_models:huge", (1, 28, 28), CPU, None)
    feats = big.features(images)
    check = check_feature_space(lambda rows: images[rows], feats, big, CPU, ["huge"], cache=False)
    rms = float(feats.norm(dim=1).median()) / math.sqrt(784)
    assert check.scale == pytest.approx(rms) and rms > 100
    assert check.status == "passed" and any("KID" in w for w in check.warnings)
    kid = RequirementResult(name="kid", kind="metric", verdict="PASS", confidence=0.95, at_most=1e9, value=1.0)
    assert overrule(kid, check, "kid").verdict == "INCONCLUSIVE"
    fid = RequirementResult(name="fid", kind="metric", verdict="PASS", confidence=0.95, at_most=1.0, value=0.5)
    assert overrule(fid, check, "fid").verdict == "PASS"  # a scale is KID's problem, and this bound is tight
    assert overrule(fid, check, "class_tv").verdict == "PASS"  # reads no features
    # a bound above half the closest degenerate set's FD cannot PASS; a FAIL against it stays a FAIL
    loose = check.closest()[1] / BOUND_MARGIN
    passed = fid.model_copy(update={"at_most": loose})
    failed = passed.model_copy(update={"verdict": "FAIL", "value": 2 * check.closest()[1]})
    assert overrule(passed, check, "fid").verdict == "INCONCLUSIVE"
    assert overrule(failed, check, "fid").verdict == "FAIL"
    assert overrule(passed.model_copy(update={"at_most": 0.99 * loose}), check, "fid").verdict == "PASS"



def test_features_check_off_is_spelled_as_in_yaml():
    from evalkit import parse_spec

    base = "version: 1\nname: t\nreference: {dataset: fashion-mnist}\nsubjects: [{model: dataset}]\n"
    assert parse_spec(base).features_check is True
    assert parse_spec(base + "features_check: off\n").features_check is False
