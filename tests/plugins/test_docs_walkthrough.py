"""docs/plugins.md's walk-through, run exactly as written: the docs cannot rot.

The page's code blocks tagged ``file=NAME`` (the plugin, the spec, the plugin's
test) are copied into an empty folder and nothing else: the plugin's own pytest
runs there in a fresh process (so its names do not meet this suite's plugins),
then ``evalkit validate`` and ``evalkit run`` through the CLI.
The walk-through promises two files for a metric with a new input; that count
is checked too.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```$", re.M | re.S)


def blocks() -> dict[str, str]:
    return {name: body for _, name, body in BLOCK.findall(DOCS.read_text())}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("walkthrough")
    for name, body in blocks().items():
        (out / name).write_text(body)
    # the model's saved samples the walk-through's spec audits: 300 real images stand in
    from evalkit.data.datasets import fashion_mnist

    np.savez(out / "samples.npz", images=fashion_mnist("test").slice(2000, 2300).numpy())
    return out


def run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_walkthrough_is_two_files_and_a_spec():
    found = blocks()
    assert set(found) == {"edges.py", "audit.yaml", "test_edges.py"}
    # the plugin file is the only Python besides its test: no edit anywhere else is asked for
    assert "plugins: [edges]" in found["audit.yaml"]
    text = DOCS.read_text()
    assert "two files" in text and "evalkit/" not in found["edges.py"]


def test_the_plugins_own_test_passes_as_written(folder):
    done = run(folder, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_edges.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout


def test_the_cli_validates_and_runs_the_spec(folder):
    done = run(folder, "-m", "evalkit", "validate", "audit.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(folder, "-m", "evalkit", "run", "audit.yaml", "--out", "out", "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((folder / "out" / "report.json").read_text())
    (metric,) = report["subjects"][0]["metrics"]
    assert metric["metric"] == "mean_edge_strength" and metric["n"] == 300
    # independent: every one of the 300 saved images, by NumPy
    with np.load(folder / "samples.npz") as saved:
        g = saved["images"].astype(np.float64).mean(axis=1)
    per = (np.abs(np.diff(g, axis=2)).mean(axis=(1, 2)) + np.abs(np.diff(g, axis=1)).mean(axis=(1, 2))) / 2
    assert metric["value"] == pytest.approx(per.mean(), rel=1e-9)
    # the declared interval: mean -+ z * s / sqrt(n), one-sided at the requirement's confidence
    from scipy import stats

    half = stats.norm.ppf(metric["confidence"]) * per.std(ddof=1) / np.sqrt(len(per))
    assert (metric["lower"], metric["upper"]) == pytest.approx((per.mean() - half, per.mean() + half), rel=1e-9)


def test_an_argument_or_an_input_the_spec_lacks_is_refused_before_anything_runs(folder):
    bad = (folder / "audit.yaml").read_text().replace(
        "{metric: mean_edge_strength, at_least: 0.05}", "{metric: mean_edge_strength, args: {trim: 0.1}, at_least: 0.05}")
    (folder / "bad.yaml").write_text(bad)
    done = run(folder, "-m", "evalkit", "run", "bad.yaml", "--out", "bad-out")
    assert done.returncode == 2 and "trim" in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert not (folder / "bad-out" / "report.json").exists()
