"""Speed, memory and agreement of evalkit's metrics against peer libraries, in one run.

    python benchmarks/metrics.py [--n 10000] [--d 2048] [--big-n 50000]

Each (library, metric) runs in a fresh subprocess on the same features, so its
peak resident memory (VmHWM after the call minus VmRSS before it, the kernel's
peak mark being reset just before the call, after freed memory is handed back)
is its own. Peers: torchmetrics (FID, KID), scipy (FID by sqrtm, the formula of
pytorch-fid), the `prdc` package (precision/recall/density/coverage) and the
`vendi-score` package. torch-fidelity needs torchvision; it is reported as
unavailable where torchvision is not installed.

Prints one line per metric and library, then one RATIO line per metric
(evalkit's standalone function / the fastest peer, peak memory of each, the
largest relative difference of the values), then the SUITE line: evalkit's
whole suite in one call (``distribution_suite``: every metric above, the k-NN
metrics and KID sharing one pass over the Gram tiles) against the sum of the
fastest peer of each metric. KID's subsets are the same draws in both
libraries (torchmetrics is seeded as evalkit draws), and a float64 NumPy brute
force on those subsets gives the reference value for both. ``--big-n`` then
times evalkit's precision/recall/density/coverage at that N, with its peak memory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np


def features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """Correlated Gaussian features with a random spectrum (nobody's chosen numbers)."""
    shape_rng = np.random.default_rng(12345)  # one distribution shape for both sets
    basis = np.linalg.qr(shape_rng.normal(size=(d, d)))[0]
    scales = shape_rng.gamma(1.0, 1.0, size=d)
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 10000):  # in chunks, so the float64 temporaries stay small
        z = rng.normal(size=(min(n, s + 10000) - s, d)) * scales
        out[s : s + len(z)] = z @ basis.T + shift
    return out


def _release_freed_memory() -> None:
    """Hand memory freed by earlier work back to the kernel, so RSS is what is live."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM), so the peak after this point is the call's own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


# ---- implementations: each takes (real, fake) float32 arrays, returns {name: value}

def ek_fid(r, f):
    import torch

    from evalkit.metrics import functional as F

    return {"fid": F.fid(torch.from_numpy(r), torch.from_numpy(f))}


def ek_kid(r, f):
    import torch

    from evalkit.metrics import functional as F

    return {"kid": F.kid(torch.from_numpy(r), torch.from_numpy(f), subsets=100, subset_size=1000, seed=KID_SEED)[0]}


def ek_prdc(r, f):
    import torch

    from evalkit.metrics import functional as F

    p = F.prdc(torch.from_numpy(r), torch.from_numpy(f), k=5)
    return {"precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage}


def ek_suite(r, f):
    import torch

    from evalkit.metrics import functional as F

    out = F.distribution_suite(torch.from_numpy(r), torch.from_numpy(f), k=5, kid=F.KIDConfig(100, 1000, KID_SEED))
    out.pop("kid_std")
    return out


SUITE_REQUESTS = [("fid", {}), ("kid", {"subsets": 100, "subset_size": 1000}), ("precision", {"k": 5}),
                  ("recall", {"k": 5}), ("density", {"k": 5}), ("coverage", {"k": 5}), ("vendi", {})]


def ek_suite_intervals(r, f):
    """The seven registered metrics with their 95% intervals, as a run computes them."""
    import torch

    from evalkit import registry
    from evalkit.metrics.metric import MetricInputs

    inputs = MetricInputs("bench", torch.from_numpy(r), torch.from_numpy(f), seed=KID_SEED, requests=SUITE_REQUESTS)
    out = {}
    for name, args in SUITE_REQUESTS:
        v = registry.metrics.get(name).obj().compute(inputs, 0.95, **args)
        out[name], out[name + "_half_width"] = v.value, (v.high - v.low) / 2
    return out


AUDIT_REQUESTS = [("fid", {}), ("precision", {}), ("recall", {}), ("kid", {}), ("coverage", {}), ("vendi", {})]


def ek_audit_metrics(r, f):
    """The bundled audit's metric phase (specs/fashion-zoo.yaml's distribution metrics) for
    three subjects of f's size against r, the reference work shared as a run shares it."""
    import torch

    from evalkit import registry
    from evalkit.metrics.metric import MetricInputs

    shared: dict = {}
    out = {}
    for s in range(3):
        fake = torch.from_numpy(f * (1 + 0.05 * s))
        inputs = MetricInputs(f"s{s}", torch.from_numpy(r), fake, seed=0, requests=AUDIT_REQUESTS, shared=shared)
        for name, args in AUDIT_REQUESTS:
            out[f"{name}{s}"] = registry.metrics.get(name).obj().compute(inputs, 0.95, **args).value
    return out


