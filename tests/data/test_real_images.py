"""The bundled audit's ideal row: its intervals cover the truth (seeds 0-19, at most 3 misses per metric).

The truth of each metric is its mean over the replay seeds in
``benchmarks/real_images_truth.json`` (written by ``python benchmarks/real_images.py``);
KID's is also 0 (two halves of one test split). Slow: it computes the whole metric
suite at n = 1,000 for 20 seeds.
"""

import json
from pathlib import Path

import pytest

TRUTH = Path(__file__).parents[2] / "benchmarks" / "real_images_truth.json"


@pytest.mark.skipif(not TRUTH.is_file(), reason="run `python benchmarks/real_images.py` to write the truth first")
def test_real_images_intervals_cover_the_truth():
    import sys

    sys.path.insert(0, str(TRUTH.parent))
    import real_images as bench

    truth = json.loads(TRUTH.read_text())
    real, replay, pool = bench.setting()
    shared: dict = {}
    misses = {m: 0 for m in bench.METRICS}
    kid_zero = 0
    for seed in range(20):
        row = bench.run_seed(seed, truth["n"], real, replay, pool, shared)
        for m, (_, low, high) in row.items():
            misses[m] += not low <= truth["means"][m] <= high
        kid_zero += not row["kid"][1] <= 0 <= row["kid"][2]
    assert kid_zero <= 3, f"KID's interval misses 0 in {kid_zero} of 20 seeds"
    assert all(v <= 3 for v in misses.values()), f"misses of the 20 seeds per metric: {misses}"
