"""What journaling costs: a run with its journal against the same run without one.

    python benchmarks/journal.py [--spec specs/ci-smoke.yaml] [--n 1000] [--repeats 3]

Both runs draw the same samples (same spec, seed, device); the only difference is the
journal (one record per completed batch, the final record per subject). Prints the median
wall time of each, their ratio, and the journal's size on disk against the report's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from evalkit.runner import execute
from evalkit.spec.load import load_spec


def timed(spec, n: int, out: Path | None) -> float:
    t0 = time.perf_counter()
    execute(spec, device="cpu", n=n, out=out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="specs/ci-smoke.yaml")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    spec = load_spec(args.spec)
    timed(spec, min(args.n, 100), None)  # warm the feature cache and the extractors' weights
    plain, journaled = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeats):  # interleaved, so drift in the machine's load hits both alike
            plain.append(timed(spec, args.n, None))
            journaled.append(timed(spec, args.n, Path(d) / f"r{i}"))
        size = sum(f.stat().st_size for f in (Path(d) / "r0" / "journal").rglob("*") if f.is_file())
        files = sum(1 for f in (Path(d) / "r0" / "journal").rglob("*") if f.is_file())
    a, b = statistics.median(plain), statistics.median(journaled)
    print(f"spec {args.spec}, n={args.n}, {args.repeats} repeats (median)")
    print(f"  without journal  {a:8.2f} s")
    print(f"  with journal     {b:8.2f} s   ratio {b / a:.3f}")
    print(f"  journal: {files} files, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