def ek_gram_pass(r, f):
    """One pass over the three Gram matrices' tiles (products only): the unit of cost."""
    import torch

    from evalkit.metrics import _pairwise as P

    rt, ft = torch.from_numpy(r), torch.from_numpy(f)
    total = 0.0
    for a, b, sym in ((rt, rt, True), (ft, ft, True), (ft, rt, False)):
        spans_a, spans_b = P._spans(a.shape[0], P.TILE), P._spans(b.shape[0], P.TILE)
        for i, (i0, i1) in enumerate(spans_a):
            for j0, j1 in (spans_b[i:] if sym else spans_b):
                total += float((a[i0:i1] @ b[j0:j1].T)[0, 0])
    return {"gram": total}


def ek_vendi(r, f):
    import torch

    from evalkit.metrics import functional as F

    return {"vendi": F.vendi(torch.from_numpy(f))}


def scipy_fid(r, f):
    from scipy import linalg

    r, f = r.astype(np.float64), f.astype(np.float64)
    m1, m2 = r.mean(0), f.mean(0)
    c1, c2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    covmean = linalg.sqrtm(c1 @ c2).real
    return {"fid": float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))}


def _passthrough(d: int):
    """A 'feature extractor' that hands torchmetrics the features themselves."""
    import torch

    class Passthrough(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.num_features = d

        def forward(self, x):
            return x

    return Passthrough()


def tm_fid(r, f):
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=_passthrough(r.shape[1]), normalize=True)
    m.update(torch.from_numpy(r), real=True)
    m.update(torch.from_numpy(f), real=False)
    return {"fid": float(m.compute())}


def tm_kid(r, f):
    import torch
    from torchmetrics.image.kid import KernelInceptionDistance

    m = KernelInceptionDistance(feature=_passthrough(r.shape[1]), subsets=100, subset_size=1000, normalize=True)
    m.update(torch.from_numpy(r), real=True)
    m.update(torch.from_numpy(f), real=False)
    torch.manual_seed(KID_SEED)  # the same subsets as evalkit draws
    return {"kid": float(m.compute()[0])}


KID_SEED = 0


def kid_float64_reference(r, f, subsets=100, size=1000, seed=KID_SEED) -> float:
    """KID on the same subsets, brute force in float64 NumPy: the value both libraries should give."""
    import torch

    g = torch.Generator().manual_seed(seed)
    d = r.shape[1]
    vals = []
    for _ in range(subsets):
        x = r[torch.randperm(len(r), generator=g)[:size].numpy()].astype(np.float64)
        y = f[torch.randperm(len(f), generator=g)[:size].numpy()].astype(np.float64)
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        m = len(x)
        vals.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(vals))


def prdc_pkg(r, f):
    from prdc import compute_prdc

    out = compute_prdc(real_features=r, fake_features=f, nearest_k=5)
    return {k: float(v) for k, v in out.items()}


def vendi_pkg(r, f):
    from vendi_score import vendi

    x = f.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return {"vendi": float(vendi.score_dual(x, normalize=False))}


