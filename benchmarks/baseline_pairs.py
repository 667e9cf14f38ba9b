"""False regressions of ``--baseline``: one unchanged model under different seeds, compared pairwise.

    python benchmarks/baseline_pairs.py [--seeds 30] [--n 500]

The "model" is the real-images replay of ``specs/fashion-zoo.yaml`` (reference: test
images 0-4999; replay pool: 5000-9999; fashion-classifier features). Every image of
the pool is featurised and classified once; a run of seed s is then exactly what
``evalkit run`` would observe (labels ``iid_labels(s, i)``, images
``DatasetReplay.assignment``), its metrics computed by the registered metric code
and its rates counted, and every ordered pair of runs (baseline i, current j != i)
is judged by ``compare.baseline.compare``, the code ``--baseline`` runs. Any flagged
regression is false. Pairs share runs, so they are dependent; the standard error is
a jackknife over seeds. Writes ``benchmarks/BASELINE.md``.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch

from evalkit import registry
from evalkit.data.datasets import DatasetReplay
from evalkit.metrics.metric import MetricInputs
from evalkit.observe.features import make_extractor
from evalkit.observe.measurements import INK_THRESHOLD
from evalkit.compare.baseline import compare
from evalkit.records.model import Environment, MetricResult, Report, RequirementResult, SubjectResult
from evalkit.sample.sources import iid_labels

METRICS = ["fid", "precision", "recall", "density", "coverage", "kid", "vendi", "class_tv"]


def _featurise(images: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """fashion-classifier features and predictions, kept in $EVALKIT_CACHE between runs of this script."""
    import os

    from evalkit.store import load_record, save_record

    path = Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit")) / f"bench-{name}.safetensors"
    if path.is_file():
        t, _ = load_record(path, kind="bench-features")
        return t["feats"], t["pred"]
    feats, pred = _compute_features(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_record(path, {"feats": feats, "pred": pred}, {"n": len(feats)}, kind="bench-features")
    return feats, pred


def _compute_features(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ex = make_extractor("fashion-classifier", (1, 28, 28), torch.device("cpu"))
    feats, logits = [], []
    with torch.no_grad():
        for s in range(0, len(images), 500):
            f, lg = ex.features_and_logits(images[s:s + 500])
            feats.append(f)
            logits.append(lg)
    return torch.cat(feats), torch.cat(logits).argmax(1)


def _run(seed: int, n: int, replay: DatasetReplay, pool: dict, real: torch.Tensor, shared: dict) -> Report:
    labels = iid_labels(seed, range(n), 10)
    idx = replay.assignment(seed, n, labels)
    fake, pred = pool["feats"][idx], pool["pred"][idx]
    ink = pool["ink"][idx]
    rates = {"looks like the asked class": int((pred == labels).sum()), "sane ink": int(((ink > 0.05) & (ink < 0.7)).sum())}
    reqs = [RequirementResult(name=k, kind="rate", verdict="PASS", confidence=0.95, passed=v, n=n) for k, v in rates.items()]
    inputs = MetricInputs("real-images", real, fake, pred, labels, 10, seed=seed,
                          requests=[(m, {}) for m in METRICS], shared=shared)
    metrics = []
    for m in METRICS:
        v = registry.metrics.get(m).obj().compute(inputs, 0.95)
        metrics.append(MetricResult(name=m, value=v.value, lower=v.low, upper=v.high, confidence=0.95, method=v.method, n=v.n))
    env = Environment(python="", platform="", torch="", evalkit="", device="cpu")
    sub = SubjectResult(name="real-images", n=n, requirements=reqs, metrics=metrics)
    return Report(name="pairs", spec={}, spec_sha256="", started="", seed=seed, environment=env, subjects=[sub])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--out", default=str(Path(__file__).with_name("BASELINE.md")))
    args = ap.parse_args()
    registry.load_plugins()
    t0 = time.time()
    test = registry.datasets.get("fashion-mnist").obj(split="test")
    real, _ = _featurise(test.slice(0, 5000), "fashion-test-0-5000")
    replay = DatasetReplay(range=(5000, 10000))
    images = replay.data.slice(0, len(replay.data))
    feats, pred = _featurise(images, "fashion-test-5000-10000")
    pool = {"feats": feats, "pred": pred, "ink": (images[:, 0] > INK_THRESHOLD).double().mean(dim=(1, 2))}
    shared: dict = {}
    reports = []
    for seed in range(args.seeds):
        reports.append(_run(seed, args.n, replay, pool, real, shared))
        print(f"seed {seed}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        if len(reports) >= 2:  # the table so far, rewritten after every seed (a long run can be stopped)
            _write(reports, args, time.time() - t0)
    return 0


def _write(reports: list[Report], args, seconds: float) -> None:
    seeds = len(reports)
    first = _pair(reports[0], reports[1])
    names = [d.requirement for d in first.subjects[0].differences]
    flagged = {(i, j): set(_pair(a, b).subjects[0].regressions)
               for i, a in enumerate(reports) for j, b in enumerate(reports) if i != j}
    pairs = len(flagged)
    share = sum(bool(f) for f in flagged.values()) / pairs
    se = _jackknife_se(flagged, seeds)
    lines = [
        "# `--baseline` on an unchanged model: false regressions",
        "",
        f"Generated by `python benchmarks/baseline_pairs.py --seeds {args.seeds} --n {args.n}`; this table after "
        f"{seeds} seeds ({seconds:.0f} s on a shared 2-core CPU). The real-images replay of `specs/fashion-zoo.yaml` "
        f"at n = {args.n}, seeds 0..{seeds - 1}; every ordered pair (baseline seed i, current seed j != i) judged by "
        f"`compare.baseline.compare`: {pairs} pairs, {len(names)} comparisons each "
        f"({len(names) - len(METRICS)} rates, {len(METRICS)} metrics).",
        "",
        f"Correction: {first.baseline_correction}.",
        "",
        f"**Pairs with any regression flagged: {share:.3f}** (jackknife s.e. over seeds {se:.3f}); the promise: <= 0.05.",
        "",
        "| requirement / metric | pairs flagged | share |",
        "|---|---|---|",
    ]
    for name in names:
        k = sum(name in f for f in flagged.values())
        lines.append(f"| {name} | {k} | {k / pairs:.3f} |")
    lines += ["", "Pairs share runs, so they are dependent: the standard error is a jackknife over seeds, not "
              "sqrt(p(1-p)/pairs). Metric comparisons are only as good as the metric intervals they read "
              "(`benchmarks/CALIBRATION.md`)."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def _pair(a: Report, b: Report) -> Report:
    return compare(copy.deepcopy(b), a, {}, "baseline")


def _jackknife_se(flagged: dict, seeds: int) -> float:
    if seeds < 3:
        return float("nan")  # leaving one of two seeds out leaves no pair
    vals = []
    for s in range(seeds):
        sub = [bool(v) for k, v in flagged.items() if s not in k]
        vals.append(sum(sub) / len(sub))
    mean = sum(vals) / len(vals)
    return math.sqrt((seeds - 1) / seeds * sum((v - mean) ** 2 for v in vals))


if __name__ == "__main__":
    raise SystemExit(main())
