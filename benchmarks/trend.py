"""Simulate the change-point test: false-flag rate per page on same-model histories, power at a drift at run 20.

A page: 30 runs, one rate (Binomial(500, 0.9)) and one metric (normal estimates, SE 1, 95% one-sided
bounds at +-1.645 SE). Drift: the rate drops by 0.05 from run 20, or the metric shifts by 3 SE.
Usage: python benchmarks/trend.py [PAGES]"""

import sys

import numpy as np

from evalkit.judge import trend


def page(rng, drift_rate=0.0, drift_metric=0.0, b=499):
    p = np.where(np.arange(30) >= 20, 0.9 - drift_rate, 0.9)
    k = rng.binomial(500, p)
    y = rng.normal(10, 1, 30) + np.where(np.arange(30) >= 20, drift_metric, 0.0)
    tests = [trend.change_in_rates(k, [500] * 30, permutations=b),
             trend.change_in_metric(y, y - 1.645, y + 1.645, [0.95] * 30, permutations=b)]
    return trend.adjust_page(tests, 0.95)


def main(pages: int) -> None:
    rng = np.random.default_rng(2026)
    null = np.mean([any(t.flagged for t in page(rng)) for _ in range(pages)])
    rate = [page(rng, drift_rate=0.05)[0] for _ in range(pages)]
    metric = [page(rng, drift_metric=3.0)[1] for _ in range(pages)]
    print(f"| pages | false-flag rate per page | power, rate -0.05 at run 20 | split found = 20 | "
          f"power, metric +3 SE at run 20 | split found = 20 |\n|---|---|---|---|---|---|\n"
          f"| {pages} | {null:.3f} | {np.mean([t.flagged for t in rate]):.3f} | "
          f"{np.mean([t.flagged and t.split == 20 for t in rate]):.3f} | {np.mean([t.flagged for t in metric]):.3f} | "
          f"{np.mean([t.flagged and t.split == 20 for t in metric]):.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
