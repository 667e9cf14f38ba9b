"""The spec-language property test's longer profile (issue 23): more drawn specs, other seeds.

    python benchmarks/spec_language.py [--examples 60] [--seeds 1 2 3] [--out benchmarks/spec_language.md]

Each seed runs ``tests/test_spec_language.py::test_every_drawn_valid_spec_runs`` in its own
pytest process with ``EVALKIT_SPEC_EXAMPLES`` drawn specs and ``EVALKIT_SPEC_SEED``; every
drawn spec appends its seconds and outline to a log (``EVALKIT_SPEC_LOG``). The table
written to ``--out`` counts specs, failures, and seconds per spec by world, subject kind,
requirement kind and format, so the CI budget (25 examples at the fixed seed) can be set
from what a spec costs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_spec_language.py::test_every_drawn_valid_spec_runs"


def run_seed(seed: int, examples: int, log: Path) -> tuple[int, float, str]:
    env = dict(os.environ, EVALKIT_SPEC_EXAMPLES=str(examples), EVALKIT_SPEC_SEED=str(seed), EVALKIT_SPEC_LOG=str(log))
    started = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    tail = (res.stdout + res.stderr).strip().splitlines()
    return res.returncode, time.perf_counter() - started, tail[-1] if tail else ""


def _kind(subject: str) -> str:
    if subject.endswith(".npz"):
        return "npz"
    if ":" in subject:
        return "user generator"
    if subject in ("dataset",) or subject.startswith("fashion-"):
        return subject
    return "folder"


def table(rows: list[dict]) -> list[str]:
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for r in rows:
        o, s = r["outline"], r["seconds"]
        keys = {f"world {o['world']}"} | {f"subject {_kind(x)}" for x in o["subjects"]}
        keys |= {f"requirement {x}" for x in o["requirements"]} | {f"format {x}" for x in o["formats"]}
        keys |= {"sequential" if o["sequential"] else "fixed n", "with --baseline" if o["baseline"] else "no baseline"}
        for k in keys:
            groups[k].append(s)
    out = ["| specs that use | count | median s | max s |", "|---|---:|---:|---:|"]
    for k in sorted(groups):
        v = groups[k]
        out.append(f"| {k} | {len(v)} | {statistics.median(v):.1f} | {max(v):.1f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "spec_language.md")
    args = ap.parse_args()
    runs, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            log = Path(tmp) / f"seed-{seed}.jsonl"
            code, seconds, last = run_seed(seed, args.examples, log)
            found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
            rows += found
            runs.append(f"| {seed} | {len(found)} | {'pass' if code == 0 else f'FAIL (exit {code})'} | {seconds:.0f} | {last} |")
    total = [r["seconds"] for r in rows]
    lines = [
        "# The spec language, longer profile", "",
        f"`python benchmarks/spec_language.py --examples {args.examples} --seeds {' '.join(map(str, args.seeds))}` "
        f"on {os.cpu_count()} cores. Each seed is one pytest run of `{TEST}` (hypothesis stops at the first failure "
        "and shrinks it, so a failing seed shows fewer specs and the shrunk example in its last line).", "",
        "| seed | specs run (incl. shrinking) | result | seconds | pytest's last line |", "|---:|---:|---|---:|---|",
        *runs, "",
    ]
    if total:
        lines += [f"{len(total)} specs, median {statistics.median(total):.1f} s, max {max(total):.1f} s, "
                  f"total {sum(total):.0f} s (each spec runs twice, at two batch sizes).", "", *table(rows), ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if all("pass" in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
