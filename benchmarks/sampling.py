"""Samples per second of the bundled zoo, per model and DDIM steps, on this machine.

    python benchmarks/sampling.py [--device auto] [--n 500] [--batch 250]

Prints a table; on a GPU it also synchronises before reading the clock.
"""

from __future__ import annotations

import argparse
import time

import torch

from evalkit import registry
from evalkit.runner import pick_device


def rate(gen, n: int, batch: int, device: torch.device) -> float:
    labels = torch.arange(batch, device=device) % 10
    gen.sample(min(batch, 20), labels=labels[: min(batch, 20)], generator=torch.Generator(device=device).manual_seed(0))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = 0
    while done < n:
        b = min(batch, n - done)
        gen.sample(b, labels=labels[:b], generator=torch.Generator(device=device).manual_seed(done))
        done += b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--batch", type=int, default=250)
    args = ap.parse_args()
    device = pick_device(args.device)
    registry.load_plugins()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {name}; n = {args.n}, batch = {args.batch}")
    print(f"{'model':<16} {'setting':<24} {'samples/s':>10}")
    rows = [("fashion-dcgan", {}), ("fashion-vae", {})]
    rows += [("fashion-ddpm", {"steps": s, "guidance": 2.0}) for s in (10, 25, 50)]
    rows += [("fashion-ddpm", {"steps": 25, "guidance": 1.0})]
    for model, params in rows:
        gen = registry.generators.get(model).obj(device=device, **params)
        setting = ", ".join(f"{k}={v}" for k, v in params.items()) or "-"
        print(f"{model:<16} {setting:<24} {rate(gen, args.n, args.batch, device):>10.1f}", flush=True)


if __name__ == "__main__":
    main()
