"""Calibration of the metric intervals by simulation: how often each one-sided bound misses.

    python benchmarks/calibration.py            # the full grid (resumes where it stopped)
    python benchmarks/calibration.py --quick    # d in {16, 128}, N in {500, 2000}, reference 5000, fewer runs
    python benchmarks/calibration.py --table    # only rewrite CALIBRATION.md from the saved runs

The setting a user meets: one reference set drawn once (a correlated Gaussian with a
random spectrum), a generator that is the same Gaussian, slightly or clearly shifted and
scaled, and many independent generated sets of N samples. The estimand of every
interval is the metric's expected value at this N against this reference; the truth of
a cell is the mean of the metric over its runs. A run's lower bound misses when it lies
above the truth, its upper bound when it lies below. The three confidence levels reuse
the same runs.

Metrics are simulated in four groups by the work they share: FID and Vendi (dense
algebra, cheap), precision, density and coverage (the reference's k-NN balls, cheap),
recall and KID (the generated samples' own balls and KID's subset kernels: the costly
part), and CMMD (its float64 RBF kernel sums: ``--groups rbf``). The full grid runs 2,000 per cell and metric (``RUNS``: enough for the c = 0.99
claim; recall and KID take up to about 35 core-minutes a cell at N = 5,000, reference
5,000), and run r of a cell always uses the same generated set, whichever metric it is
for. The raw runs are saved per cell in ``benchmarks/calibration/`` (not in git: tens of
MB) after every chunk, atomically, so an interrupted run resumes; the summary of every
cell and metric is kept in ``benchmarks/calibration-summary.json`` (in git), from which
``CALIBRATION.md`` is written at the end (and by ``--table``).

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
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from evalkit._io import atomic_write_text  # noqa: E402

CELL_DIR = HERE / "calibration"
SUMMARY = HERE / "calibration-summary.json"
TABLE = HERE / "CALIBRATION.md"
LEVELS = (0.9, 0.95, 0.99)
METRICS = ("fid", "kid", "cmmd", "precision", "recall", "density", "coverage", "vendi")
# metrics that share their work, simulated together
GROUPS = {"dense": ("fid", "vendi"), "reference-balls": ("precision", "density", "coverage"),
          "own-balls": ("recall", "kid"), "rbf": ("cmmd",)}
RUNS = {m: 2000 for m in METRICS}  # per cell, the full grid
QUICK_RUNS = {m: 50 if m in GROUPS["own-balls"] else 500 for m in METRICS}  # --quick: ~2,100 CPU-s, 17 min on 2 cores
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


def shape(d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    scales = rng.gamma(2.0, 1.0, size=d)
    return basis, scales / np.sqrt((scales**2).mean())  # unequal scales, unit root-mean-square


def reference(d: int, ref: int) -> np.ndarray:
    basis, scales = shape(d)
    rng = np.random.default_rng(2000 + 7 * d + ref)
    return ((rng.normal(size=(ref, d)) * scales) @ basis.T).astype(np.float32)


def generated(d: int, n: int, shift: str, seed: int) -> np.ndarray:
    basis, scales = shape(d)
    a, b = SHIFTS[shift]
    direction = np.random.default_rng(3000 + d).normal(size=d)
    direction /= np.linalg.norm(direction)
    rng = np.random.default_rng(seed)
    return ((rng.normal(size=(n, d)) * scales * (1 + a)) @ basis.T + b * direction).astype(np.float32)


def one_run(real, fake, seed: int, shared: dict, metrics: tuple[str, ...]) -> dict:
    """The asked metrics' values and bounds at each level, through the registered metrics."""
    import torch

    from evalkit.metrics.cmmd import CMMD
    from evalkit.metrics.diversity import Vendi
    from evalkit.metrics.frechet import FID
    from evalkit.metrics.kernel import KID
    from evalkit.metrics.manifold import Coverage, Density, Precision, Recall
    from evalkit.metrics.metric import MetricInputs

    classes = {"fid": FID, "kid": KID, "cmmd": CMMD, "precision": Precision, "recall": Recall, "density": Density,
               "coverage": Coverage, "vendi": Vendi}
    inputs = MetricInputs("sim", real, torch.from_numpy(fake), seed=seed % KID_SEEDS,
                          requests=[(m, {}) for m in metrics], shared=shared)
    out = {}
    for name in metrics:
        rec = {"low": {}, "high": {}}
        for c in LEVELS:
            v = classes[name]().compute(inputs, c)
            rec["value"], rec["low"][str(c)], rec["high"][str(c)] = v.value, v.low, v.high
        out[name] = rec
    return out


