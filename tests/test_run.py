"""End-to-end runs through the CLI and the Python API, with real data and real user code."""

import json

import numpy as np
import pytest

from evalkit.records.model import REPORT_SCHEMA_VERSION
import torch

import evalkit
from evalkit.cli import main
from evalkit.records.reading import read_report
from evalkit.sample.sources import GeneratorSource, block_seed

from tests.conftest import BASIC
from tests.specs import OMIT


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_run_writes_report_that_reads_back(basic_spec, tmp_path, capsys):
    out = tmp_path / "rep"
    code, stdout, err = run_cli(["run", str(basic_spec), "--out", str(out), "--format", "json", "--format", "markdown",
                                 "--format", "junit", "--quiet"], capsys)
    assert code == 0, err
    report = read_report(out)
    assert report.schema_version == REPORT_SCHEMA_VERSION and report.name == "basic"
    sub = report.subjects[0]
    assert sub.status == "ok" and sub.n == 200
    rng = {r.name: r for r in sub.requirements}
    assert rng["in range"].passed == 200 and rng["in range"].verdict == "PASS"
    # the same count, computed independently from the dataset's pixels
    from evalkit.data.datasets import DatasetReplay

    replay = DatasetReplay(range=(5000, 6000))
    src = GeneratorSource("d", replay, 200, torch.arange(200) % 10, 3, 50, torch.device("cpu"))
    imgs = torch.cat([b.images for b in src.batches(200)])
    ink = (imgs.mean(1) > 0.25).double().mean(dim=(1, 2))
    assert rng["sane ink"].passed == int(((ink > 0.02) & (ink < 0.8)).sum())
    assert "| sane ink |" in (out / "report.md").read_text()
    junit = (out / "junit.xml").read_text()
    assert 'failures="0"' in junit and "<testcase" in junit
    assert json.loads((out / "report.json").read_text())["spec_sha256"] == report.spec_sha256


def test_api_run_matches_cli_and_is_deterministic(basic_spec, tmp_path):
    a = evalkit.run(basic_spec, write=False)
    b = evalkit.run(basic_spec, write=False)
    assert [r.passed for r in a.subjects[0].requirements] == [r.passed for r in b.subjects[0].requirements]
    assert a.exit_code == 0


def test_samples_do_not_depend_on_batch_size():
    from tests.plugins.usergen import Blobs

    gen = Blobs(size=16)
    outs = []
    for bs in (7, 50, 128):
        src = GeneratorSource("b", gen, 128, None, seed=11, block_size=50, device=torch.device("cpu"))
        outs.append(torch.cat([b.images for b in src.batches(bs)]))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2])
    # and sample i comes from block i // 50 seeded by (seed, block)
    g = torch.Generator().manual_seed(block_seed(11, 1))
    assert torch.equal(gen.sample(50, labels=None, generator=g)[3], outs[0][53])


def test_rgb_user_generator_any_shape(make_spec, tmp_path, capsys):
    spec = make_spec(name="rgb", reference=OMIT, subjects=[{"model": "usergen:make_blobs", "params": {"size": 24}}],
                     sampling={"n": 120, "batch_size": 40},
                     requirements=[{"check": "in_range", "at_least": 0.95},
                                   {"where": "mean < 0.5 and symmetry > 0", "at_least": 0.5},
                                   {"metric": "vendi", "at_least": 1.5}])
    code, stdout, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    rep = read_report(tmp_path / "o")
    assert rep.subjects[0].image_shape == [3, 24, 24]


@pytest.mark.parametrize(
    "model,expected",
    [
        ("usergen:WrongShape", "returned shape (50, 1, 9, 9), expected (50, 1, 8, 8)"),
        ("usergen:Raises", "sample() raised RuntimeError: out of cheese"),
        ("usergen:NaNAfter", "hold NaN/Inf; add a `check: finite` requirement"),
    ],
)
def test_broken_subject_exit_3_and_others_still_run(make_spec, tmp_path, capsys, model, expected):
    spec = make_spec(name="broken", reference=OMIT,
                     subjects=[{"model": model}, {"model": "usergen:Blobs", "params": {"size": 8, "channels": 1}}],
                     sampling={"n": 100, "batch_size": 50}, requirements=[{"check": "in_range", "at_least": 0.5}])
    code, stdout, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 3
    assert expected in stdout
    rep = read_report(tmp_path / "o")
    assert rep.subjects[0].status == "broken" and rep.subjects[1].status == "ok"


def test_nan_samples_count_as_failures_with_a_finite_check(make_spec, tmp_path, capsys):
    spec = make_spec(name="nan", reference=OMIT, subjects=[{"model": "usergen:NaNAfter", "params": {"start": 90}}],
                     sampling={"n": 100, "batch_size": 50, "block_size": 50},
                     requirements=[{"check": "finite", "at_least": 0.5}, {"check": "in_range", "at_least": 0.5}])
    code, stdout, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    rep = read_report(tmp_path / "o")
    sub = rep.subjects[0]
    assert sub.nonfinite == 10
    assert [r.passed for r in sub.requirements] == [90, 90]


def test_module_that_does_not_import(write_spec, capsys):
    spec = write_spec(BASIC.replace("model: dataset\n    params: {range: [5000, 6000]}", "model: no_such_mod:Gen"))
    code, _, err = run_cli(["run", str(spec)], capsys)
    assert code == 2
    assert "cannot import module 'no_such_mod'" in err and "spec.yaml:7:" in err


