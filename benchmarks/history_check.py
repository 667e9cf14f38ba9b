"""The issue's history check, end to end through the CLI: 30 runs of a stable model and of one
that drifts at run 20, read back with `evalkit history`, `bless`, `--baseline blessed` and
`evalkit site`.

Two subjects in one spec, each run under its own seed (0..29):

* ``stable``: the bundled fashion-vae, unchanged;
* ``drifting``: fashion-vae loaded from a checkpoint file beside the spec. From run 20 on the
  file holds other weights (the per-class code means moved by ``DRIFT`` × N(0, 1)),
  as when a team retrains a checkpoint in place: same subject, new weights digest.

Writes the runs, the history database and the site under ``WORK`` (argument 1, default
``/tmp/evalkit-history-check``) and prints what `evalkit history show` flags.

    python benchmarks/history_check.py [WORK] [--n 200] [--runs 30] [--drift-at 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

DRIFT = 0.6

SPEC = """version: 1
name: history-check
reference: {{dataset: fashion-mnist, split: test, range: [0, 2000]}}
subjects:
  - {{name: stable, model: fashion-vae}}
  - {{name: drifting, model: fashion-vae, checkpoint: ckpt/vae.safetensors}}
sampling: {{n: {n}, batch_size: {n}, seed: {seed}}}
requirements:
  - {{name: right class, check: label_agreement, at_least: 0.7}}
  - {{metric: fid, at_most: 30}}
report: {{formats: [json, markdown, html]}}
"""


def evalkit(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, check=check)


def write_weights(path: Path, drifted: bool) -> None:
    from evalkit.zoo.models import weights_path

    tensors = load_file(str(weights_path("fashion-vae")))
    if drifted:
        g = torch.Generator().manual_seed(1234)
        mu = tensors["expost.mean"]
        tensors["expost.mean"] = mu + DRIFT * torch.randn(mu.shape, generator=g)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", nargs="?", default="/tmp/evalkit-history-check")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--drift-at", type=int, default=20)
    a = ap.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "runs").mkdir(parents=True)
    db = work / "history.sqlite"
    t0 = time.time()
    for i in range(a.runs):
        write_weights(work / "ckpt" / "vae.safetensors", drifted=i >= a.drift_at)
        spec = work / "history-check.yaml"
        spec.write_text(SPEC.format(n=a.n, seed=i))
        out = work / "runs" / f"run-{i:02d}"
        p = evalkit("run", str(spec), "--out", str(out), "--history", str(db), "--quiet")
        rep = json.loads((out / "report.json").read_text())
        vals = {s["name"]: {r["name"]: r["value"] for r in s["requirements"]} for s in rep["subjects"]}
        print(f"run {i:2d} exit {p.returncode} {json.dumps(vals)}  ({time.time() - t0:.0f} s)", flush=True)
        if i == 4:
            b = evalkit("bless", str(out), "--history", str(db))
            print("bless:", b.returncode, b.stdout.strip(), b.stderr.strip())
    show = evalkit("history", "show", "--history", str(db))
    print(show.stdout, show.stderr)
    spec = work / "history-check.yaml"
    spec.write_text(SPEC.format(n=a.n, seed=99))
    g = evalkit("run", str(spec), "--out", str(work / "gate"), "--history", str(db), "--baseline", "blessed")
    print("gate vs blessed: exit", g.returncode)
    print(g.stdout[-3000:], g.stderr[-2000:])
    s = evalkit("site", str(work / "runs"), "--out", str(work / "site"), "--history", str(db))
    print("site:", s.returncode, s.stdout.strip()[-500:], s.stderr.strip()[-500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
