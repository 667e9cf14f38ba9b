"""Hostile cases, issue 25: saved state (journal, sample store, rejudge inputs) is verified
before it is believed, reports are read with the spec's bounds, writers never half-write.

Each case runs the real CLI (``hostile`` fixture: exit code, no traceback, no stray writes)
and, for a forgery, asserts the refusal or the warning naming the file.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.specs import REQUIREMENT, spec_text

ALPHA = {"model": "dataset", "name": "alpha", "params": {"range": [5000, 5060]}}
BETA = {"model": "dataset", "name": "beta", "params": {"range": [6000, 6060]}}


def _saved_spec(*, seed: int = 1, alpha: dict = ALPHA) -> str:
    return spec_text(name="saved", subjects=[alpha, BETA], sampling={"n": 60, "batch_size": 20, "seed": seed},
                     requirements=[REQUIREMENT, {"name": "fid", "metric": "fid", "at_most": 1000}])


SPEC = _saved_spec()
USER_SPEC = spec_text(name="user-ckpt", subjects=[{"model": "ckgen:make", "checkpoint": "ckpt.safetensors"}],
                      sampling={"n": 400, "batch_size": 20, "seed": 1},
                      requirements=[{**REQUIREMENT, "at_least": 0.5}])

USER_MODULE = """\
import time
import torch
from safetensors.torch import load_file


class Gen:
    image_shape = (1, 28, 28)
    num_classes = None

    def __init__(self, level):
        self.level = level

    def sample(self, n, labels=None, generator=None):
        time.sleep(0.05)
        return torch.full((n, 1, 28, 28), self.level)


def make(device=None, checkpoint=None):
    return Gen(float(load_file(checkpoint)["level"]))
"""


def _edit_meta(path, edit) -> None:
    """Rewrite a store record's JSON metadata (what a hand or a script could do)."""
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(str(path), "pt") as fh:
        header = fh.metadata()
    tensors = load_file(str(path))
    meta = json.loads(header["meta"])
    edit(meta)
    header["meta"] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    save_file(tensors, str(path), metadata=header)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run of SPEC (report, store, journal), copied into each case's workspace."""
    import os
    import subprocess
    import sys

    from .conftest import REPO

    d = tmp_path_factory.mktemp("saved")
    (d / "spec.yaml").write_text(SPEC)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "evalkit", "run", "spec.yaml", "--out", "out", "--quiet"], cwd=d, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d


@pytest.fixture
def run_dir(finished, hostile, monkeypatch):
    """The finished run in the case's workspace, sealed under the workspace's cache key."""
    import os

    shutil.copy(finished / "spec.yaml", hostile.path("spec.yaml"))
    shutil.copytree(finished / "out", hostile.path("out"))
    # the seals were made under the session's key: the case uses the same one
    hostile.cache_key = type(hostile.cache_key)(os.environ["EVALKIT_CACHE_KEY"])
    return hostile.path("out")


def _named(hostile, path, text: str) -> bool:
    """The message names ``path`` (as the user spelled it: relative to the workspace, or whole)."""
    import os

    return str(path) in text or os.path.relpath(path, hostile.work) in text


def _report(run_dir) -> dict:
    return json.loads((run_dir / "report.json").read_text())


# ---------------------------------------------------------------- 2. journals and stores verified


def test_resume_drops_a_final_record_whose_meta_was_edited(hostile, run_dir):
    final = run_dir / "journal" / "s000" / "final.safetensors"
    _edit_meta(final, lambda m: m["rates"][0].update(passed=0))
    r = hostile.run("run", "spec.yaml", "--resume", "out", "--quiet", code=0)
    assert _named(hostile, final, r.err) and "dropped" in r.err and "does not verify" in r.err
    rep = _report(run_dir)
    assert rep["subjects"][0]["requirements"][0]["passed"] == 60  # rebuilt from the batches, not the forgery


def test_resume_drops_an_edited_batch_and_a_copied_batch(hostile, run_dir):
    d = run_dir / "journal" / "s000"
    (d / "final.safetensors").unlink()
    _edit_meta(d / "b000001.safetensors", lambda m: m["rates"][0].update(passed=1000, n=1000))
    shutil.copy(d / "b000000.safetensors", d / "b000002.safetensors")
    _edit_meta(d / "b000002.safetensors", lambda m: m.update(batch=2))
    r = hostile.run("run", "spec.yaml", "--resume", "out", "--quiet", code=0)
    for j in (1, 2):
        assert f"b00000{j}.safetensors: dropped from the journal" in r.err
    req = _report(run_dir)["subjects"][0]["requirements"][0]
    assert (req["passed"], req["n"]) == (60, 60)


