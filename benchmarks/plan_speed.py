"""Wall time of `evalkit plan` on the specs that did not finish (issue 23), one process each.

    python benchmarks/plan_speed.py [--timeout 120] [--only NAME ...] [--tree PATH]

Each spec is written to a temporary folder and ``python -m evalkit plan`` is run on it
in a fresh process (imports included, as a user would run it), with a wall-clock limit.
``--tree`` runs the command against another checkout (``PYTHONPATH=PATH``), which is how
the "before" column was measured (a worktree of the commit before the rewrite).
The printed Markdown rows are pasted into benchmarks/plan_speed.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = """\
version: 1
name: {name}
features: pixels
classifier: null
subjects:
  - model: dataset
"""

RATE = "  - {{name: r{i}, check: in_range, at_least: {t}{extra}}}\n"


def _spec(name: str, sampling: str, reqs: str, head: str = HEAD) -> str:
    return head.format(name=name) + f"sampling: {sampling}\nrequirements:\n" + reqs


def _many_where(count: int, distinct: bool) -> str:
    out = []
    for i in range(count):
        t = round(0.5 + 0.45 * i / count, 4) if distinct else 0.9
        out.append(f"  - {{name: w{i}, where: \"ink > 0.05\", at_least: {t}}}\n")
    return "".join(out)


METRIC_HEAD = HEAD.replace("features: pixels", "reference: {{dataset: fashion-mnist, split: test, range: [0, 400]}}\n"
                           "features: pixels").replace("  - model: dataset\n", "  - model: dataset\n"
                                                       "    params: {{range: [5000, 6000]}}\n")

SPECS = {
    # sequential, a look after every sample
    "seq-b1-n1000": _spec("s", "{n: 1000, batch_size: 1, sequential: true}", RATE.format(i=0, t=0.9, extra="")),
    "seq-b1-n100000": _spec("s", "{n: 100000, batch_size: 1, sequential: true}", RATE.format(i=0, t=0.9, extra="")),
    "seq-b1-n100000-t0.5": _spec("s", "{n: 100000, batch_size: 1, sequential: true}",
                                 RATE.format(i=0, t=0.5, extra="")),
    "seq-b50-n100": _spec("s", "{n: 100, batch_size: 50, sequential: true}", RATE.format(i=0, t=0.9, extra="")),
    "fixed-b50-n100": _spec("s", "{n: 100, batch_size: 50}", RATE.format(i=0, t=0.9, extra="")),
    # 1,000 where: requirements, the same target, then 1,000 different targets
    "where-1000-same": _spec("w", "{n: 1000, batch_size: 100}", _many_where(1000, False)),
    "where-1000-distinct": _spec("w", "{n: 1000, batch_size: 100}", _many_where(1000, True)),
    "seq-where-1000-same": _spec("w", "{n: 1000, batch_size: 10, sequential: true}", _many_where(1000, False)),
    # per class (the replay has the 10 Fashion-MNIST classes)
    "per-class-n1000": _spec("p", "{n: 1000, batch_size: 100}", RATE.format(i=0, t=0.9, extra=", per_class: true")),
    "seq-per-class-b1-n1000": _spec("p", "{n: 1000, batch_size: 1, sequential: true}",
                                    RATE.format(i=0, t=0.9, extra=", per_class: true")),
    "seq-per-class-b1-n100000": _spec("p", "{n: 100000, batch_size: 1, sequential: true}",
                                      RATE.format(i=0, t=0.9, extra=", per_class: true")),
    # a metric bound tried on held-out real data
    "metric-precision-n100": _spec("m", "{n: 100, batch_size: 50}",
                                   "  - {name: m, metric: precision, at_least: 0.05}\n", head=METRIC_HEAD),
}


def run_one(name: str, text: str, timeout: float, tree: Path) -> tuple[str, float, int | None, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text)
        env = dict(os.environ, PYTHONPATH=str(tree))
        t0 = time.perf_counter()
        try:
            res = subprocess.run([sys.executable, "-m", "evalkit", "plan", str(path)], capture_output=True, text=True,
                                 timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return name, time.perf_counter() - t0, None, ""
        return name, time.perf_counter() - t0, res.returncode, res.stdout + res.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--show", action="store_true", help="print each command's output")
    args = ap.parse_args()
    sys.stdout.write("| spec | wall s | exit |\n|---|---:|---|\n")
    for name, text in SPECS.items():
        if args.only and name not in args.only:
            continue
        name, wall, rc, out = run_one(name, text, args.timeout, args.tree)
        shown = f"{wall:.1f}" if rc is not None else f"> {args.timeout:.0f} (killed)"
        sys.stdout.write(f"| {name} | {shown} | {rc if rc is not None else '-'} |\n")
        sys.stdout.flush()
        if args.show and out:
            sys.stdout.write(out + "\n")


if __name__ == "__main__":
    main()
