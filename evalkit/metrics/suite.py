"""The registered distribution metrics, each with a confidence interval.

A metric's ``compute(inputs, confidence, /, *, <args>)`` returns a ``MetricValue``.
Intervals: a percentile bootstrap over samples (fixed seed) where no exact form
exists; exact Clopper–Pearson for precision, recall and coverage, which are
shares of per-sample indicators once the k-NN balls are fixed (the interval is
conditional on those balls; it says so in ``method``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .. import registry
from .._errors import DataError
from ..judge.stats import cp_lower, cp_upper
from . import functional as Fn
from ._dense import as_numpy, frechet, mean_cov, moments, psd_factor, weighted_mean_cov

metric = registry.metrics


@dataclass
class MetricInputs:
    """Everything a distribution metric may read for one subject."""

    subject: str
    real: Tensor | None  # (N, d) reference features
    fake: Tensor  # (M, d) subject features
    predicted: Tensor | None = None  # classifier predictions of the subject's samples
    asked: Tensor | None = None  # asked labels
    num_classes: int | None = None
    memo_ratios: Tensor | None = None
    seed: int = 0
    images: Tensor | None = None  # uint8 generated images (for metrics that train on them)
    image_labels: Tensor | None = None
    real_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled reference images
    train_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled training images
    # every (metric name, args) the spec asks of this subject: metrics that share work
    # (the k-NN metrics and KID walk the same Gram tiles) compute it once for all of them
    requests: list[tuple[str, dict]] = field(default_factory=list)
    # a dict the runner keeps across subjects, for work on the reference set alone
    shared: dict | None = None
    _cache: dict = field(default_factory=dict)

    def cached(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def need_real(self, name: str) -> Tensor:
        if self.real is None:
            raise DataError(f"metric {name!r} compares against real images, but the spec has no `reference:`")
        return self.real


@dataclass
class MetricValue:
    value: float
    low: float  # one-sided lower bound at the requested confidence
    high: float  # one-sided upper bound at the requested confidence
    method: str
    n: int
    n_reference: int | None = None
    note: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


def _bootstrap_bounds(value: float, values: list[float], confidence: float) -> tuple[float, float]:
    """One-sided bounds from the bootstrap spread, centred on the estimate.

    Resampling with replacement duplicates samples, which shifts FID up and Vendi
    down in every replicate (a smaller effective N); percentile bounds would carry
    that shift, and reflected ("basic") bounds would carry it the other way. The
    spread of the replicates around their own mean is what estimates the sampling
    variability of the statistic at this N, so the bounds are value + (q - mean).
    """
    t = torch.tensor(values, dtype=torch.float64)
    centre = float(t.mean())
    q_lo, q_hi = float(torch.quantile(t, 1 - confidence)), float(torch.quantile(t, confidence))
    return value + (q_lo - centre), value + (q_hi - centre)


def _multinomial_weights(n: int, g: torch.Generator) -> Tensor:
    return torch.bincount(torch.randint(0, n, (n,), generator=g), minlength=n).double()


def _shared(inputs: MetricInputs, key: tuple, fn: Callable[[], Any]) -> Any:
    """Work on the reference alone, computed once per run when the runner shares a dict."""
    if inputs.shared is None:
        return inputs.cached(key, fn)
    if key not in inputs.shared:
        inputs.shared[key] = fn()
    return inputs.shared[key]


@metric("fid", help="Fréchet distance between Gaussian fits of real and generated features (lower is better).",
        higher_is_better=False, needs=("real",))
class FID:
    @Fn._ftz
    def compute(self, inputs: MetricInputs, confidence: float, /, *, bootstrap: int = 50) -> MetricValue:
        real, fake = inputs.need_real("fid"), as_numpy(inputs.fake)

        def reference():
            m1, c1 = mean_cov(*moments(as_numpy(real)))
            return m1, c1, psd_factor(c1)

        # NumPy from here on: the float64 algebra lives in ._dense (see its docstring)
        m1, c1, f1 = _shared(inputs, ("fid-reference", id(real)), reference)
        value = frechet(m1, c1, *mean_cov(*moments(fake)), factor1=f1)
        g = torch.Generator().manual_seed(inputs.seed)
        weights = [_multinomial_weights(len(fake), g).numpy() for _ in range(bootstrap)]
        # Resample the generated set only: the interval is conditional on the reference
        # set (fixed across models), whose factor is then computed once.
        reps = [frechet(m1, c1, *weighted_mean_cov(fake, w), factor1=f1) for w in weights]
        low, high = _bootstrap_bounds(value, reps, confidence) if reps else (value, value)
        low = max(low, 0.0)
        d = real.shape[1]
        note = f"FID is biased upward at finite N; compare only at equal N (here N={len(fake)} vs {len(real)} real)"
        if min(len(real), len(fake)) <= d:
            note += f"; covariance is rank-deficient (N <= d = {d})"
        return MetricValue(value, min(low, value), max(high, value), f"bootstrap spread, {bootstrap} resamples of the generated set",
                           len(fake), len(real), note)


@metric("kid", help="Kernel Inception Distance: unbiased MMD^2, cubic polynomial kernel, over subsets.",
        higher_is_better=False, needs=("real",))
class KID:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, subsets: int = 100, subset_size: int = 1000) -> MetricValue:
        real = inputs.need_real("kid")
        mean, std = Fn.kid_mean_std(_pairwise(inputs, "kid", {"subsets": subsets, "subset_size": subset_size}).kid)
        from scipy import stats

        z = float(stats.norm.ppf(confidence))
        # The spread over subsets of size m bounds the error of an m-sample estimate; the
        # pooled mean uses more data, so this interval is conservative.
        return MetricValue(mean, mean - z * std, mean + z * std, f"mean +- z*std over {subsets} subsets (conservative)",
                           len(inputs.fake), len(real), extra={"std": std})


_DEFAULT_K = {"precision": 3, "recall": 3, "density": 5, "coverage": 5}


def _pairwise(inputs: MetricInputs, name: str, args: dict) -> Fn.Pairwise:
    """The shared Gram pass for this subject, covering every k-NN metric and KID it is asked for."""
    real = inputs.need_real(name)
    real_ks: set[int] = set()
    fake_ks: set[int] = set()
    kid: Fn.KIDConfig | None = None
    for n, a in [(name, args), *inputs.requests]:
        if n in ("precision", "density", "coverage"):
            real_ks.add(int(a.get("k", _DEFAULT_K[n])))
        elif n == "recall":
            fake_ks.add(int(a.get("k", _DEFAULT_K[n])))
        elif n == "kid" and kid is None:
            kid = Fn.KIDConfig(int(a.get("subsets", 100)), int(a.get("subset_size", 1000)), inputs.seed)
    for label, x, ks in (("reference", real, real_ks), (f"subject {inputs.subject!r}", inputs.fake, fake_ks)):
        if ks and len(x) <= max(ks):
            raise DataError(f"{label}: k-NN metrics need more than k={max(ks)} samples, got {len(x)}")
    if name == "kid" and kid != Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed):
        # a second KID request with other subsets: its own, KID-only pass
        cfg = Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed)
        return inputs.cached(("pairwise", cfg), lambda: Fn.pairwise(real, inputs.fake, kid=cfg))
    key = ("pairwise", frozenset(real_ks), frozenset(fake_ks), kid)

    def run() -> Fn.Pairwise:
        # the reference's own pass depends only on the reference, the ks and the KID draws
        rkey = ("real-pass", id(real), frozenset(real_ks), kid, len(inputs.fake) if kid else None)
        real_pass = _shared(inputs, rkey, lambda: Fn.real_self_pass(real, inputs.fake, real_ks=real_ks, kid=kid))
        return Fn.pairwise(real, inputs.fake, real_ks=real_ks, fake_ks=fake_ks, kid=kid, real_pass=real_pass)

    return inputs.cached(key, run)


def _prdc(inputs: MetricInputs, name: str, k: int) -> Fn.Pairwise:
    return _pairwise(inputs, name, {"k": k})


def _share(indicator: Tensor, confidence: float, n_ref: int | None, what: str) -> MetricValue:
    n, kk = int(indicator.numel()), int(indicator.sum())
    return MetricValue(kk / n, cp_lower(kk, n, confidence), cp_upper(kk, n, confidence),
                       f"Clopper-Pearson over {what}, conditional on the k-NN balls", n, n_ref)


@metric("precision", help="Share of generated samples inside the real k-NN manifold (Kynkäänniemi et al.).", needs=("real",))
class Precision:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = 3) -> MetricValue:
        p = _prdc(inputs, "precision", k)
        return _share(p.fake_in_real[k], confidence, len(inputs.real), "generated samples")


@metric("recall", help="Share of real samples inside the generated k-NN manifold (Kynkäänniemi et al.).", needs=("real",))
class Recall:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = 3) -> MetricValue:
        p = _prdc(inputs, "recall", k)
        v = _share(p.real_in_fake[k], confidence, len(inputs.real), "real samples")
        v.n = len(inputs.fake)
        return v


@metric("density", help="Mean number of real k-NN balls holding a generated sample, over k (Naeem et al.).", needs=("real",))
class Density:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = 5, bootstrap: int = 200) -> MetricValue:
        p = _prdc(inputs, "density", k)
        counts = p.ball_count[k] / k
        value = float(counts.mean())
        g = torch.Generator().manual_seed(inputs.seed)
        reps = [float((counts * _multinomial_weights(len(counts), g)).sum() / len(counts)) for _ in range(bootstrap)]
        low, high = _bootstrap_bounds(value, reps, confidence)
        return MetricValue(value, low, high, f"bootstrap spread over generated samples ({bootstrap}), balls fixed",
                           len(counts), len(inputs.real))


@metric("coverage", help="Share of real samples whose k-NN ball holds a generated sample (Naeem et al.).", needs=("real",))
class Coverage:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = 5) -> MetricValue:
        p = _prdc(inputs, "coverage", k)
        v = _share(p.real_covered[k], confidence, len(inputs.real), "real samples")
        v.n = len(inputs.fake)
        return v


@metric("vendi", help="Vendi score: effective number of distinct samples (cosine kernel; q = order).")
class Vendi:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, q: float = 1.0, bootstrap: int = 50) -> MetricValue:
        x = inputs.fake.double()
        value = Fn.vendi(x, q=q)
        g = torch.Generator().manual_seed(inputs.seed)
        reps = [Fn.vendi(x, q=q, weights=_multinomial_weights(len(x), g)) for _ in range(bootstrap)]
        low, high = _bootstrap_bounds(value, reps, confidence)
        return MetricValue(value, max(low, 1.0), high, f"bootstrap spread, {bootstrap} resamples", len(x))


@metric("class_tv", help="Total variation between predicted and asked class histograms (lower is better).",
        higher_is_better=False, needs=("classifier", "labels"))
class ClassTV:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, bootstrap: int = 200) -> MetricValue:
        if inputs.predicted is None or inputs.asked is None or inputs.num_classes is None:
            raise DataError(f"metric 'class_tv' needs a classifier and asked labels (subject {inputs.subject!r})")
        pred, asked = inputs.predicted.long(), inputs.asked.long()
        value = Fn.class_distribution(pred, asked, inputs.num_classes)["tv"]
        g = torch.Generator().manual_seed(inputs.seed)
        reps = []
        for _ in range(bootstrap):
            i = torch.randint(0, len(pred), (len(pred),), generator=g)
            reps.append(Fn.class_distribution(pred[i], asked, inputs.num_classes)["tv"])
        low, high = _bootstrap_bounds(value, reps, confidence)
        return MetricValue(value, max(low, 0.0), min(high, 1.0), f"bootstrap spread, {bootstrap} resamples", len(pred))


@metric("memorized", help="Share of samples closer to a training image than 1/3 of its neighbour distance.",
        higher_is_better=False, needs=("training",))
class Memorized:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, ratio: float = 1.0 / 3.0) -> MetricValue:
        if inputs.memo_ratios is None:
            raise DataError("metric 'memorized' needs a training set (spec field `training:`)")
        v = _share(inputs.memo_ratios < ratio, confidence, None, "generated samples")
        v.method = "Clopper-Pearson over generated samples"
        return v


CLASS_BALANCE_RETIRED = (
    "metric 'class_balance' is retired: it said PASS whenever its chi-square test found no difference, "
    "which is absence of evidence, not evidence of balance; use {metric: class_tv, at_most: 0.1} "
    "(total variation between predicted and asked class mixes, PASS only when its upper bound is within 0.1)"
)


@metric("class_balance", help="Retired: use class_tv with at_most (a bound on the class mix, not a p-value).",
        needs=("classifier", "labels"), retired=CLASS_BALANCE_RETIRED)
class ClassBalance:
    """Retired. Its value was a chi-square p-value and ``at_least: level`` PASSed every
    non-significant test, so a skewed mix PASSed whenever n was too small to see the
    skew (87.5 % of runs at 12 % / 9.8 % against uniform, n = 1,000). The plan refuses a
    spec naming it, with the replacement; ``compute`` refuses too, for direct callers.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /) -> MetricValue:
        from .._errors import SpecError

        raise SpecError(CLASS_BALANCE_RETIRED)


