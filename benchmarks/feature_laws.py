"""Every metric's bounds on feature laws outside the calibration grid's Gaussians.

    python benchmarks/feature_laws.py [--runs 600] [--workers 2] [--laws relu,collapse,lognormal,quantized]

The calibration grid (``calibration.py``) draws Gaussian features. Features from real
networks are not Gaussian, so this probe repeats its experiment (a reference drawn once,
a generator slightly shifted and scaled, many independent generated sets; the truth is
each metric's mean over the sets) on four other laws, at d = 64, reference 2,000,
N = 1,000, the generator's latent Gaussian scaled by 1.05 and moved by 0.3 along one axis:

- ``relu``: max(z + 0.3, 0), sparse and non-negative like pooled post-ReLU features;
- ``collapse``: a third of each generated set are exact copies of 20 fixed prototypes (a
  partly mode-collapsed generator: zero-radius k-NN balls, ties);
- ``lognormal``: exp(0.6 z), every moment finite but a long right tail;
- ``quantized``: z rounded to a grid of 0.5 (ties among the distances).

Per law and metric: the truth, the spread, and at c = 0.9 / 0.95 / 0.99 the share of runs
whose lower / upper bound lies on the wrong side of the truth, beside the limit
(1 - c) + 2 SE. Each law's runs are saved in ``benchmarks/feature_laws/`` (not in git),
so ``--table`` rewrites ``benchmarks/feature_laws.md`` from them.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from calibration import LEVELS, METRICS, holds, one_run, shape  # noqa: E402

from evalkit._io import atomic_write_text  # noqa: E402

D, N, N_REF = 64, 1000, 2000
LAWS = ("relu", "collapse", "lognormal", "quantized")
RUN_DIR = HERE / "feature_laws"


def draw(law: str, n: int, rng: np.random.Generator, generated: bool) -> np.ndarray:
    """n feature rows of the law; the generator's latent Gaussian is scaled and moved."""
    basis, scales = shape(D)
    z = (rng.normal(size=(n, D)) * scales * (1.05 if generated else 1.0)) @ basis.T
    if generated:
        z[:, 0] += 0.3
    if law == "relu":
        return np.maximum(z + 0.3, 0.0)
    if law == "lognormal":
        return np.exp(0.6 * z)
    if law == "quantized":
        return np.round(z * 2) / 2
    if law == "collapse":
        if generated:
            prototypes = (np.random.default_rng(77).normal(size=(20, D)) * scales) @ basis.T
            k = n // 3
            z[:k] = prototypes[rng.integers(0, 20, size=k)]
        return z
    raise ValueError(f"unknown law {law!r}; one of {', '.join(LAWS)}")


def _one(args: tuple[str, int]) -> dict:
    import torch

    law, r = args
    torch.set_num_threads(1)
    real = torch.from_numpy(draw(law, N_REF, np.random.default_rng(5), False).astype(np.float32))
    fake = draw(law, N, np.random.default_rng(1000 + r), True).astype(np.float32)
    return one_run(real, fake, r, {}, METRICS)


def run_law(law: str, runs: int, workers: int) -> None:
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        out = pool.map(_one, [(law, r) for r in range(runs)], chunksize=5)
    RUN_DIR.mkdir(exist_ok=True)
    atomic_write_text(RUN_DIR / f"{law}.json", json.dumps({"runs": out, "seconds": time.perf_counter() - t0}))


def _rows(law: str) -> list[str]:
    saved = json.loads((RUN_DIR / f"{law}.json").read_text())
    out, lines = saved["runs"], []
    for m in METRICS:
        v = np.array([o[m]["value"] for o in out])
        truth = v.mean()
        for c in LEVELS:
            lo = np.mean([o[m]["low"][str(c)] > truth for o in out])
            hi = np.mean([o[m]["high"][str(c)] < truth for o in out])
            se = math.sqrt(c * (1 - c) / len(v))
            lines.append(f"| {law} | {m} | {len(v)} | {truth:.5g} | {v.std(ddof=1):.3g} | {c} | {lo:.3f} | {hi:.3f} "
                         f"| {(1 - c) + 2 * se:.3f} | {holds(lo, se, c, len(v))} / {holds(hi, se, c, len(v))} |")
    return lines


def write_table() -> None:
    lines = ["# Metric bounds on feature laws outside the calibration grid", "",
             "Written by `python benchmarks/feature_laws.py` (see its docstring): d = 64, reference 2,000, N = 1,000, "
             "generator's latent Gaussian scaled by 1.05 and moved by 0.3 along one axis; the truth is each metric's "
             "mean over the runs. A bound misses when it lies on the wrong side of the truth; a side holds when it "
             "misses at most (1 - c) + 2 SE, the rule of CALIBRATION.md ('yes' / '**NO**' with at least 500 runs, "
             "2,000 at c = 0.99; 'ok*' / '**MISS***' where there are fewer, no claim).", "",
             "| law | metric | runs | truth | sd | c | lower miss | upper miss | limit | holds (lower/upper) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for law in LAWS:
        if (RUN_DIR / f"{law}.json").exists():
            lines += _rows(law)
    atomic_write_text(HERE / "feature_laws.md", "\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--laws", default=",".join(LAWS))
    ap.add_argument("--table", action="store_true", help="only rewrite feature_laws.md from the saved runs")
    args = ap.parse_args()
    laws = [x for x in args.laws.split(",") if x]
    for law in laws:
        if not args.table:
            run_law(law, args.runs, args.workers)
            print(f"{law}: done", file=sys.stderr, flush=True)
    write_table()
    print((HERE / "feature_laws.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
