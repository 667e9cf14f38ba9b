"""Anytime-valid rate bounds: their width, their time-uniform coverage, and users who top up.

Writes benchmarks/ANYTIME.md. Through the public API: ``evalkit.judge.anytime`` (the bounds),
``evalkit.judge.stats.decide_rate`` (the verdict rule, fixed-n or anytime) and ``evalkit.run``
(real top-ups of the zoo's fashion-vae with ``--resume``/``--n``).

    PYTHONPATH=$PWD python benchmarks/anytime.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import special, stats as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalkit.judge import anytime, stats  # noqa: E402

LOOKS = [200, 400, 800, 1600, 3200, 6400]


def width_table(confidence: float = 0.95) -> list[str]:
    rows = ["| n | observed rate | CS lower | CP lower | CS distance / CP distance |", "|---|---|---|---|---|"]
    for rate in (0.5, 0.9, 0.99):
        for n in (50, 200, 1000, 2000, 5000, 10_000):
            k = round(rate * n)
            cs = anytime.cs_lower(k, n, confidence)
            cp = float(sps.beta.ppf(1 - confidence, k, n - k + 1))
            rows.append(f"| {n} | {k / n:.3f} | {cs:.4f} | {cp:.4f} | {(k / n - cs) / (k / n - cp):.2f} |")
    return rows


def smallest_k(rule, n: int) -> int:
    """The smallest pass count k in 0..n with rule(k) (n + 1 when none); rule is monotone in k."""
    lo, hi = 0, n + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if rule(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def crossing(rate: float, confidence: float, n_max: int, paths: int, seed: int) -> tuple[float, float]:
    """Share of Bernoulli(rate) paths whose lower bound ever exceeds the rate by n_max (CS, CP at every n)."""
    alpha = 1 - confidence
    ns = np.arange(1, n_max + 1)
    thr = math.log(1 / alpha)
    lo, hi = np.zeros(n_max, dtype=np.int64), ns + 1
    while np.any(lo < hi):  # per n, the smallest k whose CS lower bound exceeds the rate (bisection for all n)
        mid = (lo + hi) // 2
        yes = anytime.log_evidence(np.minimum(mid, ns), ns, rate) >= thr
        lo, hi = np.where(yes | (lo >= hi), lo, mid + 1), np.where(yes & (lo < hi), mid, hi)
    cs_min = hi
    kk = np.arange(n_max + 1)
    cp_min = np.array([int(np.argmax(np.where(kk[: n + 1] > 0, special.betaincinv(np.maximum(kk[: n + 1], 1),
                                              n - kk[: n + 1] + 1, alpha), 0.0) > rate)) or n + 1 for n in ns])
    rng = np.random.default_rng(seed)
    cs_hits = cp_hits = 0
    for start in range(0, paths, 500):
        counts = np.cumsum(rng.random((min(500, paths - start), n_max)) < rate, axis=1)
        cs_hits += int((counts >= cs_min).any(axis=1).sum())
        cp_hits += int((counts >= cp_min).any(axis=1).sum())
    return cs_hits / paths, cp_hits / paths


def coverage_table(paths: int, n_max: int) -> list[str]:
    rows = [f"| true rate | confidence | CS ever above the rate (n <= {n_max}) | CP ever above | alpha |",
            "|---|---|---|---|---|"]
    for rate in (0.5, 0.9, 0.99):
        for conf in (0.9, 0.95):
            cs, cp = crossing(rate, conf, n_max, paths, seed=int(rate * 1000) + int(conf * 100))
            rows.append(f"| {rate} | {conf} | {cs:.4f} | {cp:.4f} | {1 - conf:.2f} |")
    return rows


def thresholds(target: float, confidence: float, anytime_rule: bool) -> list[tuple[int, int]]:
    """Per look n: (smallest k that says PASS, largest k that says FAIL), from the verdict rule itself."""
    out = []
    for n in LOOKS:
        k_pass = smallest_k(lambda k: stats.decide_rate(k, n, target, confidence, anytime=anytime_rule) == "PASS", n)
        k_fail = smallest_k(lambda k: stats.decide_rate(k, n, target, confidence, anytime=anytime_rule) != "FAIL", n) - 1
        out.append((k_pass, k_fail))
    return out


def top_up_users(rate: float, target: float, confidence: float, anytime_rule: bool, paths: int, seed: int,
                 looks: int) -> tuple[float, float, float]:
    """Users who look at n = 200 and top up to the next n whenever INCONCLUSIVE, up to ``looks`` looks:
    (share that ever say PASS, share that say FAIL, mean n at the end)."""
    rng = np.random.default_rng(seed)
    ns = LOOKS[:looks]
    steps = np.diff([0, *ns])
    counts = np.cumsum(rng.binomial(steps, rate, size=(paths, len(ns))), axis=1)
    limits = thresholds(target, confidence, anytime_rule)[:looks]
    undecided = np.ones(paths, dtype=bool)
    said_pass = np.zeros(paths, dtype=bool)
    said_fail = np.zeros(paths, dtype=bool)
    final_n = np.full(paths, ns[-1])
    for i, (k_pass, k_fail) in enumerate(limits):
        p, f = undecided & (counts[:, i] >= k_pass), undecided & (counts[:, i] <= k_fail)
        said_pass |= p
        said_fail |= f
        final_n[p | f] = ns[i]
        undecided &= ~(p | f)
    return float(said_pass.mean()), float(said_fail.mean()), float(final_n.mean())


def top_up_table(paths: int) -> list[str]:
    rows = ["| target | true rate | confidence | rule | PASS (ever) | FAIL (ever) | mean final n |",
            "|---|---|---|---|---|---|---|"]
    for target, rates in ((0.9, (0.895, 0.899, 0.9, 0.92)), (0.5, (0.49, 0.499, 0.5, 0.53))):
        for conf in (0.9, 0.95):
            for rate in rates:
                for rule in (True, False):
                    ps, fs, mean_n = top_up_users(rate, target, conf, rule, paths, seed=7, looks=6)
                    name = "anytime (CS)" if rule else "fixed-n (CP)"
                    rows.append(f"| {target} | {rate} | {conf} | {name} | {ps:.4f} | {fs:.4f} | {mean_n:.0f} |")
    return rows


VAE_SPEC = """\
version: 1
name: topup-bench
reference: {{dataset: fashion-mnist, split: test, range: [0, 400]}}
features: pixels
classifier: null
subjects:
  - model: fashion-vae
