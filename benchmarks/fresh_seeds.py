"""Recheck one metric in one calibration cell on fresh generated sets.

    python benchmarks/fresh_seeds.py density d128-n500-ref5000-small --runs 4000
    python benchmarks/fresh_seeds.py --table     # only rewrite fresh_seeds.md

A side of CALIBRATION.md beyond its limit is either chance (about 2.3 % of calibrated
sides land there) or a bound that misses too often. The runs that flagged it cannot tell
which, so this draws new generated sets (seeds disjoint from the calibration's for up to
30,000 runs) against the same reference, with the same metric code, and measures the miss
rates again against these runs' own mean. The raw runs go to ``benchmarks/fresh_seeds/``
(not in git; a stopped check resumes), each check's summary to ``fresh_seeds.md``.
A check run on code since changed moves to ``fresh_seeds/superseded/`` with a "superseded"
note saying by what; the table keeps its rows apart, as the record of what the change fixed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import calibration as cal  # noqa: E402  (the grid, the simulation and the "holds" rule)

from evalkit._io import atomic_write_text  # noqa: E402

RAW = HERE / "fresh_seeds"
TABLE = HERE / "fresh_seeds.md"
CHUNK = 100


def fresh_seed(d: int, n: int, ref: int, shift: str, r: int) -> int:
    # calibration's seeds lie in [1.6e8, 1.81e8], [6.4e8, 6.61e8] and [1.28e9, 1.301e9]
    # (d = 16 / 64 / 128); these in [9.16e8, 1.028e9 + 7919 r]: disjoint for r < 30,000
    return 900_000_000 + 1_000_000 * d + 1000 * n + ref + 100 * list(cal.SHIFTS).index(shift) + 7919 * r


def parse_cell(name: str) -> tuple[int, int, int, str]:
    for cell in cal.FULL:
        if cal.cell_name(*cell) == name:
            return cell
    raise SystemExit(f"fresh_seeds: no calibration cell {name!r}; cells look like {cal.cell_name(*cal.FULL[0])}")


def check(metric: str, name: str, runs: int) -> None:
    import torch

    torch.set_num_threads(1)
    d, n, ref, shift = parse_cell(name)
    path = RAW / f"{metric}.{name}.json"
    out = cal.empty_metric() | (json.loads(path.read_text()) if path.exists() else {})
    real, shared = torch.from_numpy(cal.reference(d, ref)), {}
    while len(out["value"]) < runs:
        t0 = time.perf_counter()
        for r in range(len(out["value"]), min(runs, len(out["value"]) + CHUNK)):
            rec = cal.one_run(real, cal.generated(d, n, shift, fresh_seed(d, n, ref, shift, r)), r, shared, (metric,))
            cal.add_run(out, rec[metric])
        atomic_write_text(path, json.dumps(out))
        print(f"{metric} {name}: {len(out['value'])}/{runs} ({time.perf_counter() - t0:.0f} s)", flush=True)


def _rows(path: Path) -> list[str]:
    metric, name = path.name.split(".")[:2]
    data = json.loads(path.read_text())
    s = cal.summarise(cal.empty_metric() | data)
    out = []
    for c in cal.LEVELS:
        row = s["levels"][str(c)]
        held = " / ".join(cal.holds(row[side], row["se"], c, s["runs"]) for side in ("low_miss", "high_miss"))
        out.append(f"| {metric} | {name} | {s['runs']} | {s['truth']:.5g} | {s['sd']:.3g} | {c} | "
                   f"{row['low_miss']:.4f} | {row['high_miss']:.4f} | {row['se']:.4f} | {held} |")
    return out


def write_table() -> None:
    head = ["| metric | cell | runs | truth | sd | c | lower miss | upper miss | SE | holds (lower/upper) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    lines = ["# Calibration cells rechecked on fresh seeds", "",
             "Written by `python benchmarks/fresh_seeds.py` (see its docstring). Each row: one metric in one",
             "cell of `CALIBRATION.md`, on generated sets with seeds disjoint from the calibration's; the truth is",
             "these runs' mean. Miss rates per side (lower / upper), SE = sqrt(c (1 - c) / runs), and whether each",
             "side holds (miss <= 1 - c + 2 SE), by calibration's rule.", "", *head]
    for path in sorted(RAW.glob("*.json")):
        lines += _rows(path)
    old = sorted((RAW / "superseded").glob("*.json"))
    if old:
        lines += ["", "## Superseded checks", "",
                  "The same checks on code since changed (same seeds), kept as the record of what the change fixed.", ""]
        for path in old:
            lines += [f"- `{path.name}`: {json.loads(path.read_text()).get('superseded', 'code since changed')}"]
        lines += ["", *head]
        for path in old:
            lines += _rows(path)
    atomic_write_text(TABLE, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("metric", nargs="?", choices=cal.METRICS)
    ap.add_argument("cell", nargs="?", help="a calibration cell's name, e.g. d128-n500-ref5000-small")
    ap.add_argument("--runs", type=int, default=4000, help="fresh generated sets [4000]")
    ap.add_argument("--table", action="store_true", help="only rewrite fresh_seeds.md from the saved runs")
    args = ap.parse_args()
    RAW.mkdir(exist_ok=True)
    if not args.table:
        if not (args.metric and args.cell):
            ap.error("name a metric and a cell, or pass --table")
        check(args.metric, args.cell, args.runs)
    write_table()
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
