"""Calibration of the metric intervals by simulation: how often each one-sided bound misses.

    python benchmarks/calibration.py            # the full grid (resumes where it stopped)
    python benchmarks/calibration.py --quick    # d in {16, 128}, N in {500, 2000}, reference 5000
    python benchmarks/calibration.py --table    # only rewrite CALIBRATION.md from the saved cells

The setting a user meets: one reference set drawn once (a correlated Gaussian with a
random spectrum), a generator that is the same Gaussian, slightly or clearly shifted and
scaled, and many independent generated sets of N samples. The estimand of every
interval is the metric's expected value at this N against this reference; the truth of
a cell is the mean of the metric over its runs. A run's lower bound misses when it lies
above the truth, its upper bound when it lies below. The three confidence levels reuse
the same runs. Each cell's runs are saved as JSON in ``benchmarks/calibration/`` after
every chunk (atomically), so an interrupted run resumes; ``CALIBRATION.md`` is rewritten
from all saved cells at the end (and by ``--table``).

"Holds" = the miss rate of a side is at most (1 - c) + 2 SE, SE = sqrt(c (1 - c) / runs),
with at least 500 runs (2000 at c = 0.99). The width ratio is the mean half-width
(bound to value) over z_c times the spread of the value across runs: 1 is the width of
an interval that knew the true standard deviation.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CELL_DIR = HERE / "calibration"
TABLE = HERE / "CALIBRATION.md"
LEVELS = (0.9, 0.95, 0.99)
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "vendi")
# features: a Gaussian with unequal scales (unit root-mean-square) in a random basis;
# generator = the same with every scale multiplied by (1 + a) and the mean moved by b
# along one random direction
SHIFTS = {"none": (0.0, 0.0), "small": (0.05, 0.3), "large": (0.2, 1.0)}
CHUNK = 25  # runs between saves
KID_SEEDS = 10  # runs cycle through this many KID subset draws (their reference passes are cached)

FULL = [(d, n, r, s) for d in (16, 64, 128) for n in (500, 2000, 5000) for r in (1000, 5000) for s in SHIFTS]
QUICK = [(d, n, 5000, s) for d in (16, 128) for n in (500, 2000) for s in SHIFTS]


def cell_name(d: int, n: int, ref: int, shift: str) -> str:
    return f"d{d}-n{n}-ref{ref}-{shift}"


def _shape(d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    scales = rng.gamma(2.0, 1.0, size=d)
    return basis, scales / np.sqrt((scales**2).mean())  # unequal scales, unit root-mean-square


def reference(d: int, ref: int) -> np.ndarray:
    basis, scales = _shape(d)
    rng = np.random.default_rng(2000 + 7 * d + ref)
    return ((rng.normal(size=(ref, d)) * scales) @ basis.T).astype(np.float32)


def generated(d: int, n: int, shift: str, seed: int) -> np.ndarray:
    basis, scales = _shape(d)
    a, b = SHIFTS[shift]
    direction = np.random.default_rng(3000 + d).normal(size=d)
    direction /= np.linalg.norm(direction)
    rng = np.random.default_rng(seed)
    return ((rng.normal(size=(n, d)) * scales * (1 + a)) @ basis.T + b * direction).astype(np.float32)


def one_run(real, fake, seed: int, shared: dict) -> dict:
    """Every metric's value and bounds at each level, through the registered metrics."""
    import torch

    from evalkit.metrics.suite import KID, FID, Coverage, Density, MetricInputs, Precision, Recall, Vendi

    classes = {"fid": FID, "kid": KID, "precision": Precision, "recall": Recall, "density": Density,
               "coverage": Coverage, "vendi": Vendi}
    inputs = MetricInputs("sim", real, torch.from_numpy(fake), seed=seed % KID_SEEDS,
                          requests=[(m, {}) for m in METRICS], shared=shared)
    out = {}
    for name in METRICS:
        rec = {"low": {}, "high": {}}
        for c in LEVELS:
            v = classes[name]().compute(inputs, c)
            rec["value"], rec["low"][str(c)], rec["high"][str(c)] = v.value, v.low, v.high
        rec["extra"] = {k: float(x) for k, x in v.extra.items()}  # sd (and variants), skewness
        out[name] = rec
    return out


def _save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


_REFERENCES: dict = {}  # per worker process: (d, ref) -> (features, shared reference work)


