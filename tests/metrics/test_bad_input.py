"""Bad input to the distribution metrics: one clear message, a documented exit code, no traceback."""

import pytest
import torch

from evalkit.metrics import functional as F
from evalkit.records.reading import read_report

from ..specs import OMIT, REFERENCE
from ..test_run import run_cli


BLOBS = {"model": "usergen:Blobs", "name": "tiny", "params": {"size": 28, "channels": 1}}


def _spec(make_spec, subject: dict, n: int, requirements: list, **parts):
    return make_spec(name="bad-metrics", reference=dict(REFERENCE, range=[0, 300]), subjects=[subject],
                     sampling={"n": n, "batch_size": min(n, 50)}, requirements=requirements, **parts)


def test_nan_features_name_the_subject_and_the_rows(make_spec, tmp_path, capsys):
    spec = _spec(make_spec, {"model": "usergen:Striped", "name": "stripes"}, 100, [{"metric": "fid", "at_most": 1000}],
                 features="usergen:nan_features")
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 3
    # the subject stops at its first batch: Striped draws a bright stripe at column 0 in every image
    assert "evalkit: subject 'stripes': features of 50 samples hold NaN/Inf" in err


def test_fewer_samples_than_k_plus_one(make_spec, tmp_path, capsys):
    spec = _spec(make_spec, BLOBS, 3, [{"metric": "recall", "at_least": 0.1}])  # recall draws k-NN balls around the 3 samples
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    # recall declares min N = 5 (its jackknife), so validation refuses n = 3 before anything runs
    assert code == 2 and not (tmp_path / "o").exists()
    assert "requirement 'recall'" in err and "spec.yaml:" in err
    assert "metric 'recall' (jackknife interval) needs N >= 5 samples, but sampling.n is 3" in err


def test_fid_with_fewer_samples_than_dimensions_says_rank_deficient(make_spec, tmp_path, capsys):
    spec = _spec(make_spec, {"model": "dataset", "name": "few", "params": {"range": [300, 600]}}, 100,
                 [{"metric": "fid", "at_most": 1000}])
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, out + err
    note = read_report(tmp_path / "o").subjects[0].metrics[0].note
    assert "rank-deficient (N <= d = 784)" in note and "N=100" in note


def test_a_subject_with_no_finite_samples(make_spec, tmp_path, capsys):
    spec = make_spec(name="empty", reference=dict(REFERENCE, range=[0, 100]),
                     subjects=[{"model": "usergen:NaNAfter", "name": "all-nan", "params": {"size": 28}}],
                     sampling={"n": 50, "batch_size": 50},
                     requirements=[{"check": "finite", "at_least": 0.5}, {"metric": "fid", "at_most": 1000}])
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 3
    assert "subject 'all-nan'" in err and "no finite samples to compute metrics on" in err


@pytest.mark.parametrize("metric,args,n,minimum", [
    ("recall", {"k": 6}, 7, 8), ("kid", {}, 3, 4), ("coverage", {"k": 1}, 1, 2), ("vendi", {}, 1, 2)])
def test_too_few_samples_for_the_interval_names_requirement_n_and_minimum(make_spec, tmp_path, capsys, metric, args, n, minimum):
    spec = _spec(make_spec, BLOBS, n, [{"name": f"my {metric}", "metric": metric, "at_least": 0.1, "args": args}])
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    from evalkit import registry

    if n < registry.metrics.get(metric).decl.min_n:  # the declared minimum: validation refuses it, nothing runs
        assert code == 2, out + err
        assert f"requirement 'my {metric}'" in err and f"needs N >= {minimum} samples, but sampling.n is {n}" in err
        return
    assert code == 3, out + err  # a minimum that depends on the arguments (recall's k + 2): found at run time
    assert f"requirement 'my {metric}'" in err and f"needs at least {minimum} generated samples" in err
    assert f"got N={n}" in err and "Traceback" not in err and "nan" not in err.lower()


def test_functional_errors():
    real, fake = torch.randn(20, 4), torch.randn(20, 5)
    with pytest.raises(ValueError, match=r"feature shapes differ: real \(20, 4\), fake \(20, 5\)"):
        F.prdc(real, fake)
    bad = torch.randn(20, 4)
    bad[[3, 7]] = float("inf")
    with pytest.raises(ValueError, match="fake features hold NaN or Inf in 2 of 20 rows"):
        F.pairwise(real, bad, real_ks={3})
    with pytest.raises(ValueError, match="need more than k=5 real samples"):
        F.prdc(real[:5], real[:5], k=5)


@pytest.mark.parametrize("bootstrap", [0, 5])
def test_class_tv_with_too_few_bootstrap_resamples_names_requirement_value_and_minimum(make_spec, tmp_path, capsys, bootstrap):
    # a one-sided bound at c = 0.95 is the 0.95 quantile of the resamples: it needs 1 / (1 - c) = 20 of them
    spec = make_spec(name="bad-class-tv", reference=OMIT, classifier="fashion-classifier",
                     subjects=[{"model": "dataset", "name": "replay", "params": {"range": [0, 200]}}],
                     sampling={"n": 60, "batch_size": 60, "labels": "uniform"},
                     requirements=[{"name": "mix", "metric": "class_tv", "at_most": 0.5, "args": {"bootstrap": bootstrap}}])
    code, out, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code in (2, 3), out + err
    assert "requirement 'mix'" in err and "needs at least 20 bootstrap resamples" in err
    assert f"got bootstrap={bootstrap}" in err and "Traceback" not in err and "nan" not in err.lower()