sampling: {{n: 100, batch_size: 100, seed: {seed}, anytime: true}}
requirements:
  - {{name: inky, where: "ink > 0.4", at_least: {target}}}
"""


def real_top_ups() -> list[str]:
    """Real runs: start at n = 100, top up (x2) through evalkit.run(resume=...) while INCONCLUSIVE, 5 times at most."""
    import evalkit

    rows = ["| seed | target | n looked at | verdicts | final lower bound | seconds |", "|---|---|---|---|---|---|"]
    for seed, target in ((1, 0.5), (2, 0.52), (3, 0.6)):
        with tempfile.TemporaryDirectory() as d:
            spec = Path(d) / "spec.yaml"
            spec.write_text(VAE_SPEC.format(seed=seed, target=target))
            out = Path(d) / "out"
            t0 = time.monotonic()
            report = evalkit.run(spec, out=out)
            seen = []
            for i in range(6):
                r = report.subjects[0].requirements[0]
                seen.append((r.n, r.verdict))
                if r.verdict != "INCONCLUSIVE" or i == 5:
                    break
                report = evalkit.run(spec, resume=out, n=100 * 2 ** (i + 1))
            rows.append(f"| {seed} | {target} | {', '.join(str(n) for n, _ in seen)} | "
                        f"{', '.join(v for _, v in seen)} | {r.lower:.4f} | {time.monotonic() - t0:.1f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer paths (a check that it runs)")
    args = ap.parse_args()
    paths, cov_paths, n_max = (2000, 500, 1000) if args.quick else (20_000, 4000, 5000)
    t0 = time.monotonic()
    parts = {
        "width": width_table(),
        "coverage": coverage_table(cov_paths, n_max),
        "topup": top_up_table(paths),
        "real": real_top_ups(),
    }
    print("\n\n".join("\n".join(v) for v in parts.values()))
    print(f"\n{time.monotonic() - t0:.0f} s; paths: {paths} (top-up), {cov_paths} (coverage, to n = {n_max})")


if __name__ == "__main__":
    main()
