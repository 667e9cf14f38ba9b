"""Start-up time of the commands that only read specs: `--version`, `schema`, `validate`.

Each command runs in a fresh interpreter (as a user's shell runs it), from one or
more source trees given on the command line, interleaved round by round so that
the machine's load hits every tree alike; the table gives the median wall time and
whether torch was imported. Compare trees of the same run only.

    python benchmarks/startup.py --tree before=/tmp/evalkit-before --tree after=. --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "--version": ["--version"],
    "schema": ["schema"],
    "validate": ["validate", "specs/fashion-zoo.yaml"],
}

PROBE = """
import sys, runpy, io, contextlib
sys.argv = ["evalkit", *{args!r}]
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        runpy.run_module("evalkit", run_name="__main__")
except SystemExit:
    pass
print("torch" in sys.modules)
"""


def once(tree: Path, args: list[str]) -> tuple[float, bool]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=tree, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{tree}: evalkit {' '.join(args)} failed:\n{res.stderr}")
    return elapsed, res.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a source tree to time")
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    trees = {name: Path(path).resolve() for name, _, path in (t.partition("=") for t in a.tree)}
    times: dict[tuple[str, str], list[float]] = {}
    torch_seen: dict[tuple[str, str], bool] = {}
    for _ in range(a.rounds):
        for cmd, args in COMMANDS.items():
            for name, tree in trees.items():
                t, imported = once(tree, args)
                times.setdefault((cmd, name), []).append(t)
                torch_seen[(cmd, name)] = imported
    names = list(trees)
    print("| command | " + " | ".join(f"{n} (s)" for n in names) + " | " + " | ".join(f"torch in {n}" for n in names) + " |")
    print("|---|" + "---|" * (2 * len(names)))
    for cmd in COMMANDS:
        med = [statistics.median(times[(cmd, n)]) for n in names]
        print(f"| `evalkit {' '.join(COMMANDS[cmd])}` | " + " | ".join(f"{m:.3f}" for m in med) + " | "
              + " | ".join("yes" if torch_seen[(cmd, n)] else "no" for n in names) + " |")
    if len(names) == 2:
        for cmd in COMMANDS:
            a_, b_ = (statistics.median(times[(cmd, n)]) for n in names)
            print(f"\n`{cmd}`: {names[1]} takes {b_ / a_:.2f} of {names[0]}'s time", end="")
        print()


if __name__ == "__main__":
    main()