def test_rejudge_refuses_a_forged_count_and_a_forged_manifest(hostile, run_dir):
    final = run_dir / "journal" / "s000" / "final.safetensors"
    saved = final.read_bytes()
    _edit_meta(final, lambda m: m["rates"][0].update(passed=1))
    r = hostile.run("rejudge", "out", "spec.yaml", "--out", "out/rj", code=2)
    assert _named(hostile, final, r.err) and "does not verify" in r.err
    final.write_bytes(saved)
    manifest = run_dir / "journal" / "manifest.json"
    m = json.loads(manifest.read_text())
    m["spec"]["requirements"][0]["check"] = "ink"
    manifest.write_text(json.dumps(m))
    r = hostile.run("rejudge", "out", "spec.yaml", "--out", "out/rj", code=2)
    assert _named(hostile, manifest, r.err) and "does not verify" in r.err


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", "[" * 100_000 + "]" * 100_000])
def test_rejudge_names_a_malformed_subject_record(hostile, run_dir, content):
    path = run_dir / "journal" / "s000" / "subject.json"
    path.write_text(content)
    r = hostile.run("rejudge", "out", "spec.yaml", "--out", "out/rj", code=2)
    assert _named(hostile, path, r.err)


def test_rejudge_names_a_missing_manifest(hostile, run_dir):
    (run_dir / "journal" / "manifest.json").unlink()
    r = hostile.run("rejudge", "out", "spec.yaml", "--out", "out/rj", code=2)
    assert "manifest.json" in r.err


def test_compare_ignores_a_tampered_store_with_a_warning(hostile, run_dir):
    from evalkit.records.samples import samples_path

    store = samples_path(run_dir, "alpha")
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(str(store), "pt") as fh:
        header = fh.metadata()
    t = load_file(str(store))
    t["passed"] = t["passed"] & False  # every per-sample outcome of alpha set to fail
    save_file(t, str(store), metadata=header)
    r = hostile.run("compare", "out", "--out", "out/cmp", code=0)
    assert _named(hostile, store, r.err) and "report.json alone" in r.err
    rows = json.loads((run_dir / "cmp" / "comparison.json").read_text())["rows"]
    assert all(row["verdict"] == "no significant difference" for row in rows if row["kind"] == "rate")


def test_compare_does_not_pair_the_store_of_another_run(hostile, run_dir):
    other = hostile.spec(_saved_spec(seed=2), "seed2.yaml")
    hostile.run("run", other, "--out", "out2", "--quiet", code=0, allow=("out2",))
    shutil.rmtree(run_dir / "samples")
    shutil.copytree(hostile.path("out2") / "samples", run_dir / "samples")
    r = hostile.run("compare", "out", "--out", "out/cmp", code=0)
    assert "samples" in r.err and "report.json alone" in r.err


# ---------------------------------------------------------------- 3. weights identity


def test_resume_refuses_a_replaced_checkpoint(hostile):
    import torch
    from safetensors.torch import save_file

    hostile.file("ckgen.py", USER_MODULE)
    save_file({"level": torch.tensor(0.5)}, str(hostile.path("ckpt.safetensors")))
    spec = hostile.spec(USER_SPEC)
    journal = hostile.path("out") / "journal" / "s000"
    hostile.run("run", spec, "--out", "out", code=130, env={"PYTHONPATH": f"{hostile.work}:{hostile.env()['PYTHONPATH']}"},
                interrupt_when=lambda: len(list(journal.glob("b*.safetensors"))) >= 2, check_unchanged=False)
    save_file({"level": torch.tensor(0.7)}, str(hostile.path("ckpt.safetensors")))
    r = hostile.run("run", spec, "--resume", "out", code=2, env={"PYTHONPATH": f"{hostile.work}:{hostile.env()['PYTHONPATH']}"})
    assert "ckpt.safetensors" in r.err and "weights changed" in r.err


# ---------------------------------------------------------------- 5. reports read with the spec's bounds


