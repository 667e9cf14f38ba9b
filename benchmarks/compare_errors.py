"""Error rates of `evalkit compare`'s table: simulations behind the README's claims.

    python benchmarks/compare_errors.py [--trials 2000] [--fid-trials 1000] > benchmarks/compare-errors.txt

1. Rates, paired (McNemar, the engine's compare_rates), Holm over both directions of
   every row of a table of R rows, under the null (two subjects of one distribution
   scoring the same samples with independent noise): P(any false better/worse) and
   P(a ranking is printed). Both must be <= 1 - confidence.
2. FID of two generators sharing latents (A = z + e1, B = z + e2 [+ shift]) against a
   fixed reference, three tests of FID_B - FID_A: the paired delta method (what
   compare does by default: the engine's compare_metrics(paired_influence=...)), the
   paired bootstrap (--bootstrap B: bootstrap_pairs + paired_replicates) and the
   unpaired test on the two delta-method intervals the reports carry. Under the null:
   P(false verdict) and the ratio of the true spread of the difference (over the
   trials) to the test's standard error (1 = calibrated, < 1 conservative); with a
   shift away from the reference: P(worse), the power.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from evalkit.judge.compare import compare_metrics, compare_rates, holm
from evalkit.compare.paired import bootstrap_pairs
from evalkit.compare.ranking import rank
from evalkit.records.comparison import Row


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


def fid_cell(trials: int, method: str, shift: float, n: int, d: int, reference: tuple[float, float], seed: int,
             replicates: int = 100) -> tuple[float, float, float]:
    """(P(false verdict) under the null or P(worse) with a shift, true sd / mean se, mean FID_A)."""
    from scipy import stats

    from evalkit.metrics.functional import FrechetReference

    g = torch.Generator().manual_seed(seed)
    mu, scale = reference
    ref = FrechetReference.of(torch.randn(5000, d, generator=g, dtype=torch.float64) * scale + mu)
    z = float(stats.norm.ppf(0.95))
    hits, diffs, ses, fids = 0, [], [], []
    for t in range(trials):
        common = torch.randn(n, d, generator=g, dtype=torch.float64)
        fa = common + 0.6 * torch.randn(n, d, generator=g, dtype=torch.float64)
        fb = common + 0.6 * torch.randn(n, d, generator=g, dtype=torch.float64) - shift
        (va, ia), (vb, ib) = ref.fid_influence(fa), ref.fid_influence(fb)
        if method == "paired delta":
            r = compare_metrics(va, va, va, vb, vb, vb, confidence=0.95, higher_is_better=False,
                                paired_influence=(ia.numpy(), ib.numpy()))
        elif method == "paired bootstrap":
            reps = bootstrap_pairs(ref.fid, fa, fb, replicates, seed=t)
            r = compare_metrics(va, va, va, vb, vb, vb, confidence=0.95, higher_is_better=False, paired_replicates=reps)
        else:  # the reports' own intervals: each side's delta-method spread
            sa, sb = float(ia.std()) / n**0.5, float(ib.std()) / n**0.5
            r = compare_metrics(va, va - z * sa, va + z * sa, vb, vb - z * sb, vb + z * sb, confidence=0.95,
                                higher_is_better=False)
        hits += r.verdict != "no significant difference" if shift == 0 else r.verdict == "worse"
        diffs.append(vb - va)
        ses.append((r.high - r.diff) / z if r.paired else math.hypot(float(ia.std()), float(ib.std())) / n**0.5)
        fids.append(va)
    spread = float(np.std(diffs, ddof=1)) / float(np.sqrt(np.mean(np.square(ses))))
    return hits / trials, spread, float(np.mean(fids))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--fid-trials", type=int, default=1000)
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
    print("\n| FID test | n, d | reference (mean, sd) | mean FID | trials | null: P(false verdict) | "
          "null: true sd / se | shift 0.07: P(worse) |")
    print("|---|---|---|---|---|---|---|---|")
    cells = [(n, d, ref) for n, d in ((200, 4), (1000, 16)) for ref in ((0.5, 1.5), (0.0, 1.2))]
    for method in ("paired delta", "paired bootstrap", "unpaired (two intervals)"):
        trials = max(1, args.fid_trials // 5) if method == "paired bootstrap" else args.fid_trials
        for n, d, ref in cells if args.fid_trials else ():
            null, spread, fid = fid_cell(trials, method, 0.0, n, d, ref, seed=n + d)
            power, _, _ = fid_cell(trials, method, 0.07, n, d, ref, seed=n + d + 1)
            label = method + (" (100 replicates)" if method == "paired bootstrap" else "")
            print(f"| {label} | {n}, {d} | {ref} | {fid:.3f} | {trials} | {null:.4f} | {spread:.3f} | {power:.4f} |")
            sys.stdout.flush()
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
