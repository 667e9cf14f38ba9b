"""Time of the paired FID test in `evalkit compare`: delta method against paired bootstrap.

    python benchmarks/compare_speed.py [--reps 5]

Two paired sets of n = 1,000 float16-stored feature rows against a 5,000-row reference,
at d = 128 (fashion-classifier), 784 (pixels) and 2048 (Inception-sized). Per cell:
the reference's fit (once per comparison), the delta method (one FID with its
influences per side: what `--bootstrap 0` does), and the paired bootstrap, timed on
``--reps`` replicates and scaled to the command's default of 200 (each replicate is one
weighted covariance and one eigen-solve per side, so the time is linear in B).
CPU seconds of one process (OMP_NUM_THREADS=1), so a shared machine does not inflate them.
"""

from __future__ import annotations

import argparse
import time

import torch

from evalkit.metrics.functional import FrechetReference
from evalkit.compare.paired import bootstrap_pairs


def cpu(fn):
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    print("| d | reference fit (s) | delta method, both sides (s) | bootstrap, per replicate pair (s) | "
          "bootstrap B = 200 (s, scaled) | ratio delta / bootstrap 200 |")
    print("|---|---|---|---|---|---|")
    for d in (128, 784, 2048):
        g = torch.Generator().manual_seed(d)
        real = torch.randn(5000, d, generator=g)
        common = torch.randn(1000, d, generator=g)
        fa = (common + 0.5 * torch.randn(1000, d, generator=g)).half().double()
        fb = (common + 0.5 * torch.randn(1000, d, generator=g)).half().double()
        t_ref, ref = cpu(lambda: FrechetReference.of(real))
        t_delta, _ = cpu(lambda: (ref.fid_influence(fa), ref.fid_influence(fb)))
        t_boot, _ = cpu(lambda: bootstrap_pairs(ref.fid, fa, fb, args.reps))
        per = t_boot / args.reps
        print(f"| {d} | {t_ref:.2f} | {t_delta:.2f} | {per:.2f} | {200 * per:.0f} | {t_delta / (200 * per):.4f} |", flush=True)


if __name__ == "__main__":
    main()