def _save(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data))


def empty_metric() -> dict:
    """One metric's saved runs: values and bounds per level, and the time they took."""
    return {"value": [], "low": {str(c): [] for c in LEVELS}, "high": {str(c): [] for c in LEVELS},
            "seconds": 0.0, "timed_runs": 0}


def add_run(store: dict, rec: dict) -> None:
    """Append one run's value and bounds (``one_run``'s record of a metric) to its store."""
    store["value"].append(rec["value"])
    for c in LEVELS:
        store["low"][str(c)].append(rec["low"][str(c)])
        store["high"][str(c)].append(rec["high"][str(c)])


def _group_path(cell: tuple, group: str) -> Path:
    return CELL_DIR / f"{cell_name(*cell)}.{group}.json"  # one file per group: workers never share one


def _load_group(cell: tuple, group: str) -> dict:
    d, n, ref, shift = cell
    path = _group_path(cell, group)
    data = json.loads(path.read_text()) if path.exists() else {"d": d, "n": n, "reference": ref, "shift": shift,
                                                               "metrics": {}}
    for m in GROUPS[group]:
        data["metrics"].setdefault(m, empty_metric())
    return data


_REFERENCES: dict = {}  # per worker process: (d, ref) -> (features, shared reference work)


def run_group(cell: tuple, group: str, targets: dict, chunk_runs: int = CHUNK) -> None:
    """Bring each metric of the group in this cell to its target number of runs."""
    import torch

    torch.set_num_threads(1)
    d, n, ref, shift = cell
    path = _group_path(cell, group)
    if (d, ref) not in _REFERENCES:  # cells of one reference share its passes (KID draws cycle)
        _REFERENCES[(d, ref)] = (torch.from_numpy(reference(d, ref)), {})
    real, shared = _REFERENCES[(d, ref)]
    data = _load_group(cell, group)
    while True:
        have = {m: len(data["metrics"][m]["value"]) for m in GROUPS[group]}
        todo = [m for m in GROUPS[group] if have[m] < targets[m]]
        if not todo:
            return
        start = min(have[m] for m in todo)
        chunk = []
        t0 = time.perf_counter()
        for r in range(start, start + chunk_runs):
            metrics = tuple(m for m in todo if have[m] <= r < targets[m])
            if not metrics:
                break
            seed = 10_000_000 * d + 1000 * n + 17 * ref + list(SHIFTS).index(shift) * 7_000_000 + r
            chunk.append((r, one_run(real, generated(d, n, shift, seed), r, shared, metrics)))
        seconds = time.perf_counter() - t0
        for r, out in chunk:
            for m, rec in out.items():
                store = data["metrics"][m]
                add_run(store, rec)
                store["timed_runs"] += 1
                store["seconds"] += seconds / len(chunk) / len(out)
        _save(path, data)
        done = ", ".join(f"{m} {len(data['metrics'][m]['value'])}/{targets[m]}" for m in GROUPS[group])
        print(f"{cell_name(*cell)} [{group}]: {done}", flush=True)


# ---- the table ---------------------------------------------------------------------


def summarise(store: dict) -> dict:
    """One metric in one cell: truth, spread, and per level the miss rates per side, SE, width ratio."""
    from scipy import stats

    v = np.array(store["value"])
    truth, spread = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
    rows = {}
    for c in LEVELS:
        lo, hi = np.array(store["low"][str(c)]), np.array(store["high"][str(c)])
        z = float(stats.norm.ppf(c))
        half = float(np.mean(np.concatenate([v - lo, hi - v])))
        rows[str(c)] = {"low_miss": float(np.mean(lo > truth)), "high_miss": float(np.mean(hi < truth)),
                        "se": math.sqrt(c * (1 - c) / len(v)),
                        "width": half / (z * spread) if spread > 0 else float("nan")}
    per_run = store["seconds"] / store["timed_runs"] if store["timed_runs"] else float("nan")
    return {"runs": len(v), "truth": truth, "sd": spread, "seconds_per_run": per_run, "levels": rows}