def _small_cnn(shape: tuple[int, ...], classes: int) -> torch.nn.Module:
    c = shape[0]
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def _train_and_test(x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, classes: int, epochs: int, seed: int) -> Tensor:
    """Train a small CNN on (x, y), return per-test-image correctness on (xt, yt)."""
    torch.manual_seed(seed)
    net = _small_cnn(tuple(x.shape[1:]), classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xt[i : i + 1000].float()).argmax(1) for i in range(0, len(xt), 1000)])
    return pred == yt


@metric("cas", help="Classification accuracy score: a CNN trained on the samples, tested on real labelled images.",
        needs=("images", "labels"))
class CAS:
    """Classification Accuracy Score (Ravuri & Vinyals, 2019).

    A small CNN is trained on the generated samples with their asked labels and
    tested on the labelled reference images; with a ``training:`` set, the same
    CNN trained on as many real training images gives the real-data baseline
    (``extra.real_accuracy``). Bounds: Clopper-Pearson over the test images,
    conditional on the trained network.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, epochs: int = 5) -> MetricValue:
        if inputs.images is None or inputs.image_labels is None or inputs.real_images is None:
            raise DataError(f"metric 'cas' needs class-conditional samples and a labelled `reference:` (subject {inputs.subject!r})")
        xt, yt = inputs.real_images()
        classes = int(max(int(yt.max()), int(inputs.image_labels.max()))) + 1
        correct = _train_and_test(inputs.images, inputs.image_labels, xt, yt, classes, epochs, inputs.seed)
        v = _share(correct, confidence, len(yt), "real test images")
        v.method = f"Clopper-Pearson over the {len(yt)} test images; CNN trained {epochs} epochs on {len(inputs.images)} samples"
        v.n = len(inputs.images)
        if inputs.train_images is not None:
            xr, yr = inputs.train_images()
            g = torch.Generator().manual_seed(inputs.seed)
            pick = torch.randperm(len(xr), generator=g)[: len(inputs.images)]
            real_correct = _train_and_test(xr[pick], yr[pick], xt, yt, classes, epochs, inputs.seed)
            v.extra["real_accuracy"] = float(real_correct.double().mean())
            v.note = f"the same CNN trained on {len(pick)} real training images scores {v.extra['real_accuracy']:.4f}"
        return v
