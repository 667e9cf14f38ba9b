"""Paired metric tests of two contenders that drew the same samples: from the per-sample
influences each run stored (sample store layout 3: FID, KID, precision, recall, density,
coverage, Vendi; no feature cache needed), else, for stores written before them (layout 2),
FID and Vendi recomputed from the stored features (FID against the reference features in
this machine's feature cache).

Only the metric-specific part is here; the test on what is made here is the
engine's (``judge.compare.compare_metrics`` with ``paired_influence`` or ``paired_replicates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..records.model import MetricResult, Report
from .contenders import Contender


PAIRED_METRICS = ("fid", "vendi")  # recomputable from stored features (and, for FID, the cached reference)
STORED_NOTE = "spread from the per-sample influences stored at run time; values are the reports'"


@dataclass(frozen=True)
class PairedMetric:
    """What a paired metric test gets (influences or bootstrap replicates), or why the row is unpaired."""

    influence: tuple[np.ndarray, np.ndarray] | None = None
    replicates: tuple[np.ndarray, np.ndarray] | None = None
    unpaired: str | None = None
    stored: bool = False  # the influences are the ones the runs stored (not recomputed from features)


def bootstrap_pairs(stat: Callable[[Tensor, Tensor], float], fa: Tensor, fb: Tensor, replicates: int, seed: int = 0,
                    bar=None) -> tuple[np.ndarray, np.ndarray]:
    """``stat(features, row_counts)`` of both feature sets on the same resampled rows, ``replicates`` times.

    Rows i of fa and fb pair. A resample of n rows with replacement is given as integer
    row counts (how often each row was drawn), so the metric updates its moments by
    weights instead of copying the rows.
    """
    gen = torch.Generator().manual_seed(seed)
    n = len(fa)
    ra, rb = np.empty(replicates), np.empty(replicates)
    for j in range(replicates):
        counts = torch.bincount(torch.randint(0, n, (n,), generator=gen), minlength=n)
        ra[j], rb[j] = stat(fa, counts), stat(fb, counts)
        if bar is not None:
            bar.update(1)
    return ra, rb


def _reference_key(report: Report) -> tuple:
    """The runner's cache key of a report's reference features: data digest, extractor digest, evalkit version."""
    ref = report.reference or {}
    return (ref.get("sha256"), ref.get("extractor_digest"), report.environment.evalkit)


class ReferenceFeatures:
    """The reference features each report used, read once from this machine's feature cache."""

    def __init__(self) -> None:
        self._seen: dict[tuple, tuple[Any, str]] = {}

    def frechet(self, report: Report):
        """(FrechetReference, "") or (None, why the reference features are not available)."""
        from ..cache import lookup
        from ..metrics.functional import FrechetReference

        key = _reference_key(report)
        if key not in self._seen:
            if not key[0] or not key[1]:
                self._seen[key] = (None, "the report does not name its reference data and extractor digests")
            else:
                real, why = lookup(list(key))
                self._seen[key] = (FrechetReference.of(real), "") if real is not None else (None, why)
        return self._seen[key]


def stored_pair(m: MetricResult, a: Contender, b: Contender) -> PairedMetric | None:
    """The paired influences both runs stored for metric result ``m`` (the same samples: the
    caller checked indices and labels), an unpaired reason where they cannot pair, or None
    where either store holds none (written before layout 3, or a metric without an influence)."""
    from ..records.samples import stored_influence

    ia, ib = stored_influence(a.record(), m.name), stored_influence(b.record(), m.name)
    if ia is None or ib is None:
        return None
    ra, rb = a.report.reference or {}, b.report.reference or {}
    if (ra.get("sha256"), ra.get("extractor_digest")) != (rb.get("sha256"), rb.get("extractor_digest")):
        return PairedMetric(unpaired=f"the two reports measured {m.name} against different reference features")
    fa, fb = np.isfinite(ia), np.isfinite(ib)
    if not np.array_equal(fa, fb):
        return PairedMetric(unpaired="the stored influences are of different samples (non-finite ones left out)")
    return PairedMetric(influence=(ia[fa], ib[fb]), stored=True)


def paired_metric(m: MetricResult, a: Contender, b: Contender, refs: ReferenceFeatures, bootstrap: int) -> PairedMetric:
    """The paired test's input for metric ``m`` of two contenders that drew the same samples:
    the stored influences (``stored_pair``) unless a bootstrap is asked and can be recomputed,
    else FID and Vendi recomputed from the stored features (stores of layout 2)."""
    stored = stored_pair(m, a, b)
    if stored is not None and (bootstrap == 0 or stored.unpaired):
        return stored
    recomputed = _recomputed(m, a, b, refs, bootstrap)
    # a bootstrap the features cannot give (no cached reference) still pairs on the stored influences
    return stored if recomputed.unpaired and stored is not None else recomputed


def _recomputed(m: MetricResult, a: Contender, b: Contender, refs: ReferenceFeatures, bootstrap: int) -> PairedMetric:
    """FID or Vendi of both contenders recomputed from their stored features."""
    from ..metrics import functional as Fn

    name = m.registered
    if name not in PAIRED_METRICS:
        return PairedMetric(unpaired=f"{name} is not recomputed from the stored features (paired: "
                                     f"{', '.join(PAIRED_METRICS)}), and the sample stores hold no influences for it")
    ta, tb = a.record().tensors, b.record().tensors
    if "features" not in ta or "features" not in tb:
        return PairedMetric(unpaired="no stored features")
    if not torch.equal(ta["features_index"], tb["features_index"]):
        return PairedMetric(unpaired="the stored features are of different samples (non-finite ones left out)")
    fa, fb = ta["features"].double(), tb["features"].double()
    if name == "fid":
        if _reference_key(a.report) != _reference_key(b.report):
            return PairedMetric(unpaired="the two reports measured FID against different reference features")
        ref, why = refs.frechet(a.report)
        if ref is None:
            return PairedMetric(unpaired=f"the reference features are not available: {why}")
        influence, stat = ref.fid_influence, ref.fid
    else:
        q = float(m.args.get("q", 1.0))

        def influence(x: Tensor):
            return Fn.vendi_influence(x, q=q)

        def stat(x: Tensor, w: Tensor) -> float:
            return Fn.vendi(x, q=q, weights=w)
    if bootstrap > 0:  # minutes at d ~ 2048: the user sees progress with an ETA (--bootstrap 0 takes seconds)
        from .. import progress

        with progress.task(f"paired bootstrap of {m.name}, {a.label} | {b.label} (d = {fa.shape[1]}; "
                           "--bootstrap 0 is the delta method, seconds)", bootstrap, "replicates") as bar:
            return PairedMetric(replicates=bootstrap_pairs(stat, fa, fb, bootstrap, bar=bar))
    return PairedMetric(influence=(influence(fa)[1].numpy(), influence(fb)[1].numpy()))