def update_summary() -> dict:
    """The summary of every cell and metric with saved runs, merged into the kept one."""
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    for path in sorted(CELL_DIR.glob("*.*.json")):
        data = json.loads(path.read_text())
        cell = summary.setdefault(path.name.split(".")[0], {k: data[k] for k in ("d", "n", "reference", "shift")})
        for m, store in data["metrics"].items():
            if len(store["value"]) >= 2:
                cell.setdefault("metrics", {})[m] = summarise(store)
    summary = dict(sorted(summary.items()))
    atomic_write_text(SUMMARY, json.dumps(summary, indent=1, sort_keys=True))
    return summary


def claim_runs(c: float) -> int:
    """Runs a cell needs before its miss rate at level c is a claim."""
    return 2000 if c == 0.99 else 500


def beyond(miss: float, se: float, c: float) -> bool:
    """Whether a side's miss rate is beyond what a calibrated side allows: 1 - c + 2 SE."""
    return miss > (1 - c) + 2 * se


def holds(miss: float, se: float, c: float, runs: int) -> str:
    ok = not beyond(miss, se, c)
    if runs < claim_runs(c):
        return "ok*" if ok else "**MISS***"
    return "yes" if ok else "**NO**"


METHODS = """\
## Methods (what each interval is; `evalkit/metrics/intervals.py` and each family's module)

- **fid**: delta method (each generated sample's influence), the skew removed by Hall's (1992) monotone cubic
  transform fed by FID's two Edgeworth terms: the influences' skewness and the curvature E[IF IF Q] (Q its
  second-order kernel, by the Daleckii-Krein formula). Why: FID is quadratic in the generated moments, so with a
  mean shift its influences are symmetric while FID is right-skewed; the influences' skewness alone left the upper
  bound missing 11.9 % at c = 0.9 (d = 16, N = 500).
- **vendi**: at order 1 with N > d, the delete-one jackknife over generated samples with exact leave-one-out
  scores (matrix determinant lemma: no eigen-solve per sample); other orders the delta method. Why: the delta
  method understated the spread by ~10 % where d/N is not small (d = 128, N = 500: misses 11.8 % / 12.8 %).
- **kid**: delete-one jackknife of the complete U-statistic (exact from the kernel row sums) plus the
  subset noise, with the skewness removed by Hall's transform fed by the U-statistic's two Edgeworth terms
  (Helmers, 1991: the projection's skewness and E[g g psi]), the transformed quantile capped at twice the normal
  one. Why: KID is right-skewed and its jackknife error grows with it (correlation ~0.9 in these cells), so the
  plain normal upper bound missed 17-23 % at c = 0.9, N = 500, and a plain Cornish-Fisher shift with the same
  terms still 13-15 %. With no shift the statistic is nearly degenerate and the jackknife counts that part twice
  (Efron-Stein), hence width ratios of up to 1.7 there.
- **cmmd**: KID's method on CMMD's U-statistic (the unbiased MMD² with a Gaussian RBF kernel, sigma 10, times
  1000): the delete-one jackknife, exact from the kernel row sums, with the skewness removed by Hall's transform
  fed by Helmers' two Edgeworth terms (E[g g psi] from the kernel centred on its mean), capped at twice the normal
  quantile. The kernel is bounded, so no tail guard. Run on the quick grid only, 500 runs a cell
  (`--quick --groups rbf --runs 500 --workers 1`, 45 minutes on one shared core): claims at c = 0.9 and 0.95
  only (0 of 24 sides beyond 1 - c + 2 SE at either), none at 0.99. Width ratio median 1.07; up to 1.76 with no
  shift, where the statistic is nearly degenerate and the jackknife over-counts that part, as KID's. The full
  grid is `--groups rbf` (resumable).
- **precision**: Clopper-Pearson over generated samples (exact: the balls are the reference's).
- **recall**: delete-one jackknife over generated samples, every ball rebuilt; at least as wide as Garwood's Poisson
  bounds on the uncovered count.
- **coverage**: delete-one jackknife or the clumped-Poisson bound where tighter, through Hall's transform with the
  deletions' skewness; where at least half the balls are covered, at least as wide as Garwood's Poisson bounds on
  the uncovered count (both sides: near coverage 1 a run with a ball or two uncovered put its upper bound below the
  truth, 6 % of runs at every level at d = 16, N = 5,000, reference 1,000, no shift).
- **density**: normal over the per-sample counts through Hall's transform, each bound with the one of two
  skewnesses that moves it outward: the counts' own, or the one borrowed from the reference's count landscape
  (each hit ball's real samples stand in for the rare large counts; summed in the shared cross pass, the
  landscape read off the reference's neighbour lists, no extra pass). Why: at d = 128 the ball count has a power
  tail (hubness); runs lacking the rare large counts underestimate spread and skewness together. With the
  counts' own skewness alone the upper side missed 11.6 / 6.0 / 1.7 % at c = 0.9 / 0.95 / 0.99 (d = 128,
  N = 500, reference 5,000, small shift; confirmed on 4,000 fresh sets, `fresh_seeds.md`), and 14 % at c = 0.9
  with a large shift. With no count at all, the upper bound is at least Clopper-Pearson's on the share of
  samples inside some ball.
- **coverage where most generated samples lie in no reference ball**: a sample's deletion is then nearly its
  ball count, and the bounds take the outward skewness as density's do; elsewhere the deletions' own. Where most
  balls are uncovered and the jackknife sees less than a Poisson count's spread, Garwood's bounds on the covered
  count.
- **heavy tails** (kid, fid): where Hill's tail index of the feature distances is below 6 (sixth moments missing),
  KID's bounds and FID's upper bound are shown but not claimed (`benchmarks/heavy_tails.md`); the grid's Gaussian
  features never reach it.
- **Hall's transform** (fid, kid, density, coverage): on the long-tail side the quantile is held at its most
  extreme value over smaller skewnesses, so a larger skewness never moves a bound inward.
"""


