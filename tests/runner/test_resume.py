"""Kill-and-resume: a run killed at any point and resumed writes the report an uninterrupted run writes.

Runs are real subprocesses (`python -m evalkit run`), killed with SIGKILL or SIGTERM by the
fault-injection hook (EVALKIT_TEST_KILL_AT, evalkit/runner/faults.py) at fixed points.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASIC

ROOT = Path(__file__).resolve().parents[2]

# rates (one with failing examples, one per class), no_duplicate (history), and metrics
# (a pool of 150 images for 200 samples: the replay repeats some, so no_duplicate has failures to keep)
SPEC = BASIC.replace("sampling: {n: 200, batch_size: 50, seed: 3}", "sampling: {n: 200, batch_size: 40, seed: 3}").replace(
    "range: [5000, 6000]", "range: [5000, 5150]") + """\
  - {name: inky, where: "ink > 0.3", at_least: 0.9}
  - {name: inky per class, where: "ink > 0.3", at_least: 0.5, per_class: true}
  - {check: no_duplicate, at_least: 0.8, args: {threshold: 0.05}}
  - {metric: precision, at_least: 0.1}
  - {metric: fid, at_most: 1000}
"""


def evalkit(*args, kill=None, check_rc=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("EVALKIT_TEST_KILL_AT", None)
    if kill:
        env["EVALKIT_TEST_KILL_AT"] = kill
    p = subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], env=env, capture_output=True, text=True,
                       timeout=300)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stderr[-2000:])
    return p


def comparable(report_dir: Path) -> dict:
    """The report without what legitimately differs between two runs (timings), with the
    sample store beside it (every tensor as a list, and its metadata)."""
    from evalkit.store import load_record

    r = json.loads((report_dir / "report.json").read_text())
    for k in ("started", "finished"):
        r.pop(k)
    for s in r["subjects"]:
        s.pop("seconds")
        s.pop("samples_per_second")
    records = sorted((report_dir / "samples").glob("*.safetensors"))
    assert records, "no sample store beside the report"
    r["sample store"] = {}
    for path in records:
        tensors, meta = load_record(path, kind="samples")
        # NaN marks a value a sample did not have; made comparable (NaN != NaN)
        r["sample store"][path.name] = ({k: (v.float().nan_to_num(nan=-1e30) if v.is_floating_point() else v).tolist()
                                         for k, v in sorted(tensors.items())}, meta)
    return r


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    spec = d / "spec.yaml"
    spec.write_text(SPEC)
    evalkit("run", spec, "--out", d / "whole", "--quiet", check_rc=1)
    return spec, comparable(d / "whole"), d


def test_uninterrupted_report_is_nontrivial(setup):
    _, whole, _ = setup
    reqs = whole["subjects"][0]["requirements"]
    assert [r["kind"] for r in reqs] == ["rate"] * 5 + ["metric"] * 2
    assert reqs[2]["failing"] and reqs[2]["verdict"] == "FAIL"
    assert whole["subjects"][0]["n"] == 200 and reqs[3]["per_class"] and reqs[4]["passed"] < 200


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["journal-first:1", "mid-batch:1", "mid-batch:3", "rename:2", "rename:5",
                                  "metrics:1", "metrics:2", "report:1"])
def test_sigkill_then_resume_gives_the_same_report(setup, kill):
    spec, whole, d = setup
    out = d / ("k-" + kill.replace(":", "-"))
    p = evalkit("run", spec, "--out", out, "--quiet", kill=kill)
    assert p.returncode == -9, p.stderr[-2000:]
    assert not (out / "report.json").exists()
    evalkit("run", spec, "--resume", out, "--quiet", check_rc=1)
    assert comparable(out) == whole


@pytest.mark.slow
def test_killed_twice_and_resumed(setup):
    spec, whole, d = setup
    out = d / "twice"
    assert evalkit("run", spec, "--out", out, "--quiet", kill="mid-batch:2").returncode == -9
    assert evalkit("run", spec, "--resume", out, "--quiet", kill="rename:1").returncode == -9
    evalkit("run", spec, "--resume", out, "--quiet", check_rc=1)
    assert comparable(out) == whole


@pytest.mark.slow
def test_sigterm_writes_partial_report_exits_143_and_resumes(setup):
    spec, whole, d = setup
    out = d / "term"
    p = evalkit("run", spec, "--out", out, "--quiet", kill="mid-batch:3:term")
    assert p.returncode == 143, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    partial = json.loads((out / "report.partial.json").read_text())
    assert partial["interrupted"] and partial["interrupted_by"] == "SIGTERM" and partial["exit_code"] == 143
    assert not (out / "report.json").exists()
    # the journal holds the batches completed before the signal (the third was observed, not journaled)
    assert sorted(p.name for p in (out / "journal" / "s000").glob("b*.safetensors")) == ["b000000.safetensors",
                                                                                       "b000001.safetensors"]
    evalkit("run", spec, "--resume", out, "--quiet", check_rc=1)
    assert comparable(out) == whole


def test_resume_refuses_a_changed_spec(setup, tmp_path):
    spec, _, d = setup
    changed = tmp_path / "spec.yaml"
    changed.write_text(SPEC.replace("at_least: 0.5}", "at_least: 0.6}", 1))
    p = evalkit("run", changed, "--resume", d / "whole", "--quiet", check_rc=2)
    assert "the spec changed" in p.stderr and "at_least" in p.stderr and "0.5 -> 0.6" in p.stderr
    assert "Traceback" not in p.stderr


def test_resume_refuses_a_missing_or_foreign_journal(setup, tmp_path):
    spec, _, d = setup
    p = evalkit("run", spec, "--resume", tmp_path / "nothing", "--quiet", check_rc=2)
    assert "no journal" in p.stderr
    bad = tmp_path / "bad"
    (bad / "journal").mkdir(parents=True)
    (bad / "journal" / "manifest.json").write_text('{"format": "evalkit-journal", "version": 1, "evalkit": "0.0.1"}')
    p = evalkit("run", spec, "--resume", bad, "--quiet", check_rc=2)
    assert "evalkit 0.0.1" in p.stderr
    (bad / "journal" / "manifest.json").write_text("{trunc")
    p = evalkit("run", spec, "--resume", bad, "--quiet", check_rc=2)
    assert "journal manifest is not valid JSON" in p.stderr


@pytest.mark.slow
def test_corrupt_truncated_and_foreign_batch_records_are_rebuilt(setup, tmp_path):
    spec, whole, d = setup
    out = tmp_path / "c"
    assert evalkit("run", spec, "--out", out, "--quiet", kill="metrics:1").returncode == -9
    sdir = out / "journal" / "s000"
    (sdir / "final.safetensors").unlink()
    b0, b1, b2 = (sdir / f"b00000{i}.safetensors" for i in range(3))
    b0.write_bytes(b0.read_bytes()[:-100])  # truncated
    data = bytearray(b1.read_bytes())
    data[20:30] = b"0123456789"  # corrupt header
    b1.write_bytes(bytes(data))
    b2.write_bytes((sdir / "b000003.safetensors").read_bytes())  # another batch's record under b2's name
    p = evalkit("run", spec, "--resume", out, "--quiet", check_rc=1)
    for name in ("b000000", "b000001", "b000002"):
        assert f"{name}.safetensors: dropped from the journal" in p.stderr
    assert "records batch 3" in p.stderr
    assert comparable(out) == whole


@pytest.mark.slow
def test_resume_refuses_changed_weights(tmp_path):
    (tmp_path / "wgen.py").write_text(
        "import torch\n"
        "class G:\n"
        "    num_classes = None\n"
        "    image_shape = (1, 8, 8)\n"
        "    def __init__(self, checkpoint):\n"
        "        self.weights_file = checkpoint\n"
        "        self.level = float(open(checkpoint).read())\n"
        "    def sample(self, n, *, labels, generator):\n"
        "        return torch.rand(n, 1, 8, 8, generator=generator) * self.level\n")
    w = tmp_path / "w.txt"
    w.write_text("0.5")
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: w\nfeatures: pixels\nclassifier: null\n"
                    "subjects:\n  - {model: 'wgen:G', checkpoint: w.txt}\n"
                    "sampling: {n: 40, batch_size: 10, seed: 1}\n"
                    "requirements:\n  - {check: in_range, at_least: 0.5}\n")
    out = tmp_path / "o"
    assert evalkit("run", spec, "--out", out, "--quiet", kill="mid-batch:2").returncode == -9
    w.write_text("0.7")
    p = evalkit("run", spec, "--resume", out, "--quiet", check_rc=2)
    assert "weights changed" in p.stderr and "w" in p.stderr
