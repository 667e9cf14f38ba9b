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
whole table is at most 1 - confidence (the spec's confidence). A ranking is printed
only where it follows from significant differences alone.

Reports measured against different reference images, in different feature spaces or
under different spec language versions are refused (exit 2) unless ``force``, which
labels the whole table "not comparable".
"""

from __future__ import annotations

import difflib
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from .._errors import DataError, UsageError
from ..records.model import MetricResult, Record, Report, SubjectResult
from ..records.reading import read_report

COMPARISON_SCHEMA_VERSION = 1
RowVerdict = Literal["better", "worse", "no significant difference", "not tested"]


class ContenderInfo(Record):
    """One compared subject and where it came from."""

    label: str = Field(description="How the tables name it.")
    subject: str
    report: str = Field(description="The report.json it was read from.")
    spec_sha256: str
    n: int


class Row(Record):
    """Contender ``b`` against contender ``a`` on one requirement or metric."""

    name: str = Field(description="The requirement (rates) or metric name.")
    kind: Literal["rate", "metric"]
    a: str
    b: str
    value_a: float | None
    value_b: float | None
    n_a: int | None = None
    n_b: int | None = None
    difference: float | None = Field(None, description="value_b - value_a.")
    low: float | None = Field(None, description="One-sided lower confidence bound of the difference (not adjusted).")
    high: float | None = Field(None, description="One-sided upper confidence bound of the difference (not adjusted).")
    p_value: float | None = Field(None, description="Holm-adjusted p-value behind the verdict.")
    verdict: RowVerdict = Field(description="b against a: better, worse, no significant difference.")
    paired: bool = False
    higher_is_better: bool = True
    method: str = ""
    note: str | None = None


class Comparison(Record):
    """What ``evalkit compare`` writes to comparison.json."""

    schema_version: int = COMPARISON_SCHEMA_VERSION
    contenders: list[ContenderInfo]
    confidence: float
    correction: str
    comparable: bool = True
    not_comparable: list[str] = Field(default_factory=list, description="Why the reports are not comparable (--force).")
    rows: list[Row]
    ranking: list[str] | None = Field(None, description="Best first; present only where significant differences order every pair.")
    ranking_note: str
    notes: list[str] = Field(default_factory=list)


@dataclass
class Contender:
    label: str
    report: Report
    subject: SubjectResult
    folder: Path
    _record: Any = field(default=None, repr=False)
    _loaded: bool = False

    def record(self):
        """The subject's sample record (None when the report has none)."""
        if not self._loaded:
            from ..records.samples import read_samples

            try:
                self._record = read_samples(self.folder, self.subject.name)
            except DataError as exc:
                raise UsageError(str(exc)) from None
            self._loaded = True
        return self._record


# ---------------------------------------------------------------- inputs


def _read(path: str) -> tuple[Report, Path]:
    p = Path(path)
    try:
        report = read_report(p)
    except DataError as exc:  # a bad input file is the command line's problem: exit 2, nothing written
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # pydantic: a hand-edited report.json
        first = str(exc).splitlines()
        raise UsageError(f"{p}: not a valid evalkit report ({' '.join(first[:3])})") from None
    return report, (p if p.is_dir() else p.parent)


def _check_wanted(subjects: list[str], loaded: list[tuple[Report, Path]], paths: list[str]) -> None:
    known = [s.name for r, _ in loaded for s in r.subjects]
    for want in subjects:
        if want not in known:
            near = difflib.get_close_matches(want, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise UsageError(f"--subjects: no subject {want!r} in {', '.join(paths)}{hint} (subjects: {', '.join(known)})")


def load_contenders(paths: list[str], subjects: list[str] | None = None) -> list[Contender]:
    """The subjects to compare: every subject of the given reports, or only ``subjects``."""
    loaded = [_read(p) for p in paths]
    if subjects:
        _check_wanted(subjects, loaded, paths)
    picked = [(report, s, folder) for report, folder in loaded for s in report.subjects
              if subjects is None or s.name in subjects]
    names = [s.name for _, s, _ in picked]
    # the same subject in several reports is named by its report folder
    contenders = [Contender(f"{folder.name}/{s.name}" if names.count(s.name) > 1 else s.name, report, s, folder)
                  for report, s, folder in picked]
    _check_contenders(contenders)
    return contenders


def _check_contenders(contenders: list[Contender]) -> None:
    labels = [c.label for c in contenders]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise UsageError(f"two contenders are both called {dup!r}; pass report folders with different names")
    if len(contenders) < 2:
        raise UsageError(f"compare needs at least two subjects, got {len(contenders)} "
                         f"({', '.join(labels) or 'none'}); name two reports, or a report and --subjects X Y")
    broken = [c.label for c in contenders if c.subject.status != "ok"]
    if broken:
        raise UsageError(f"subject(s) {', '.join(map(repr, broken))} did not finish in their run; compare needs finished subjects")


def _definition(entry: dict) -> tuple:
    """What a requirement measures, without its bound: two reports compare a requirement only if it is the same."""
    return tuple((k, json.dumps(entry.get(k), sort_keys=True)) for k in ("check", "where", "metric", "args"))


def _label(entry: dict) -> str:
    from ..spec.model import Requirement

    return Requirement.model_construct(**{k: v for k, v in entry.items() if k in Requirement.model_fields}).label


def not_comparable(contenders: list[Contender]) -> list[str]:
    """Reasons the contenders' reports cannot be compared (empty when they can)."""
    reasons: list[str] = []
    reports = {id(c.report): c for c in contenders}
    first = contenders[0]
    for c in reports.values():
        if c.report is not first.report:
            reasons += _differences(first.report, c.report, f"{first.folder} and {c.folder}")
    return reasons


def _differences(a: Report, b: Report, where: str) -> list[str]:
    """What makes two reports' numbers incomparable."""
    reasons = []
    if a.spec.get("version") != b.spec.get("version"):
        reasons.append(f"{where}: spec language versions differ ({a.spec.get('version')} and {b.spec.get('version')})")
    ra, rb = a.reference or {}, b.reference or {}
    if ra.get("sha256") != rb.get("sha256") or a.spec.get("reference") != b.spec.get("reference"):
        reasons.append(f"{where}: measured against different reference images "
                       f"({ra.get('source', a.spec.get('reference'))} and {rb.get('source', b.spec.get('reference'))})")
    if (ra.get("extractor_digest") or a.features) != (rb.get("extractor_digest") or b.features) or a.features != b.features:
        reasons.append(f"{where}: different feature spaces ({a.features} and {b.features})")
    defs_a = {_label(e): _definition(e) for e in a.spec.get("requirements", [])}
    for e in b.spec.get("requirements", []):
        name = _label(e)
        if name in defs_a and defs_a[name] != _definition(e):
            reasons.append(f"{where}: requirement {name!r} measures different things in the two specs")
    return reasons


# ---------------------------------------------------------------- pairing


def pairing(a: Contender, b: Contender) -> str | None:
    """None when a and b drew the same samples (paired tests apply), else why not."""
    if a.subject.path is not None or b.subject.path is not None:
        return "image folders carry no seeds"
    sa, sb = a.report.spec.get("sampling", {}), b.report.spec.get("sampling", {})
    for key in ("seed", "block_size"):
        if sa.get(key) != sb.get(key):
            return f"sampling.{key} differs ({sa.get(key)} and {sb.get(key)})"
    ra, rb = a.record(), b.record()
    if ra is None or rb is None:
        return "no sample store beside " + ("both reports" if ra is None and rb is None else "one report")
    ta, tb = ra.tensors, rb.tensors
    if ta["index"].shape != tb["index"].shape or not bool((ta["index"] == tb["index"]).all()):
        return "different sample indices (different n, or a sequential run stopped early)"
    if ("asked" in ta) != ("asked" in tb) or ("asked" in ta and not bool((ta["asked"] == tb["asked"]).all())):
        return "different asked labels"
    return None


# ---------------------------------------------------------------- the table


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


# ---------------------------------------------------------------- paired metrics
# Metric-specific recomputation from the stored features. The test on what is made here is
# the engine's (judge.compare.compare_metrics with paired_influence or paired_replicates).

PAIRED_METRICS = ("fid", "vendi")  # recomputable from stored features (and, for FID, the cached reference)


@dataclass(frozen=True)
class PairedMetric:
    """What a paired metric test gets (influences or bootstrap replicates), or why the row is unpaired."""

    influence: tuple[np.ndarray, np.ndarray] | None = None
    replicates: tuple[np.ndarray, np.ndarray] | None = None
    unpaired: str | None = None


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


def paired_metric(m: MetricResult, a: Contender, b: Contender, refs: ReferenceFeatures, bootstrap: int) -> PairedMetric:
    """The paired test's input for metric ``m`` of two contenders that drew the same samples."""
    from ..metrics import functional as Fn

    name = m.registered
    if name not in PAIRED_METRICS:
        return PairedMetric(unpaired=f"{name} is not recomputed from the stored features (paired: "
                                     f"{', '.join(PAIRED_METRICS)})")
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
    for i, a in enumerate(contenders):
        for b in contenders[i + 1:]:
            table.add_pair(a, b, rates, confidence)
    adjusted = holm(table.tested, confidence, sides="both") if table.tested else []
    rows = [_row(d, kind, a, b, why) for d, (kind, a, b, why) in zip(adjusted, table.meta)] + table.untested
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
    if bootstrap < 0 or bootstrap == 1:
        raise UsageError(f"--bootstrap must be 0 (the paired delta method) or a number of replicates >= 2, got {bootstrap}")
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
        paired = PairedMetric(unpaired=why) if why is not None else paired_metric(m, a, b, self.refs, self.bootstrap)
        if paired.unpaired and paired.unpaired.startswith("the reference features"):
            self.no_reference.setdefault(paired.unpaired, []).append(f"{a.label} | {b.label}")
        try:
            self.tested.append(_metric_row(m, mb, a, b, decl, paired))
            self.meta.append(("metric", a, b, paired.unpaired))
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


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _row(d, kind: str, a: Contender, b: Contender, why: str | None) -> Row:
    if d.paired:
        note = "spread recomputed from the stored (float16) features; values are the reports'" if kind == "metric" else None
    else:
        note = f"unpaired: {why}" if why else "unpaired"
    return Row(name=d.requirement, kind=kind, a=a.label, b=b.label, value_a=_finite(d.a), value_b=_finite(d.b),
               n_a=d.n_a, n_b=d.n_b, difference=_finite(d.diff), low=_finite(d.low), high=_finite(d.high),
               p_value=d.p_value, verdict=d.verdict, paired=d.paired, higher_is_better=d.higher_is_better,
               method=d.method, note=note)


def rank(labels: list[str], rows: list[Row]) -> tuple[list[str] | None, str]:
    """A ranking, only where significant differences alone order every pair (best first).

    X is above Y when X is significantly better than Y on at least one row and
    significantly worse on none. The ranking is printed only when that relation orders
    every pair of contenders; otherwise the note says which pairs it leaves open.
    """
    above: set[tuple[str, str]] = set()
    open_pairs = []
    for i, x in enumerate(labels):
        for y in labels[i + 1:]:
            order = _pair_order(x, y, [r for r in rows if (r.a, r.b) == (x, y)])
            if isinstance(order, tuple):
                above.add(order)
            else:
                open_pairs.append(f"{x} and {y}: {order}")
    if open_pairs:
        return None, "no ranking: " + "; ".join(open_pairs)
    wins = {x: sum(1 for (p, _) in above if p == x) for x in labels}
    order = sorted(labels, key=lambda x: -wins[x])
    consistent = all((order[i], order[j]) in above for i in range(len(order)) for j in range(i + 1, len(order)))
    if not consistent:
        return None, "no ranking: the significant differences are not transitive"
    return order, "ranked by significant differences only (each is better on something and worse on nothing)"


def _pair_order(x: str, y: str, rows: list[Row]) -> tuple[str, str] | str:
    """(upper, lower) when one is better on something and worse on nothing, else why not."""
    y_better = any(r.verdict == "better" for r in rows)
    y_worse = any(r.verdict == "worse" for r in rows)
    if y_better and not y_worse:
        return (y, x)
    if y_worse and not y_better:
        return (x, y)
    return "mixed (each better on something)" if y_better else "no significant difference"


def worse_rows(comparison: Comparison, label: str) -> list[Row]:
    """Rows where ``label`` is significantly worse than another contender."""
    return [r for r in comparison.rows
            if (r.b == label and r.verdict == "worse") or (r.a == label and r.verdict == "better")]


def resolve_label(contenders: list[Contender], name: str) -> str:
    """The contender ``name`` means (a label, or a subject name that one contender has); checked
    before any test runs, so a misspelt ``--fail-if-worse`` costs nothing."""
    labels = [c.label for c in contenders]
    if name in labels:
        return name
    by_subject = [c.label for c in contenders if c.subject.name == name]
    if len(by_subject) == 1:
        return by_subject[0]
    near = difflib.get_close_matches(name, labels, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    what = "names several contenders; use one of" if by_subject else "is not a compared subject"
    raise UsageError(f"--fail-if-worse {name!r} {what}{hint} (contenders: {', '.join(labels)})")


# ---------------------------------------------------------------- renderings


def _f(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.4g}"


def _interval(r: Row) -> str:
    return "-" if r.low is None or r.high is None else f"[{_signed(r.low)}, {_signed(r.high)}]"


def _p(p: float | None) -> str:
    return "-" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


HEADER = ["requirement / metric", "A", "B", "value A", "value B", "B - A", "interval", "p (Holm)", "B vs A", "test"]


def _cells(r: Row) -> list[str]:
    method = r.method
    if r.note and r.note.startswith("unpaired:"):  # the note says it, with the reason
        method = method.replace(" (unpaired)", "")
    test = method + (f"; {r.note}" if r.note else "")
    arrow = "higher is better" if r.higher_is_better else "lower is better"
    return [r.name, r.a, r.b, _f(r.value_a), _f(r.value_b), _signed(r.difference), _interval(r), _p(r.p_value),
            r.verdict, f"{test} ({arrow})"]


def _summary(c: Comparison) -> list[str]:
    lines = [f"confidence {c.confidence:g}; multiplicity: {c.correction}",
             "intervals: one-sided bounds of B - A at that confidence, each on its own (not adjusted)"]
    if c.ranking:
        lines.append("ranking: " + " > ".join(c.ranking) + f" ({c.ranking_note})")
    else:
        lines.append(c.ranking_note)
    return lines + c.notes


def to_text(c: Comparison) -> str:
    out = []
    if not c.comparable:
        out += ["NOT COMPARABLE (--force): " + "; ".join(c.not_comparable), ""]
    # the terminal names each row's test in a word or two (the files carry the whole method and note)
    table = [HEADER] + [_cells(r)[:9] + [r.method.split(" (")[0].split(";")[0] or "-"] for r in c.rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    out += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(out + [""] + _summary(c)) + "\n"


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(c: Comparison) -> str:
    lines = ["# evalkit comparison", ""]
    if not c.comparable:
        lines += ["> **NOT COMPARABLE** (compared with --force): " + _md("; ".join(c.not_comparable)), ""]
    lines += [f"- {_md(x.label)}: subject `{_md(x.subject)}` of `{_md(x.report)}`, n = {x.n}" for x in c.contenders]
    lines += [""] + [f"- {_md(x)}" for x in _summary(c)] + [""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in c.rows:
        cells = [_md(x) for x in _cells(r)]
        if r.verdict in ("better", "worse"):
            cells[8] = f"**{cells[8]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(c: Comparison) -> str:
    e = html.escape
    colour = {"better": "#1a7f37", "worse": "#cf222e", "no significant difference": "#57606a", "not tested": "#9a6700"}
    rows = []
    for r in c.rows:
        cells = _cells(r)
        # names may break anywhere (a long subject name must not widen the page); numbers never
        tds = "".join(f'<td class="{"num" if i >= 3 else "name"}">{e(x)}</td>' for i, x in enumerate(cells[:8]))
        tds += f'<td style="color:{colour[r.verdict]};font-weight:bold">{e(cells[8])}</td><td class="m">{e(cells[9])}</td>'
        rows.append(f"<tr>{tds}</tr>")
    banner = ""
    if not c.comparable:
        banner = f'<p class="nc"><strong>NOT COMPARABLE</strong> (compared with --force): {e("; ".join(c.not_comparable))}</p>'
    who = "".join(f"<li>{e(x.label)}: subject <code>{e(x.subject)}</code> of <code>{e(x.report)}</code>, n = {x.n}</li>"
                  for x in c.contenders)
    summary = "".join(f"<li>{e(x)}</li>" for x in _summary(c))
    head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evalkit comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1f2328; max-width: 1240px; }}
table {{ border-collapse: collapse; width: 100%; table-layout: auto; }}
th, td {{ border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }} td.m {{ font-size: 12px; color: #57606a; width: 30%; overflow-wrap: anywhere; }}
td.name {{ overflow-wrap: anywhere; min-width: 6em; }} td.num {{ white-space: nowrap; }}
.nc {{ background: #fff8c5; border: 1px solid #d4a72c; padding: 8px; }}
</style></head><body>
<h1>evalkit comparison</h1>
{banner}<ul>{who}</ul><ul>{summary}</ul>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def write(c: Comparison, out_dir: Path) -> list[Path]:
    """comparison.json, comparison.md and comparison.html, each written atomically."""
    from .._io import atomic_write_text

    files = {
        "comparison.json": json.dumps(c.model_dump(mode="json"), indent=2, allow_nan=False) + "\n",
        "comparison.md": to_markdown(c),
        "comparison.html": to_html(c),
    }
    paths = []
    for name, text in files.items():
        atomic_write_text(out_dir / name, text)
        paths.append(out_dir / name)
    return paths