def _cell_lines(name: str, cell: dict) -> tuple[list[str], list[tuple]]:
    lines = [f"### {name}: d = {cell['d']}, N = {cell['n']}, reference {cell['reference']}, shift {cell['shift']}", "",
             "| metric | runs | s per run | truth | c | lower miss | upper miss | SE | holds (lower/upper) | width ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for m in METRICS:
        if m not in cell.get("metrics", {}):
            continue
        s = cell["metrics"][m]
        for c in LEVELS:
            r = s["levels"][str(c)]
            h = f"{holds(r['low_miss'], r['se'], c, s['runs'])} / {holds(r['high_miss'], r['se'], c, s['runs'])}"
            lines.append(f"| {m} | {s['runs']} | {s['seconds_per_run']:.3f} | {s['truth']:.5g} | {c} | "
                         f"{r['low_miss']:.3f} | {r['high_miss']:.3f} | {r['se']:.3f} | {h} | {r['width']:.2f} |")
            rows.append((m, c, r, s["runs"]))
    return lines + [""], rows


def _summary_lines(rows: list[tuple]) -> list[str]:
    lines = ["| metric | c | cells | runs (min-max) | worst lower miss | worst upper miss | "
             "sides beyond 1-c + 2 SE (claims: cells with enough runs) | width ratio (median, max) |",
             "|---|---|---|---|---|---|---|---|"]
    for m in METRICS:
        for c in LEVELS:
            got = [(r, runs) for mm, cc, r, runs in rows if mm == m and cc == c]
            if not got:
                continue
            sides = [beyond(r["low_miss"], r["se"], c) + beyond(r["high_miss"], r["se"], c) for r, _ in got]
            claim = [runs >= claim_runs(c) for _, runs in got]
            bad, claims = sum(sides), sum(claim)
            bad_claims = sum(n for n, ok in zip(sides, claim) if ok)
            widths = [r["width"] for r, _ in got if not math.isnan(r["width"])]
            lines.append(f"| {m} | {c} | {len(got)} | {min(n for _, n in got)}-{max(n for _, n in got)} | "
                         f"{max(r['low_miss'] for r, _ in got):.3f} | {max(r['high_miss'] for r, _ in got):.3f} | "
                         f"{bad} of {2 * len(got)} ({bad_claims} of {2 * claims}) | "
                         f"{np.median(widths):.2f}, {max(widths):.2f} |")
    return lines


def write_table(summary: dict) -> None:
    lines = ["# Metric interval calibration", "",
             "Written by `python benchmarks/calibration.py` (see its docstring for the simulation).",
             "Per cell: a reference drawn once, many independent generated sets; the truth is the",
             "metric's mean over the runs (its expected value at this N against this reference).",
             "Miss rates per side (lower bound above the truth / upper bound below it) at each",
             "confidence c, their standard error SE = sqrt(c(1-c)/runs), whether each side holds",
             "(miss <= 1-c + 2 SE; `*`: fewer runs than the 500 / 2000 at c = 0.99 that the claim needs),",
             "and the width ratio (mean half-width over z_c times the true spread; 1 = ideal).",
             "The full grid runs 2,000 per cell and metric (`--quick` runs fewer). A side that misses",
             "exactly 1 - c of the time still lands beyond 1 - c + 2 SE in about 2.3 % of cells by",
             "chance, so among S sides with enough runs about 0.023 S such sides are expected from a",
             "calibrated method.", "", METHODS]
    detail, rows = [], []
    for name, cell in summary.items():
        if not cell.get("metrics"):
            continue
        more, got = _cell_lines(name, cell)
        detail += more
        rows += got
    done = {name for name, cell in summary.items() if cell.get("metrics")}
    quick = sum(cell_name(*c) in done for c in QUICK)
    full = sum(cell_name(*c) in done for c in FULL)
    lines += ["## Which cells ran", "",
              f"Quick grid (d in {{16, 128}}, N in {{500, 2000}}, reference 5000, three shifts): {quick} of {len(QUICK)} "
              f"cells. Full grid (d in {{16, 64, 128}}, N in {{500, 2000, 5000}}, reference in {{1000, 5000}}, three "
              f"shifts): {full} of {len(FULL)} cells. The runs per metric are in each cell's table.", "",
              "## Summary over the cells run", ""] + _summary_lines(rows) + ["", "## Cells", ""] + detail
    atomic_write_text(TABLE, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="d in {16, 128}, N in {500, 2000}, reference 5000; 500 runs per cheap metric, 50 for recall and KID")
    ap.add_argument("--runs", type=int, default=0, help="runs per cell for every metric (default: RUNS, or QUICK_RUNS)")
    ap.add_argument("--workers", type=int, default=2, help="processes, one (cell, group) at a time each")
    ap.add_argument("--only", default="", help="run only cells whose name contains one of these (comma-separated)")
    ap.add_argument("--chunk", type=int, default=CHUNK, help=f"runs between saves [{CHUNK}]")
    ap.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated groups of {', '.join(GROUPS)}")
    ap.add_argument("--table", action="store_true", help="only rewrite CALIBRATION.md from the saved runs")
    args = ap.parse_args()
    CELL_DIR.mkdir(exist_ok=True)
    if not args.table:
        parts = args.only.split(",")
        cells = [c for c in (QUICK if args.quick else FULL) if any(p in cell_name(*c) for p in parts)]
        cells.sort(key=lambda c: (c not in QUICK, c[1], c[0], c[2]))  # the quick cells first
        final = {m: args.runs or (QUICK_RUNS if args.quick else RUNS)[m] for m in METRICS}
        groups = [g for g in args.groups.split(",") if g]
        # breadth first (every cell to a fifth of its runs, then half, then all), so that a run
        # stopped early leaves every cell with some runs rather than a few with all
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for share in (0.2, 0.5, 1.0):
                targets = {m: max(2, int(final[m] * share)) for m in METRICS}
                # the costly group first, so that the cheap ones fill the pool's tail
                tasks = [(c, g, targets, args.chunk) for g in sorted(groups, key=lambda g: g != "own-balls") for c in cells]
                pool.starmap(run_group, tasks, chunksize=1)
                write_table(update_summary())
    write_table(update_summary())
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
