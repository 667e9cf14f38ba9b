"""How good an embedding is each bundled feature space? The numbers of models/fashion-encoder.md.

    OMP_NUM_THREADS=1 nice python benchmarks/encoder_embedding.py [--n 2000] [--gallery 20000]

For ``fashion-encoder`` (label-free) and, beside it, ``fashion-classifier`` (trained on the
labels): 5-NN accuracy of the 10,000 test images against the first ``--gallery`` training
images (brute force, float64 distances), and FID (evalkit's ``metrics.functional.fid``)
against the reference of ``specs/fashion-zoo.yaml`` (test images 0-4999) of sets of the
same size ``--n``: held-out test images (5000..), each zoo model's samples (uniform labels,
seed 0, the zoo spec's parameters) and the held-out images with their pixels shuffled
(one fixed permutation: the same pixel values, no shapes). Writes
``benchmarks/encoder_embedding.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from evalkit import registry
from evalkit._io import atomic_write_text
from evalkit.data import fashion
from evalkit.metrics.functional import fid
from evalkit.observe.features import in_fixed_rows, make_extractor

HERE = Path(__file__).parent
SPACES = ["fashion-encoder", "fashion-classifier"]
ZOO = {"fashion-dcgan": {}, "fashion-vae": {}, "fashion-ddpm": {"steps": 25, "guidance": 2.0}}
CPU = torch.device("cpu")


def images(split: str, start: int, stop: int) -> tuple[torch.Tensor, np.ndarray]:
    x, y = fashion.load(split)
    return torch.from_numpy(x[start:stop].copy()).float().div(255).unsqueeze(1), y[start:stop].astype(np.int64)


def knn_accuracy(q: np.ndarray, qy: np.ndarray, g: np.ndarray, gy: np.ndarray, k: int = 5) -> float:
    hits = 0
    g2 = (g ** 2).sum(1)
    for s in range(0, len(q), 500):
        d2 = g2[None] - 2 * q[s:s + 500] @ g.T  # + |q|^2, the same for every candidate of a row
        nearest = np.argpartition(d2, k, axis=1)[:, :k]
        votes = np.stack([np.bincount(row, minlength=10) for row in gy[nearest]])
        hits += int((votes.argmax(1) == qy[s:s + 500]).sum())
    return hits / len(q)


def samples(name: str, n: int) -> torch.Tensor:
    gen = registry.generators.get(name).obj(device=CPU, **ZOO[name])
    labels = torch.arange(n) % 10
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return torch.cat([gen.sample(len(labels[s:s + 250]), labels=labels[s:s + 250], generator=g)
                          for s in range(0, n, 250)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--gallery", type=int, default=20000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    registry.load_plugins()
    t0 = time.monotonic()
    ref, _ = images("test", 0, 5000)
    held, _ = images("test", 5000, 5000 + args.n)
    perm = torch.from_numpy(np.random.default_rng(0).permutation(784))
    sets = {"test 5000.. (held out)": held,
            **{name: samples(name, args.n) for name in ZOO},
            "held out, pixels shuffled": held.flatten(1)[:, perm].view(-1, 1, 28, 28)}
    test, ty = images("test", 0, 10000)
    train, gy = images("train", 0, args.gallery)
    rows = {}
    for space in SPACES:
        ex = make_extractor(space, (1, 28, 28), CPU)
        feats = lambda x: in_fixed_rows(ex.features, x).double()  # noqa: E731
        real = feats(ref)
        knn = knn_accuracy(feats(test).numpy(), ty, feats(train).numpy(), gy)
        rows[space] = {"dim": ex.dim, "knn5": knn, "fid": {k: fid(real, feats(v)) for k, v in sets.items()}}
    seconds = time.monotonic() - t0
    out = ["# The bundled feature spaces as embeddings", "",
           f"`python benchmarks/encoder_embedding.py --n {args.n} --gallery {args.gallery}` "
           f"({seconds / 60:.1f} min, 1 thread). 5-NN accuracy: the 10,000 test images against the first "
           f"{args.gallery:,} training images. FID against test images 0-4999, each set n = {args.n}.", "",
           "| | " + " | ".join(f"`{s}` (d = {rows[s]['dim']})" for s in SPACES) + " |",
           "|---|" + "---|" * len(SPACES),
           "| 5-NN accuracy | " + " | ".join(f"{rows[s]['knn5']:.4f}" for s in SPACES) + " |"]
    for k in sets:
        out.append(f"| FID: {k} | " + " | ".join(f"{rows[s]['fid'][k]:.2f}" for s in SPACES) + " |")
    atomic_write_text(HERE / "encoder_embedding.md", "\n".join(out) + "\n")
    atomic_write_text(HERE / "encoder_embedding.json", json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