def run_cell(cell: tuple, runs: int) -> None:
    import torch

    torch.set_num_threads(1)
    d, n, ref, shift = cell
    path = CELL_DIR / f"{cell_name(*cell)}.json"
    data = json.loads(path.read_text()) if path.exists() else {
        "d": d, "n": n, "reference": ref, "shift": shift, "runs": [], "seconds": 0.0}
    if len(data["runs"]) >= runs:
        return
    if (d, ref) not in _REFERENCES:  # cells of one reference share its passes (KID draws cycle)
        _REFERENCES[(d, ref)] = (torch.from_numpy(reference(d, ref)), {})
    real, shared = _REFERENCES[(d, ref)]
    while len(data["runs"]) < runs:
        t0 = time.perf_counter()
        for _ in range(min(CHUNK, runs - len(data["runs"]))):
            r = len(data["runs"])
            seed = 10_000_000 * d + 1000 * n + 17 * ref + list(SHIFTS).index(shift) * 7_000_000 + r
            data["runs"].append(one_run(real, generated(d, n, shift, seed), r, shared))
        data["seconds"] += time.perf_counter() - t0
        _save(path, data)
        print(f"{cell_name(*cell)}: {len(data['runs'])}/{runs} runs, {data['seconds']:.0f} s", flush=True)


# ---- the table ---------------------------------------------------------------------


def summarise(data: dict) -> dict:
    """Per metric and level: miss rates per side, SE, width ratio."""
    from scipy import stats

    runs = data["runs"]
    out = {}
    for m in METRICS:
        v = np.array([r[m]["value"] for r in runs])
        truth, spread = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        rows = {}
        for c in LEVELS:
            lo = np.array([r[m]["low"][str(c)] for r in runs])
            hi = np.array([r[m]["high"][str(c)] for r in runs])
            z = float(stats.norm.ppf(c))
            half = float(np.mean(np.concatenate([v - lo, hi - v])))
            rows[c] = {"low_miss": float(np.mean(lo > truth)), "high_miss": float(np.mean(hi < truth)),
                       "se": math.sqrt(c * (1 - c) / len(v)),
                       "width": half / (z * spread) if spread > 0 else float("nan")}
        out[m] = {"truth": truth, "sd": spread, "levels": rows}
    return out


def holds(miss: float, se: float, c: float, runs: int) -> str:
    enough = runs >= (2000 if c == 0.99 else 500)
    ok = miss <= (1 - c) + 2 * se
    if not enough:
        return "ok*" if ok else "**MISS***"
    return "yes" if ok else "**NO**"


