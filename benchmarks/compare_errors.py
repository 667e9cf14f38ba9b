"""Error rates of `evalkit compare`'s table: simulations behind the README's claims.

    python benchmarks/compare_errors.py [--trials 2000] > benchmarks/COMPARE.md

1. Rates, paired (McNemar, the engine's compare_rates), Holm over both directions of
   every row of a table of R rows, under the null (two subjects of one distribution
   scoring the same samples with independent noise): P(any false better/worse) and
   P(a ranking is printed). Both must be <= 1 - confidence.
2. FID, paired bootstrap over shared samples (bootstrap_pairs + the engine's
   compare_metrics(paired_replicates=...)): P(false verdict) under the null
   (A = z + e1, B = z + e2), and the power against B = z + e2 + shift.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from evalkit.judge.compare import compare_metrics, compare_rates, holm
from evalkit.report.comparison import Row, bootstrap_pairs, fid_against, rank


def rate_tables(trials: int, rows: int, n: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.5, 0.97, rows)
    false = ranked = 0
    for _ in range(trials):
        diffs = []
        for p in rates:
            shared = rng.random(n)
            oa = (shared + 0.1 * rng.random(n)) < p + 0.05
            ob = (shared + 0.1 * rng.random(n)) < p + 0.05
            diffs.append(compare_rates(0, 0, 0, 0, confidence=0.95, paired_outcomes=(oa, ob)))
        table = holm(diffs, 0.95, sides="both")
        false += any(d.verdict != "no significant difference" for d in table)
        rows_ = [Row(name="x", kind="rate", a="a", b="b", value_a=0, value_b=0, verdict=d.verdict) for d in table]
        ranked += rank(["a", "b"], rows_)[0] is not None
    return false / trials, ranked / trials


def fid_paired(trials: int, shift: float, n: int, replicates: int, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(2000, 4, generator=g, dtype=torch.float64) * 1.2
    stat = fid_against(real)
    hits = 0
    for t in range(trials):
        z = torch.randn(n, 4, generator=g, dtype=torch.float64)
        fa = z + 0.6 * torch.randn(n, 4, generator=g, dtype=torch.float64)
        fb = z + 0.6 * torch.randn(n, 4, generator=g, dtype=torch.float64) + shift
        va, vb = stat(fa), stat(fb)
        ra, rb = bootstrap_pairs(stat, fa, fb, replicates, seed=t)
        d = compare_metrics(va, va, va, vb, vb, vb, confidence=0.95, higher_is_better=False, paired_replicates=(ra, rb))
        hits += d.verdict != "no significant difference" if shift == 0 else d.verdict == "worse"
    return hits / trials


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--fid-trials", type=int, default=600)
    args = ap.parse_args()
    t0 = time.time()
    print("# evalkit compare: simulated error rates (confidence 0.95, so at most 0.05 allowed)\n")
    print(f"`python benchmarks/compare_errors.py --trials {args.trials} --fid-trials {args.fid_trials}`\n")
    print("| table | trials | P(any false better/worse) | P(ranking printed) |")
    print("|---|---|---|---|")
    for rows, n in ((1, 200), (4, 150), (10, 300)) if args.trials else ():
        f, r = rate_tables(args.trials, rows, n, seed=rows)
        print(f"| {rows} paired rate rows, n = {n} | {args.trials} | {f:.4f} | {r:.4f} |")
        sys.stdout.flush()
    print("\n| FID, paired bootstrap (100 replicates), n = 200, d = 4 | trials | rate |")
    print("|---|---|---|")
    print(f"| null (same distribution): P(false verdict) | {args.fid_trials} | {fid_paired(args.fid_trials, 0.0, 200, 100, 1):.4f} |")
    print(f"| B shifted by 0.15 per coordinate: P(worse) (power) | {args.fid_trials} | {fid_paired(args.fid_trials, 0.15, 200, 100, 2):.4f} |")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
