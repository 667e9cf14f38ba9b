"""The sample store beside a report: per-sample rows checked against NumPy on known images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evalkit
from evalkit._errors import DataError
from evalkit.report.samples import (GRID_COLUMNS, GRID_ROWS, THUMB_SIDE, SampleLog, read_samples, samples_path,
                                    subject_file_name, thumbnails)
from evalkit.store import load_record, save_record

INK = 0.25  # the `ink` measurement's documented threshold


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    """An unconditional .npz subject whose images we know: sample i is image i."""
    tmp = tmp_path_factory.mktemp("store")
    rng = np.random.default_rng(7)
    arr = rng.random((90, 20, 20)).astype(np.float32) ** 3  # varied ink per image
    arr[5] = np.nan  # one non-finite sample: fails every check but `finite`
    np.savez(tmp / "g.npz", images=arr)
    np.savez(tmp / "ref.npz", images=np.nan_to_num(arr[::-1].copy()))
    (tmp / "spec.yaml").write_text("""\
version: 1
name: store
features: pixels
classifier: null
reference: {path: ref.npz}
subjects:
  - {path: g.npz, name: "npz <b>"}
sampling: {n: 90, batch_size: 25}
report: {failing_examples: 3}
requirements:
  - {check: finite, at_least: 0.9}
  - {name: inky, where: "0.1 < ink < 0.3", at_least: 0.5}
  - {metric: fid, at_most: 1.0e+6}
""")
    report = evalkit.run(tmp / "spec.yaml", out=tmp / "out", formats=["json"])
    return arr, report, tmp / "out"


def test_rows_match_numpy(npz_run):
    arr, report, out = npz_run
    sub = report.subjects[0]
    rec = read_samples(out, sub.name)
    t = rec.tensors
    assert t["index"].tolist() == list(range(90))
    assert "asked" not in t  # an .npz without labels is unconditional
    finite = np.isfinite(arr).reshape(90, -1).all(1)
    clean = np.nan_to_num(arr, nan=0.0)
    ink = (clean > INK).reshape(90, -1).mean(1)
    np.testing.assert_allclose(t["m.ink"].numpy(), ink, atol=1e-6)
    inky = (ink > 0.1) & (ink < 0.3) & finite
    assert rec.passed("finite").numpy().tolist() == finite.tolist()
    assert rec.passed("inky").numpy().tolist() == inky.tolist()
    assert not t["undefined"].any()
    # the report's counts are the rows' sums
    assert [r.passed for r in sub.requirements if r.kind == "rate"] == [int(finite.sum()), int(inky.sum())]
    # features (pixels) of the finite samples only, in float16
    assert t["features"].dtype == torch.float16
    assert t["features_index"].tolist() == [i for i in range(90) if finite[i]]
    np.testing.assert_allclose(t["features"].float().numpy(), clean[finite].reshape(-1, 400), atol=1e-3)


def test_grid_and_failing_thumbnails(npz_run):
    arr, report, out = npz_run
    sub = report.subjects[0]
    rec = read_samples(out, sub.name)
    grid = rec.thumbs("grid")
    assert sorted(grid) == list(range(GRID_ROWS * GRID_COLUMNS))  # unconditional: the first indices
    expect = np.round(np.clip(np.nan_to_num(arr, nan=0.0), 0, 1) * 255).astype(np.uint8)
    for i, thumb in grid.items():
        assert thumb.shape == (1, 20, 20)
        np.testing.assert_array_equal(thumb[0].numpy(), expect[i])
    named = sorted({f.index for r in sub.requirements for f in r.failing})
    assert sorted(rec.thumbs("failing")) == named and named
    failing_finite = [f.index for r in sub.requirements if r.name == "finite" for f in r.failing]
    assert failing_finite == [5]


def test_thumbnails_area_average_large_images():
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 128, 96))
    th = thumbnails(torch.from_numpy(x))
    assert th.dtype == torch.uint8 and th.shape == (2, 3, THUMB_SIDE, 48)
    blocks = x.reshape(2, 3, 64, 2, 48, 2).mean((3, 5))  # 2x2 block means, computed independently
    np.testing.assert_array_equal(th.numpy(), np.round(blocks * 255).astype(np.uint8))


class _Obs:
    def __init__(self, idx, labels, images):
        self.indices, self.labels, self.images, self.classifier_fn = idx, labels, images, None


def _log_of(batches):
    log = SampleLog(["r"], [], keep=4)
    for idx, lab, img, ok in batches:
        log.observe(_Obs(idx, lab, img), [(ok, torch.zeros_like(ok))])
    return log


def test_merge_is_order_free_and_keeps_the_first_per_class():
    g = torch.Generator().manual_seed(0)
    n = 120
    idx = torch.arange(n)
    labels = torch.randint(0, 3, (n,), generator=g)
    images = torch.rand(n, 1, 4, 4, generator=g)
    ok = torch.rand(n, generator=g) > 0.3
    parts = [(idx[s:s + 20], labels[s:s + 20], images[s:s + 20], ok[s:s + 20]) for s in range(0, n, 20)]
    whole = _log_of(parts).tensors()
    # two "processes" taking alternate batches, merged either way round
    a, b = _log_of(parts[0::2]), _log_of(parts[1::2])
    for merged in (a.merge(b).tensors(), b.merge(a).tensors()):
        assert merged.keys() == whole.keys()
        for k in whole:
            assert torch.equal(merged[k], whole[k]), k
    # grid: per class, the first GRID_COLUMNS indices asked for it (hand count)
    expect = [i for c in range(3) for i in [j for j in range(n) if labels[j] == c][:GRID_COLUMNS]]
    assert whole["grid_index"].tolist() == expect
    assert whole["failing_index"].tolist() == [j for j in range(n) if not ok[j]][:4]


def test_file_names_stay_inside_the_folder(tmp_path):
    for name in ["../../etc/passwd", "<script>alert(1)</script>", "a/b", "", "..", "x" * 300]:
        p = samples_path(tmp_path, name)
        assert p.parent == tmp_path / "samples" and p.name == subject_file_name(name)
        assert "/" not in p.name and not p.name.startswith(".")
    assert subject_file_name("a b") != subject_file_name("a-b")


def test_bad_records_are_refused_by_name(npz_run):
    _, report, out = npz_run
    name = report.subjects[0].name
    path = samples_path(out, name)
    good = path.read_bytes()
    try:
        path.write_bytes(good[: len(good) // 2])
        with pytest.raises(DataError, match=str(path.name)):
            read_samples(out, name)
        path.write_bytes(good)
        tensors, meta = load_record(path, kind="samples")
        meta["n"] = 3  # hand-edited
        save_record(path, tensors, meta, kind="samples")
        with pytest.raises(DataError, match="does not match"):
            read_samples(out, name)
        meta["n"], meta["subject"] = 90, "other"
        save_record(path, tensors, meta, kind="samples")
        with pytest.raises(DataError, match="holds subject 'other'"):
            read_samples(out, name)
    finally:
        path.write_bytes(good)
    assert read_samples(out, "no such subject") is None