def test_missing_reference_folder_is_found_by_validation_exit_2(write_spec, capsys):
    # a file the spec names is part of the spec: validation finds it missing, so nothing runs
    spec = write_spec(BASIC.replace("reference: {dataset: fashion-mnist, split: test, range: [0, 400]}",
                                    "reference: {path: nowhere/}"))
    code, _, err = run_cli(["run", str(spec)], capsys)
    assert code == 2 and "does not exist" in err and "spec.yaml:3:" in err
    assert run_cli(["validate", str(spec)], capsys)[0] == 2


def test_unknown_device_and_bad_flag_exit_2(basic_spec, capsys):
    assert run_cli(["run", str(basic_spec), "--device", "tpu"], capsys)[0] == 2
    assert run_cli(["run", str(basic_spec), "--bogus"], capsys)[0] == 2
    code, _, err = run_cli(["run", str(basic_spec), "--n", "0"], capsys)
    assert code == 2 and "--n must be a positive integer" in err


def test_failing_requirement_exit_1_and_strict(write_spec, tmp_path, capsys):
    spec = write_spec(BASIC.replace('"0.02 < ink < 0.8"', '"ink > 0.6"'))
    code, stdout, _ = run_cli(["run", str(spec), "--out", str(tmp_path / "a")], capsys)
    assert code == 1 and "FAIL" in stdout
    spec2 = write_spec(BASIC.replace("in_range, at_least: 0.9}", "in_range, at_least: 0.999}"), "s2.yaml")
    code, stdout, _ = run_cli(["run", str(spec2), "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and "INCONCLUSIVE" in stdout
    code, _, _ = run_cli(["run", str(spec2), "--out", str(tmp_path / "c"), "--strict"], capsys)
    assert code == 1


def test_ctrl_c_leaves_no_report_json(basic_spec, tmp_path, capsys, monkeypatch):
    from evalkit.runner import loop

    real = loop.observe_batch
    calls = {"n": 0}

    def interrupt_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "observe_batch", interrupt_on_second)
    out = tmp_path / "o"
    code, _, _ = run_cli(["run", str(basic_spec), "--out", str(out), "--quiet"], capsys)
    assert code == 130
    assert not (out / "report.json").exists()
    partial = json.loads((out / "report.partial.json").read_text())
    assert partial["interrupted"] and partial["subjects"][0]["status"] == "interrupted"


def test_npz_and_folder_subjects(make_spec, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = (rng.random((30, 16, 16, 3)) * 255).astype(np.uint8)
    np.savez(tmp_path / "g.npz", images=arr)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(arr[i]).save(folder / f"{i:03d}.png")
    spec = make_spec(name="files", reference={"path": "g.npz"},
                     subjects=[{"path": "g.npz", "name": "npz"}, {"path": "imgs", "name": "folder"}],
                     sampling={"n": 30, "batch_size": 10},
                     requirements=[{"check": "in_range", "at_least": 0.9}, {"metric": "fid", "at_most": 1.0e-3}])
    code, stdout, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    rep = read_report(tmp_path / "o")
    fids = [s.metrics[0].value for s in rep.subjects]
    # identical image sets (PNG is lossless): zero up to round-off against traces of about 60
    assert fids[0] == pytest.approx(0.0, abs=1e-4) and fids[1] == pytest.approx(0.0, abs=1e-4)


def test_folder_with_non_images_and_mixed_sizes(make_spec, tmp_path, capsys):
    from PIL import Image

    bad = tmp_path / "bad"
    bad.mkdir()
    Image.new("L", (8, 8)).save(bad / "a.png")
    (bad / "notes.txt").write_text("hi")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (8, 8)).save(mixed / "a.png")
    Image.new("L", (9, 8)).save(mixed / "b.png")
    for folder, expected in ((bad, "not images (notes.txt)"), (mixed, "images of mixed sizes")):
        spec = make_spec(name="f", reference=OMIT, subjects=[{"path": str(folder)}], sampling={"n": 2, "batch_size": 2},
                         requirements=[{"check": "finite", "at_least": 0.5}], filename=f"{folder.name}.yaml")
        code, stdout, err = run_cli(["run", str(spec), "--out", str(tmp_path / "o"), "--overwrite"], capsys)
        assert code == 3 and expected in stdout


def test_list_and_help_read_like_a_manual(capsys):
    assert main(["list", "checks"]) == 0
    assert "label_agreement" in capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text and "--baseline" in text


def test_baseline_flags_only_significant_regressions(write_spec, tmp_path, capsys):
    spec = write_spec(BASIC)
    run_cli(["run", str(spec), "--out", str(tmp_path / "base"), "--quiet"], capsys)
    # the same run against itself: no regression
    code, stdout, _ = run_cli(["run", str(spec), "--out", str(tmp_path / "same"), "--baseline", str(tmp_path / "base")], capsys)
    assert code == 0 and "REGRESSED" not in stdout
    worse = write_spec(BASIC.replace('"0.02 < ink < 0.8"', '"0.2 < ink < 0.8"'), "worse.yaml")
    code, stdout, _ = run_cli(["run", str(worse), "--out", str(tmp_path / "w"), "--baseline", str(tmp_path / "base")], capsys)
    assert code == 1 and "REGRESSED sane ink" in stdout
