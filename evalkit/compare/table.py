"""``evalkit compare``: every requirement and metric of two or more subjects, side by side.

The contenders are subjects of one report (``--subjects X Y``) or of several reports.
For every pair of contenders and every rate requirement and metric both measured,
the row gives both values, the difference (second minus first), its one-sided
confidence bounds and a verdict: *better*, *worse* or *no significant difference*
(of the second against the first). The tests are the comparison engine's
(``judge.compare``, the one ``--baseline`` uses):

* a rate requirement is *paired* when both subjects drew the same samples (same
  seed and sampling blocks, same sample indices and asked labels, read from the
  sample store beside each report): the exact McNemar test on the per-sample
  outcomes; otherwise Fisher's exact test on the counts;
* a metric is tested *paired* where the two drew the same samples and the metric
  can be recomputed from the stored (float16) features: FID, against the
  reference features in this machine's feature cache, and Vendi. By default with
  the delta method (each shared sample's influence on both values, the engine's
  ``paired_influence``: one eigen-decomposition per side), or, with
  ``bootstrap`` > 0, a paired bootstrap (the same resampled rows for both, as
  integer row weights; one covariance and one eigen-solve per replicate and
  side). Otherwise, and where the reference features are not in the cache (it was
  removed, or signed under another user's cache key), on the two reports'
  intervals; the row's method and note say which test ran and why.

Every one-sided test of the table (both directions of every row) is one hypothesis
of one Holm step-down family, so the chance of any false "better" or "worse" in the
whole table is at most 1 - confidence (the spec's confidence). Each row shows the
numbers its verdict used: the Holm-adjusted p-value and the adjusted interval, each
bound at the confidence its Holm step decided at (``judge.compare.decided_level``,
1 - alpha*p/p_adj), so a bound lies at or beyond 0 exactly when the row says better
or worse. A ranking is printed
only where it follows from significant differences alone.

Reports measured against different reference images, in different feature spaces or
under different spec language versions are refused (exit 2) unless ``force``, which
labels the whole table "not comparable".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import progress
from .._errors import UsageError
from ..records.comparison import Comparison, ContenderInfo, Row
from ..records.model import MetricResult
from .contenders import Contender, not_comparable, pairing
from .paired import STORED_NOTE, PairedMetric, ReferenceFeatures, paired_metric
from .ranking import rank


# The most work any reports can ask of compare (docs/compare.md states it): n <= 10^8 per subject
# (the spec's MAX_SAMPLES, checked on reading), so a rate test takes at most ~0.2 s.
MAX_CONTENDERS = 64
MAX_TESTS = 20_000
MAX_BOOTSTRAP = 100_000


def build(contenders: list[Contender], *, force: bool = False, bootstrap: int = 0) -> Comparison:
    """Test every pair of contenders on every shared rate requirement and metric; Holm over the table.

    ``bootstrap`` = 0 tests paired metrics with the delta method; > 0 with a paired
    bootstrap of that many replicates.
    """
    from ..judge.compare import holm

    reasons = _refusals(contenders, force, bootstrap)
    confidence, notes = _confidence(contenders)
    rates, _ = _names(contenders)
    table = _Table(ReferenceFeatures(), bootstrap)
    pairs = [(a, b) for i, a in enumerate(contenders) for b in contenders[i + 1:]]
    with progress.task("compare: pairs of contenders", len(pairs), "pairs", enabled=len(pairs) > 1) as bar:
        for a, b in pairs:
            table.add_pair(a, b, rates, confidence)
            bar.update(1)
    adjusted = holm(table.tested, confidence, sides="both") if table.tested else []
    rows = [_row(d, kind, a, b, why, *more) for d, (kind, a, b, why, *more) in zip(adjusted, table.meta)] + table.untested
    ranking, ranking_note = rank([c.label for c in contenders], rows)
    correction = adjusted[0].correction if adjusted else "no test"
    return Comparison(
        contenders=[ContenderInfo(label=c.label, subject=c.subject.name, report=str(c.folder / "report.json"),
                                  spec_sha256=c.report.spec_sha256, n=c.subject.n) for c in contenders],
        confidence=confidence, correction=correction, comparable=not reasons, not_comparable=reasons, rows=rows,
        ranking=ranking if not reasons else None,
        ranking_note=ranking_note if not reasons else "no ranking: the reports are not comparable",
        notes=notes + table.notes(),
    )


def _refusals(contenders: list[Contender], force: bool, bootstrap: int) -> list[str]:
    """Why the reports are not comparable (allowed with ``force``); UsageError where nothing may run."""
    if bootstrap < 0 or bootstrap == 1 or bootstrap > MAX_BOOTSTRAP:
        raise UsageError(f"--bootstrap must be 0 (the paired delta method) or a number of replicates from 2 to "
                         f"{MAX_BOOTSTRAP}, got {bootstrap}")
    if len(contenders) > MAX_CONTENDERS:
        raise UsageError(f"compare takes at most {MAX_CONTENDERS} contenders ({MAX_CONTENDERS * (MAX_CONTENDERS - 1) // 2} "
                         f"pairs), got {len(contenders)}; pick some with --subjects")
    tests = len(contenders) * (len(contenders) - 1) // 2 * len(_names(contenders)[0] + _names(contenders)[1])
    if tests > MAX_TESTS:
        raise UsageError(f"compare would run {tests} tests (pairs x requirements), at most {MAX_TESTS}; "
                         "pick fewer subjects with --subjects")
    reasons = not_comparable(contenders)
    if reasons and not force:
        raise UsageError("these reports cannot be compared:\n  " + "\n  ".join(reasons)
                         + "\nfix: compare reports of one reference and feature space, or pass --force "
                         "(the table is then labelled not comparable)")
    return reasons


def _confidence(contenders: list[Contender]) -> tuple[float, list[str]]:
    """The table's confidence (the highest the reports' specs ask) and a note when they differ."""
    confs = sorted({float(c.report.spec.get("confidence", 0.95)) for c in contenders})
    if len(confs) == 1:
        return confs[0], []
    return confs[-1], [f"the reports' specs ask for confidences {confs}; the table holds at the highest, {confs[-1]:g}"]


def _names(contenders: list[Contender]) -> tuple[list[str], list[str]]:
    rates, metrics = [], []
    for c in contenders:
        for r in c.subject.requirements:
            if r.kind == "rate" and r.name not in rates:
                rates.append(r.name)
        for m in c.subject.metrics:
            if m.name not in metrics:
                metrics.append(m.name)
    return rates, metrics


@dataclass
class _Table:
    """The tests of a comparison table as they are made, before Holm."""

    refs: ReferenceFeatures
    bootstrap: int
    tested: list = field(default_factory=list)
    meta: list = field(default_factory=list)  # (kind, a, b, why unpaired) per tested difference
    untested: list[Row] = field(default_factory=list)
    no_reference: dict[str, list[str]] = field(default_factory=dict)  # why -> the pairs it left unpaired

    def add_pair(self, a: Contender, b: Contender, rates: list[str], confidence: float) -> None:
        """Test b against a on every rate and metric both have."""
        why = pairing(a, b)
        for name in rates:
            d = _rate_row(name, a, b, why, confidence)
            if d is not None:
                self.tested.append(d)
                self.meta.append(("rate", a, b, why))
        for m in a.subject.metrics:
            mb = next((x for x in b.subject.metrics if x.same_measure(m)), None)
            if mb is not None:
                self._metric(m, mb, a, b, why)

    def _metric(self, m: MetricResult, mb: MetricResult, a: Contender, b: Contender, why: str | None) -> None:
        decl = m.declaration()
        if decl is None:
            self._untested(m, mb, a, b, None, f"metric {m.registered!r} is not registered in this evalkit (a "
                           "plugin's?): its orientation is unknown; compare imports no code a report names")
            return
        if min(m.confidence, mb.confidence) <= 0.5:
            self._untested(m, mb, a, b, decl, f"intervals at confidence {min(m.confidence, mb.confidence):g} "
                           "(<= 0.5) carry no spread to test on")
            return
        paired = PairedMetric(unpaired=why) if why is not None else paired_metric(m, a, b, self.refs, self.bootstrap)
        if paired.unpaired and paired.unpaired.startswith("the reference features"):
            self.no_reference.setdefault(paired.unpaired, []).append(f"{a.label} | {b.label}")
        try:
            self.tested.append(_metric_row(m, mb, a, b, decl, paired))
            self.meta.append(("metric", a, b, paired.unpaired, STORED_NOTE if paired.stored else None))
        except ValueError as exc:  # an interval the test cannot read (a point value, a p-value)
            self._untested(m, mb, a, b, decl, str(exc))

    def _untested(self, m: MetricResult, mb: MetricResult, a: Contender, b: Contender, decl, note: str) -> None:
        self.untested.append(Row(name=m.name, kind="metric", a=a.label, b=b.label, value_a=m.value, value_b=mb.value,
                                 n_a=m.n, n_b=mb.n, difference=mb.value - m.value, verdict="not tested",
                                 higher_is_better=decl.higher_is_better if decl else True, note=note))

    def notes(self) -> list[str]:
        return [f"FID of {', '.join(pairs)} (same samples) was tested unpaired, on the reports' intervals: {why}. "
                "For the paired test, run the spec once more on this machine, as this user and with the evalkit "
                "version that made the reports (any --n): its feature cache then holds the reference features"
                for why, pairs in self.no_reference.items()]


def _outcomes(name: str, a: Contender, b: Contender, paired_why: str | None):
    """Per-sample pass/fail of both (same samples, same order), or None when unpaired."""
    if paired_why is not None:
        return None
    pa, pb = a.record().passed(name), b.record().passed(name)
    return None if pa is None or pb is None else (pa.numpy(), pb.numpy())


def _rate_row(name: str, a: Contender, b: Contender, paired_why: str | None, confidence: float):
    from ..judge.compare import compare_rates

    ra = next((r for r in a.subject.requirements if r.name == name), None)
    rb = next((r for r in b.subject.requirements if r.name == name), None)
    if ra is None or rb is None or not ra.n or not rb.n:
        return None
    outcomes = _outcomes(name, a, b, paired_why)
    d = compare_rates(ra.passed or 0, ra.n, rb.passed or 0, rb.n, confidence=confidence, paired_outcomes=outcomes,
                      subject=f"{a.label} | {b.label}", requirement=name)
    return d


def _metric_row(ma: MetricResult, mb: MetricResult, a: Contender, b: Contender, decl, paired: "PairedMetric"):
    from ..judge.compare import compare_metrics

    return compare_metrics(ma.value, ma.lower, ma.upper, mb.value, mb.lower, mb.upper, confidence=ma.confidence,
                           higher_is_better=decl.higher_is_better, n_a=ma.n, n_b=mb.n,
                           paired_replicates=paired.replicates, paired_influence=paired.influence,
                           subject=f"{a.label} | {b.label}", requirement=ma.name,
                           bounds_hold=ma.bounds_hold and mb.bounds_hold)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _row(d, kind: str, a: Contender, b: Contender, why: str | None, stored: str | None = None) -> Row:
    if d.paired:
        note = stored or ("spread recomputed from the stored (float16) features; values are the reports'"
                          if kind == "metric" else None)
    else:
        note = f"unpaired: {why}" if why else "unpaired"
    return Row(name=d.requirement, kind=kind, a=a.label, b=b.label, value_a=_finite(d.a), value_b=_finite(d.b),
               n_a=d.n_a, n_b=d.n_b, difference=_finite(d.diff), low=_finite(d.low), high=_finite(d.high),
               adjusted_low=_finite(d.adj_low), adjusted_high=_finite(d.adj_high), p_value=d.p_value,
               verdict=d.verdict, paired=d.paired, higher_is_better=d.higher_is_better, method=d.method, note=note)
