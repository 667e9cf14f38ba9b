"""CPU seconds of the bundled classifier's forward pass per 1,000 images, direct (one call per
observation batch) and in fixed-row calls (``evalkit.observe.features.in_fixed_rows``, which makes
``sampling.batch_size`` change no number in the report), on one thread.

    python benchmarks/fixed_rows.py

Prints a Markdown table (pasted into benchmarks/fixed_rows.md): rows per call down, the
observation batch size across; each cell the best of three."""

from __future__ import annotations

import time

import torch

import evalkit.observe.features as F
from evalkit import registry

BATCHES = (1, 10, 250)


def _seconds(fn) -> float:
    best = float("inf")
    for _ in range(3):
        s = time.process_time()
        fn()
        best = min(best, time.process_time() - s)
    return best


def main() -> None:
    torch.set_num_threads(1)
    net = registry.features.get("fashion-classifier").obj((1, 28, 28), torch.device("cpu"))
    x = torch.rand(1000, 1, 28, 28)

    def per_thousand(call, b: int) -> float:
        total = 200 if b == 1 else 1000  # batch 1 on a fifth of the images, scaled
        return _seconds(lambda: [call(x[i:i + b]) for i in range(0, total, b)]) * 1000 / total

    print("| rows per call | " + " | ".join(f"batch {b}" for b in BATCHES) + " |")
    print("|---|" + "---:|" * len(BATCHES))
    print("| direct | " + " | ".join(f"{per_thousand(net.features_and_logits, b):.2f}" for b in BATCHES) + " |")
    original = F.net_rows
    for rows in (8, 16, 32, 64):
        F.net_rows = lambda device, r=rows: r
        cells = [per_thousand(lambda t: F.in_fixed_rows(net.features_and_logits, t), b) for b in BATCHES]
        print(f"| {rows} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    F.net_rows = original


if __name__ == "__main__":
    main()
