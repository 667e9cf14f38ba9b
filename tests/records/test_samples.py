"""The sample store beside a report: per-sample rows checked against NumPy on known images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evalkit
from evalkit._errors import DataError
from evalkit.records.samples import (GRID_COLUMNS, GRID_ROWS, THUMB_SIDE, SampleLog, read_samples, samples_path,
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


# --- issue 23: a spec that reads only the images, run in several batches --------------------

IMAGE_ONLY_REQUIREMENTS = """\
requirements:
  - {check: in_range, at_least: 0.5}
  - {check: finite, at_least: 0.5}
  - {check: not_blank, at_least: 0.1}
  - {name: inky, where: "ink > 0.05", at_least: 0.1}
"""


def _hand_counts(arr: np.ndarray) -> list[int]:
    """in_range, finite, not_blank (ink >= 0.01 and std >= 0.02), ink > 0.05 of (N, H, W) grey images."""
    flat = arr.reshape(len(arr), -1).astype(np.float64)
    ink = (flat > INK).mean(1)
    return [int(((flat >= 0) & (flat <= 1)).all(1).sum()), int(np.isfinite(flat).all(1).sum()),
            int(((ink >= 0.01) & (flat.std(1, ddof=1) >= 0.02)).sum()), int((ink > 0.05).sum())]


def _rates(sub) -> list[int]:
    return [r.passed for r in sub.requirements if r.kind == "rate"]


def test_image_only_spec_with_a_classifier_runs_every_subject_kind(tmp_path):
    """The default classifier is set but nothing reads it: every subject must stay ok over
    several batches (it once broke each one with `torch.cat(): expected a non-empty list`)."""
    from PIL import Image

    rng = np.random.default_rng(3)
    arr = (rng.random((30, 16, 16)) ** 4).astype(np.float32)  # varied ink
    arr[:4] = 0.0  # blank: fail not_blank and inky
    np.savez(tmp_path / "g.npz", images=arr)
    (tmp_path / "pngs").mkdir()
    grey = np.round(arr * 255).astype(np.uint8)
    for i, a in enumerate(grey):
        Image.fromarray(a, mode="L").save(tmp_path / "pngs" / f"{i:03d}.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nname: image-only\nsubjects:\n  - {path: g.npz}\n  - {path: pngs}\n"
                    "sampling: {n: 30, batch_size: 7}\n" + IMAGE_ONLY_REQUIREMENTS)
    report = evalkit.run(spec, out=tmp_path / "out", formats=["json"])
    assert [s.status for s in report.subjects] == ["ok", "ok"], [s.error for s in report.subjects]
    assert report.exit_code == 0
    assert _rates(report.subjects[0]) == _hand_counts(arr)
    assert _rates(report.subjects[1]) == _hand_counts(grey / 255.0)
    for sub in report.subjects:  # the sample store holds no classifier column that nothing measured
        rec = read_samples(tmp_path / "out", sub.name)
        assert rec.n == 30 and "m.predicted" not in rec.tensors
        np.testing.assert_allclose(rec.tensors["m.ink"].numpy(), (arr.reshape(30, -1) > INK).mean(1)
                                   if sub.name == "g.npz" else (grey.reshape(30, -1) / 255.0 > INK).mean(1), atol=1e-6)


def test_image_only_spec_runs_a_zoo_model_in_batches(tmp_path):
    """fashion-vae (sigmoid output: every sample finite and in [0, 1]) over 3 batches: ok, and the
    counts equal those of one batch of the same samples."""
    counts = []
    for batch in (20, 60):
        spec = tmp_path / f"spec{batch}.yaml"
        spec.write_text(f"version: 1\nname: vae-{batch}\nsubjects:\n  - model: fashion-vae\n"
                        f"sampling: {{n: 60, batch_size: {batch}}}\n" + IMAGE_ONLY_REQUIREMENTS)
        report = evalkit.run(spec, out=tmp_path / f"out{batch}", formats=["json"], device="cpu")
        sub = report.subjects[0]
        assert sub.status == "ok", sub.error
        counts.append(_rates(sub))
    assert counts[0][:2] == [60, 60]  # a sigmoid's output: in [0, 1] and finite, all of them
    assert counts[0] == counts[1]


def test_merge_never_makes_an_empty_measured_column():
    """Two shards where neither measured `predicted` merge into a log without that column."""
    a = SampleLog(["r"], ["ink", "predicted"], 2)
    b = SampleLog(["r"], ["ink", "predicted"], 2)
    for log, lo in ((a, 0), (b, 3)):
        log.index.append(torch.arange(lo, lo + 3))
        log.measured["ink"] = [torch.full((3,), float(lo))]
    merged = a.merge(b)
    assert sorted(merged.measured) == ["ink"]
    t = merged.tensors()
    assert "m.predicted" not in t and t["m.ink"].tolist() == [0, 0, 0, 3, 3, 3]
