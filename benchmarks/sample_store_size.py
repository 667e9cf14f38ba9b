"""Size of a subject's sample record (the sample store beside each report) against n.

The record is uncompressed safetensors, so its size depends on the shapes only: n
samples, R rate requirements, M measurements, d-dimensional features, the grid and the
failing thumbnails. This builds records through the same code a run uses
(``SampleLog.observe`` per batch, ``sample_record``, ``write_records``) with the bundled
audit's shapes (specs/fashion-zoo.yaml: 6 rate requirements, measurements ink, predicted
and confidence, 128-d fashion-classifier features, 10 classes, 28x28 grey images, 8
failing examples kept per requirement) and reports the file size.

    python benchmarks/sample_store_size.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit.records.samples import SampleLog, sample_record, samples_path, write_records  # noqa: E402


class _Obs:
    def __init__(self, idx, labels, images):
        self.indices, self.labels, self.images, self.classifier_fn = idx, labels, images, None


def record_bytes(n: int, *, requirements: int = 6, measurements=("ink", "predicted", "confidence"), dim: int = 128,
                 classes: int = 10, shape=(1, 28, 28), keep: int = 8, batch: int = 500) -> int:
    g = torch.Generator().manual_seed(0)
    log = SampleLog([f"r{i}" for i in range(requirements)], [], keep)
    for start in range(0, n, batch):
        idx = torch.arange(start, min(n, start + batch))
        images = torch.rand(len(idx), *shape, generator=g)
        outcomes = [(torch.rand(len(idx), generator=g) > 0.05, torch.zeros(len(idx), dtype=torch.bool))
                    for _ in range(requirements)]
        log.observe(_Obs(idx, idx % classes, images), outcomes)
        for m in measurements:  # what observe() records for each measurement the spec reads
            log.measured.setdefault(m, []).append(torch.rand(len(idx), generator=g))
    feats = (torch.randn(n, dim, generator=g).double(), torch.arange(n))
    with tempfile.TemporaryDirectory() as tmp:
        write_records(tmp, {"s": sample_record("s", log, feats, "fashion-classifier")})
        return samples_path(tmp, "s").stat().st_size


def main() -> None:
    print("| n | record size | per sample |")
    print("|---|---|---|")
    for n in (1000, 10000, 50000):
        b = record_bytes(n)
        print(f"| {n} | {b / 1e6:.2f} MB | {b / n:.0f} B |")
    b = record_bytes(10000, dim=2048)
    print(f"| 10000 (2048-d features, e.g. Inception) | {b / 1e6:.2f} MB | {b / 10000:.0f} B |")


if __name__ == "__main__":
    main()
