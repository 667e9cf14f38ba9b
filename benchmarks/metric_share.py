"""The metric phase's share of an audit-sized run, in CPU seconds.

    python benchmarks/metric_share.py [--out DIR]

Runs the bundled audit's spec without its diffusion subject (the real-images replay,
the DCGAN and the VAE: n = 1,000 each against a reference of 5,000 Fashion-MNIST test
images in the fashion-classifier's 128-d features, the zoo's requirements) through the
CLI under cProfile with a CPU clock, twice (the first fills the feature cache, the
second is measured), and prints the CPU seconds of the runner's metric phase
(``runner.judge.judge_metrics``) against the whole run, with the biggest parts of
the metric phase. CPU time, because the machine these numbers come from is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PARTS = ("runner/judge.py:judge_metrics", "metrics/functional.py:pairwise", "metrics/functional.py:real_self_pass",
         "metrics/functional.py:kid_skew_terms", "metrics/functional.py:ball_overlaps",
         "metrics/functional.py:clumped_variance", "metrics/functional.py:recall_deletions",
         "metrics/_dense.py:frechet_influence", "metrics/_dense.py:vendi_influence")


def spec_text() -> str:
    zoo = (HERE.parent / "specs" / "fashion-zoo.yaml").read_text()
    keep = []
    skip = False
    for line in zoo.splitlines():
        if line.strip().startswith("- model: fashion-ddpm"):
            skip = True
            continue
        if skip and line.startswith("    "):  # the ddpm subject's params
            continue
        skip = False
        keep.append(line.replace("formats: [json, markdown, junit, html]", "formats: [json]"))
    return "\n".join(keep) + "\n"


def profiled_run(spec: Path, out: Path) -> tuple[float, dict[str, float]]:
    from evalkit.cli import main

    prof = cProfile.Profile(time.process_time)
    c0 = time.process_time()
    prof.enable()
    try:
        main(["run", str(spec), "--out", str(out), "--quiet", "--overwrite"])
    except SystemExit:
        pass
    prof.disable()
    total = time.process_time() - c0
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    cum = {}
    for (path, _, fn), row in stats.items():
        if "/evalkit/" in path:
            key = f"{path.split('/evalkit/')[-1]}:{fn}"
            cum[key] = max(cum.get(key, 0.0), row[3])
    return total, cum


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evalkit-share-"))
    spec = work / "spec.yaml"
    spec.write_text(spec_text())
    out = args.out or work / "out"
    profiled_run(spec, out)  # fills the feature cache
    total, cum = profiled_run(spec, out)
    for part in PARTS:
        print(f"{part:<42} {cum.get(part, 0.0):8.2f} s CPU")
    phase = cum.get(PARTS[0], 0.0)
    print(f"SHARE: metric phase {phase:.2f} s of a {total:.2f} s CPU run = {phase / total:.1%} "
          f"(3 subjects, n = 1000, reference 5000, d = 128)")


if __name__ == "__main__":
    main()