def write_table() -> None:
    cells = sorted(CELL_DIR.glob("*.json"))
    lines = ["# Metric interval calibration", "",
             "Written by `python benchmarks/calibration.py` (see its docstring for the simulation).",
             "Per cell: a reference drawn once, many independent generated sets; the truth is the",
             "metric's mean over the runs (its expected value at this N against this reference).",
             "Miss rates per side (lower bound above the truth / upper bound below it) at each",
             "confidence c, their standard error SE = sqrt(c(1-c)/runs), whether each side holds",
             "(miss <= 1-c + 2 SE; `*`: fewer runs than the 500 / 2000 at c = 0.99 that the claim needs),",
             "and the width ratio (mean half-width over z_c times the true spread; 1 = ideal).", "",
             "## Methods (what each interval is; `evalkit/metrics/suite.py`)", "",
             "- **fid, vendi**: delta method, each generated sample's influence; Hall's one-term skewness correction.",
             "- **kid**: delete-one jackknife of the complete U-statistic (exact from the kernel row sums) plus the",
             "  subset noise, with the skewness removed by Hall's (1992) monotone cubic transform fed by the",
             "  U-statistic's two Edgeworth terms (Helmers, 1991: the projection's skewness and E[g g psi]), the",
             "  transformed quantile capped at twice the normal one. Why: KID is right-skewed and its jackknife",
             "  error grows with it (correlation ~0.9 in these cells), so the plain normal upper bound missed",
             "  17-23 % at c = 0.9, N = 500, and a plain Cornish-Fisher shift with the same terms still 13-15 %.",
             "  With no shift the statistic is nearly degenerate and the jackknife counts that part twice",
             "  (Efron-Stein), hence width ratios of up to 1.7 there.",
             "- **precision**: Clopper-Pearson over generated samples (exact: the balls are the reference's).",
             "- **recall**: delete-one jackknife over generated samples, every ball rebuilt.",
             "- **coverage**: delete-one jackknife or the clumped-Poisson bound where tighter, floored by Garwood's.",
             "- **density**: normal over the per-sample counts, Hall's skewness correction.",
             ""]
    summary_rows = []
    detail = []
    for path in cells:
        data = json.loads(path.read_text())
        runs = len(data["runs"])
        if runs < 2:
            continue
        s = summarise(data)
        per_run = data["seconds"] / runs
        name = path.stem
        detail += [f"### {name}: d = {data['d']}, N = {data['n']}, reference {data['reference']}, shift {data['shift']}; "
                   f"{runs} runs, {per_run:.2f} s per run (all seven metrics, three levels)", "",
                   "| metric | truth | c | lower miss | upper miss | SE | holds (lower/upper) | width ratio |",
                   "|---|---|---|---|---|---|---|---|"]
        for m in METRICS:
            for c in LEVELS:
                r = s[m]["levels"][c]
                h = f"{holds(r['low_miss'], r['se'], c, runs)} / {holds(r['high_miss'], r['se'], c, runs)}"
                detail.append(f"| {m} | {s[m]['truth']:.5g} | {c} | {r['low_miss']:.3f} | {r['high_miss']:.3f} | "
                              f"{r['se']:.3f} | {h} | {r['width']:.2f} |")
                summary_rows.append((m, c, r, runs))
        detail.append("")
    done = {p.stem for p in cells}
    missing = [cell_name(*c) for c in QUICK if cell_name(*c) not in done]
    runs_by = {p.stem: len(json.loads(p.read_text())["runs"]) for p in cells}
    lines += ["## Which cells ran", "",
              f"Quick grid (d in {{16, 128}}, N in {{500, 2000}}, reference 5000, three shifts): "
              f"{sum(cell_name(*c) in done for c in QUICK)} of {len(QUICK)} cells"
              + (f" (not run: {', '.join(missing)})" if missing else "") + ". "
              f"Full grid: {sum(cell_name(*c) in done for c in FULL)} of {len(FULL)} cells. Runs per cell: "
              + ", ".join(f"{k} {v}" for k, v in sorted(runs_by.items())) + ". "
              "A cell with fewer than 500 runs (2000 at c = 0.99) is marked `*`: its miss rates are indicative, "
              "not a claim.", ""]
    lines += ["## Summary over the cells run", "",
              "| metric | c | cells | runs (min-max) | worst lower miss | worst upper miss | sides beyond 1-c + 2 SE | width ratio (median, max) |",
              "|---|---|---|---|---|---|---|---|"]
    for m in METRICS:
        for c in LEVELS:
            rows = [(r, runs) for mm, cc, r, runs in summary_rows if mm == m and cc == c]
            if not rows:
                continue
            bad = sum((r["low_miss"] > (1 - c) + 2 * r["se"]) + (r["high_miss"] > (1 - c) + 2 * r["se"]) for r, _ in rows)
            widths = [r["width"] for r, _ in rows if not math.isnan(r["width"])]
            lines.append(f"| {m} | {c} | {len(rows)} | {min(n for _, n in rows)}-{max(n for _, n in rows)} | "
                         f"{max(r['low_miss'] for r, _ in rows):.3f} | "
                         f"{max(r['high_miss'] for r, _ in rows):.3f} | {bad} of {2 * len(rows)} | "
                         f"{np.median(widths):.2f}, {max(widths):.2f} |")
    lines += ["", "## Cells", ""] + detail
    tmp = TABLE.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, TABLE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="d in {16, 128}, N in {500, 2000}, reference 5000")
    ap.add_argument("--runs", type=int, default=500, help="runs per cell (2000 for the c = 0.99 claim)")
    ap.add_argument("--workers", type=int, default=2, help="processes, one cell at a time each")
    ap.add_argument("--only", default="", help="run only cells whose name contains this")
    ap.add_argument("--table", action="store_true", help="only rewrite CALIBRATION.md from the saved cells")
    args = ap.parse_args()
    CELL_DIR.mkdir(exist_ok=True)
    if not args.table:
        cells = [c for c in (QUICK if args.quick else FULL) if args.only in cell_name(*c)]
        # the quick cells first, so a partial full run still holds the everyday table
        cells.sort(key=lambda c: (c not in QUICK, c[1], c[0], c[2]))
        # breadth first (every cell to 100 runs, then 250, then the target), so that a run
        # stopped early leaves every cell with some runs rather than a few with all
        targets = sorted({min(t, args.runs) for t in (100, 250, args.runs)})
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for target in targets:
                pool.starmap(run_cell, [(c, target) for c in cells], chunksize=1)
    write_table()
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