IMPLS = {
    "fid": [("evalkit", ek_fid), ("torchmetrics", tm_fid), ("scipy", scipy_fid)],
    "kid": [("evalkit", ek_kid), ("torchmetrics", tm_kid)],
    "prdc": [("evalkit", ek_prdc), ("prdc", prdc_pkg)],
    "vendi": [("evalkit", ek_vendi), ("vendi-score", vendi_pkg)],
}


def _warm_imports() -> None:
    """Import every library before timing, so no measurement pays for an import."""
    import importlib

    for mod in ("torch", "scipy.linalg", "evalkit.metrics.functional", "torchmetrics.image.fid",
                "torchmetrics.image.kid", "prdc", "vendi_score.vendi"):
        try:
            importlib.import_module(mod)
        except Exception:
            pass


def _child(fn, n, d, q):
    try:
        _warm_imports()
        r, f = features(n, d, 1, 0.0), features(n, d, 2, 0.05)
        _release_freed_memory()
        before = _status_mb("VmRSS")
        _reset_peak()
        t0 = time.perf_counter()
        values = fn(r, f)
        q.put(("ok", time.perf_counter() - t0, _status_mb("VmHWM") - before, values))
    except Exception as exc:  # a peer that is missing or fails is reported, not fatal
        q.put(("error", 0.0, 0.0, f"{type(exc).__name__}: {exc}"))


def _child_pair(fn, n_ref, n, d, q):
    try:
        _warm_imports()
        r, f = features(n_ref, d, 1, 0.0), features(n, d, 2, 0.05)
        t0, c0 = time.perf_counter(), time.process_time()
        values = fn(r, f)
        # CPU seconds (all threads) as well: on a shared machine they move less than wall time
        q.put(("ok", time.perf_counter() - t0, time.process_time() - c0, values))
    except Exception as exc:
        q.put(("error", 0.0, 0.0, f"{type(exc).__name__}: {exc}"))


