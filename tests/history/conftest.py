"""Real report folders for the history's tests: small runs of the bundled fashion-vae."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main

SPEC = """\
version: 1
name: {name}
reference: {{dataset: fashion-mnist, split: test, range: [0, 400]}}
features: pixels
features_check: off  # at_most 1e6 is vacuous on purpose: the FID is followed over runs, not judged here
classifier: null
subjects:
  - model: fashion-vae
sampling: {{n: 64, batch_size: 64, seed: 3}}
requirements:
  - {{name: in range, check: in_range, at_least: 0.9}}
  - {{name: light ink, where: "ink < 0.6", at_least: 0.5}}
  - {{metric: fid, at_most: 1000000}}
regression: {{tolerance: {{fid: 1.0}}}}
"""


def write_spec(folder: Path, name: str = "hist") -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(SPEC.format(name=name))
    return p


def cli(args, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``evalkit ARGS`` in-process; no traceback may reach the user."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def copies(report_dir: Path, where: Path, k: int) -> list[Path]:
    """``k`` distinct report folders made from one real one: the same run finishing a second apart each
    (report.json differs, so each is another run id; everything the reader checks still holds)."""
    data = json.loads((report_dir / "report.json").read_text())
    out = []
    for i in range(k):
        d = where / f"run-{i:03d}"
        d.mkdir(parents=True)
        data["finished"] = f"2026-12-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
        data["started"] = data["finished"]
        (d / "report.json").write_text(json.dumps(data))
        out.append(d)
    return out


@pytest.fixture(autouse=True)
def _no_inherited_history(monkeypatch):
    monkeypatch.delenv("EVALKIT_HISTORY", raising=False)


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """One real report folder (fashion-vae, n=64), written without a history."""
    d = tmp_path_factory.mktemp("one")
    spec = write_spec(d)
    assert main(["run", str(spec), "--out", str(d / "rep"), "--quiet", "--format", "json", "--no-history"]) == 0
    assert not (d / "history.sqlite").exists()
    return d / "rep"


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