def _forged(run_dir, edit) -> None:
    rep = _report(run_dir)
    edit(rep)
    (run_dir / "report.json").write_text(json.dumps(rep))


@pytest.mark.parametrize("edit, needle", [
    (lambda r: r["subjects"][0]["requirements"][0].update(n=10**12, passed=10**12), "n"),
    (lambda r: r["subjects"][0]["metrics"][0].update(value=1e308, upper=1e308), "magnitude"),
    (lambda r: r["subjects"][0]["metrics"][0].update(value=-5.0, lower=-6.0), "outside the range"),
    (lambda r: r["subjects"][0]["requirements"][0].update(passed=10, value=1.0, lower=0.95, upper=1.0), "passed/n"),
    (lambda r: r["subjects"][0]["requirements"][0].update(n=True), "not an integer"),
    (lambda r: r["subjects"][0]["requirements"][0].update(n="60"), "not an integer"),
    (lambda r: r.update(schema_version="1.0.0"), "schema_version"),
    (lambda r: r.update(schema_version="01.2"), "schema_version"),
    (lambda r: r.update(schema_version="\u0661.2"), "schema_version"),
    (lambda r: r.update(interrupted=True, interrupted_by="SIGINT"), "interrupted"),
    (lambda r: r["spec"].update(requirements="in range"), "spec.requirements"),
    (lambda r: r["spec"].update(confidence="high"), "spec.confidence"),
])
def test_compare_refuses_an_implausible_report(hostile, run_dir, edit, needle):
    _forged(run_dir, edit)
    r = hostile.run("compare", "out", "--out", "out/cmp", code=2)
    assert "report.json" in r.err and needle in r.err


def test_compare_refuses_a_partial_report(hostile, run_dir):
    shutil.copy(run_dir / "report.json", run_dir / "report.partial.json")
    r = hostile.run("compare", "out/report.partial.json", "--subjects", "alpha", "beta", "--out", "out/cmp", code=2)
    assert "partial report" in r.err


def test_compare_bootstrap_is_bounded(hostile, run_dir):
    r = hostile.run("compare", "out", "--bootstrap", "100000000", "--out", "out/cmp", code=2)
    assert "--bootstrap" in r.err


def test_compare_with_confidence_one_half_in_every_row(hostile, run_dir):
    def edit(rep):
        for s in rep["subjects"]:
            for row in s["requirements"] + s["metrics"]:
                row["confidence"] = 0.5
    _forged(run_dir, edit)
    hostile.run("compare", "out", "--out", "out/cmp", code=0)


def test_reproduce_refuses_an_index_beyond_the_run(hostile, run_dir):
    r = hostile.run("reproduce", "out", "alpha", "99999999", "--out", "out/png", code=2)
    assert "out of range" in r.err


# ---------------------------------------------------------------- 7. writers never half-write


def test_a_surrogate_in_a_report_renders_every_format(hostile, run_dir):
    text = (run_dir / "report.json").read_text().replace('"name": "saved"', '"name": "saved\\ud800"', 1)
    (run_dir / "report.json").write_text(text)
    hostile.run("render", "out", code=0)
    assert "\\ud800" in (run_dir / "report.html").read_text()


def test_comparison_markdown_escapes_names(hostile, run_dir):
    _forged(run_dir, lambda r: r["subjects"][0].update(name="[x](javascript:alert(1))\x1b[31m\x00```"))
    shutil.rmtree(run_dir / "samples")
    hostile.run("compare", "out", "--out", "out/cmp", code=0)
    md = (run_dir / "cmp" / "comparison.md").read_text()
    assert "- [x](javascript:" not in md and "\\[x\\](javascript:" in md  # a literal name, never a link
    assert "\x1b" not in md and "\x00" not in md


def test_a_huge_error_message_is_cut(hostile):
    hostile.file("boom.py", "def make(device=None):\n    raise RuntimeError('x' * 30_000_000)\n")
    spec = hostile.spec(_saved_spec(alpha={"model": "boom:make", "name": "alpha"}))
    hostile.run("run", spec, "--out", "out", "--quiet", code=3, env={"PYTHONPATH": f"{hostile.work}:{hostile.env()['PYTHONPATH']}"})
    for name in ("report.json", "report.md"):
        assert (hostile.path("out") / name).stat().st_size < 1_000_000
    assert "characters in all" in (hostile.path("out") / "report.json").read_text()