def measure_pair(fn, n_ref, n, d):
    """Time fn on a reference of n_ref and a generated set of n, in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_pair, args=(fn, n_ref, n, d, q))
    p.start()
    p.join()
    return q.get() if not q.empty() else ("crashed", 0.0, 0.0, None)


def measure(fn, n, d, timeout=3600):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, n, d, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        return ("timeout", timeout, 0.0, None)
    if p.exitcode != 0 and q.empty():
        return ("crashed", 0.0, 0.0, f"exit code {p.exitcode} (out of memory?)")
    return q.get()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--big-n", type=int, default=50000, help="N for the memory run of evalkit's k-NN metrics (0 to skip)")
    ap.add_argument("--metrics", nargs="*", default=list(IMPLS))
    ap.add_argument("--audit", action="store_true",
                    help="only time the bundled audit's metric phase: 3 subjects of n = 1000 against 5000, d = 128")
    ap.add_argument("--intervals", action="store_true",
                    help="only time the suite with its intervals against the values alone and one Gram pass")
    args = ap.parse_args()
    if args.intervals:
        intervals(args.n, args.d)
        return
    if args.audit:
        status, secs, cpu, values = measure_pair(ek_audit_metrics, 5000, 1000, 128)
        print(f"AUDIT metric phase (3 subjects, n = 1000, reference 5000, d = 128): {status}, {secs:.2f} s wall, {cpu:.2f} s CPU")
        return
    print(f"N = {args.n}, d = {args.d}; times in seconds, peak memory in MB above the process's start")
    print(f"{'metric':<10} {'library':<13} {'time':>9} {'peak MB':>9}  values")
    best_total = all_total = 0.0
    best_values: dict[str, float] = {}
    for metric in args.metrics:
        results = {}
        for lib, fn in IMPLS[metric]:
            status, secs, mb, values = measure(fn, args.n, args.d)
            results[lib] = (status, secs, mb, values)
            shown = values if status == "ok" else status + (f" ({values})" if values else "")
            if isinstance(shown, dict):
                shown = ", ".join(f"{k}={v:.6g}" for k, v in shown.items())
            print(f"{metric:<10} {lib:<13} {secs:>9.2f} {mb:>9.0f}  {shown}", flush=True)
        ek = results["evalkit"]
        peers = {k: v for k, v in results.items() if k != "evalkit" and v[0] == "ok"}
        if ek[0] == "ok" and peers:
            best = min(peers, key=lambda k: peers[k][1])
            diffs = []
            for k, v in ek[3].items():
                ref = peers[best][3].get(k)
                if ref is not None:
                    diffs.append(abs(v - ref) / max(abs(ref), 1e-12))
            best_values.update(peers[best][3])
            best_total += peers[best][1]
            all_total += sum(v[1] for v in peers.values())
            print(f"{'':<10} RATIO evalkit/{best}: time {ek[1] / peers[best][1]:.3f}, memory {ek[2]:.0f} vs {peers[best][2]:.0f} MB, "
                  f"max relative difference {max(diffs) if diffs else float('nan'):.2e}", flush=True)
        if metric == "kid":
            ref = kid_float64_reference(features(args.n, args.d, 1, 0.0), features(args.n, args.d, 2, 0.05))
            errs = ", ".join(f"{lib} {abs(v[3]['kid'] - ref) / abs(ref):.1e}" for lib, v in results.items() if v[0] == "ok")
            print(f"{'':<10} KID float64 brute force on the same subsets: {ref:.8g}; relative error: {errs}", flush=True)
    if best_total and set(args.metrics) == set(IMPLS):
        status, secs, mb, values = measure(ek_suite, args.n, args.d)
        shown = ", ".join(f"{k}={v:.6g}" for k, v in values.items()) if status == "ok" else status
        print(f"\n{'suite':<10} {'evalkit':<13} {secs:>9.2f} {mb:>9.0f}  {shown}")
        if status == "ok":
            diffs = {k: abs(v - best_values[k]) / max(abs(best_values[k]), 1e-12) for k, v in values.items() if k in best_values}
            worst = max(diffs, key=diffs.get)
            print(f"{'':<10} suite values against the fastest peers': max relative difference {diffs[worst]:.2e} ({worst})")
        print(f"SUITE: evalkit's whole suite {secs:.1f} s vs the fastest peers summed {best_total:.1f} s: "
              f"ratio {secs / best_total:.3f} (vs every peer run summed, {all_total:.1f} s: {secs / all_total:.3f})")
    if args.big_n:
        status, secs, mb, values = measure(ek_prdc, args.big_n, args.d)
        print(f"\nprecision/recall/density/coverage at N = {args.big_n}, d = {args.d}: {status}, {secs:.1f} s, "
              f"peak {mb:.0f} MB above start (inputs: {2 * args.big_n * args.d * 4 / 1e6:.0f} MB of float32 features)")


def intervals(n: int, d: int) -> None:
    """INTERVALS line: what the metrics' intervals add to the suite, in Gram passes.

    Each in a fresh process on the same features; the ratios use CPU seconds (one
    thread each: OMP_NUM_THREADS=1), which a shared machine moves far less than wall time."""
    timed = {}
    for name, fn in (("values only", ek_suite), ("with intervals", ek_suite_intervals), ("one Gram pass", ek_gram_pass)):
        status, secs, cpu, values = measure_pair(fn, n, n, d)
        timed[name] = cpu
        shown = ", ".join(f"{k}={v:.6g}" for k, v in values.items()) if status == "ok" else f"{status} {values}"
        print(f"{name:<15} {secs:>8.2f} s wall {cpu:>8.2f} s CPU  {shown}", flush=True)
    extra = timed["with intervals"] - timed["values only"]
    print(f"INTERVALS (N = {n}, d = {d}, CPU seconds): suite with intervals {timed['with intervals']:.1f} s vs values only "
          f"{timed['values only']:.1f} s: ratio {timed['with intervals'] / timed['values only']:.2f}; the intervals add "
          f"{extra:.1f} s = {extra / timed['one Gram pass']:.2f} Gram passes ({timed['one Gram pass']:.1f} s each)")


if __name__ == "__main__":
    main()
