"""The report: a typed, versioned record that evalkit and other tools read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .._errors import DataError

# MAJOR.MINOR: a reader accepts any MINOR of its MAJOR (fields it does not know are
# ignored), and refuses another MAJOR. Add a field: MINOR + 1. Rename, remove or change
# the meaning of one: MAJOR + 1. (Reports of the unversioned layout said 1: read as 1.0.)
REPORT_SCHEMA_VERSION = "1.5"
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE", "ERROR"]


class Record(BaseModel):
    """Base of every record evalkit writes and reads back."""

    # unknown fields are refused here; records.reading drops (and logs) those of a later MINOR first
    model_config = ConfigDict(extra="forbid")


class FailingExample(Record):
    """A sample that failed a requirement, with what was measured on it."""

    index: int = Field(description="Global sample index; `evalkit reproduce` regenerates it from the seed.")
    label: int | None = Field(None, description="The class asked for this sample.")
    values: dict[str, float] = Field(default_factory=dict, description="Measurements of the sample.")


class ClassResult(Record):
    """One class of a per-class requirement."""

    label: int
    passed: int
    n: int
    lower: float
    upper: float
    verdict: Verdict


class Look(Record):
    """One sequential look at a rate requirement: the counts so far and the one-sided
    Clopper-Pearson bounds at the confidence that look was allowed to spend."""

    n: int
    passed: int
    lower: float
    upper: float
    confidence: float


class EquivalenceResult(Record):
    """An equivalence (TOST) or non-inferiority verdict on a difference from the baseline (1.5)."""

    requirement: str = Field(description="The rate requirement or metric tested.")

    test: Literal["equivalent", "non_inferior"] = Field(description="`equivalent`: |current - baseline| < margin "
                                                         "(two one-sided tests); `non_inferior`: worse by less than margin.")
    margin: float = Field(description="The spec's margin, in the value's units (rate points, FID points, ...).")
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    difference: float = Field(description="current - baseline.")
    low: float | None = Field(None, description="Lower bound of current - baseline at the family-adjusted confidence.")
    high: float | None = Field(None, description="Upper bound of current - baseline at the family-adjusted confidence.")
    p_value: float = Field(description="Holm-adjusted p-value of PASS over the table's equivalence and non-inferiority tests.")
    confidence: float = Field(description="The family-wise level (the spec's confidence).")
    paired: bool = False
    method: str = ""
    n_to_decide: int | None = Field(None, description="INCONCLUSIVE: samples per side at which the observed spread "
                                    "would decide PASS, if the difference held; None when no n would.")


class BaselineComparison(Record):
    """One requirement against its counterpart in the ``--baseline`` report."""

    baseline_subject: str = Field(description="The baseline report's subject this one was compared with.")
    baseline_value: float | None = None
    value: float | None = None
    difference: float | None = Field(None, description="Current value minus baseline value.")
    low: float | None = Field(None, description="One-sided lower confidence bound of the difference, when the test gives one.")
    high: float | None = Field(None, description="One-sided upper confidence bound of the difference, when the test gives one.")
    tolerance: float = Field(0.0, description="Worsening allowed by regression.tolerance before it counts.")
    verdict: Literal["REGRESSED", "no significant regression"]
    method: str | None = None
    p_value: float | None = Field(None, description="Holm-adjusted p-value of 'worse than the baseline by more than "
                                  "the tolerance' over the whole baseline table: REGRESSED exactly when <= 1 - the spec's "
                                  "confidence (1.5).")
    adjusted_low: float | None = Field(None, description="Lower bound of the difference at the confidence its Holm step "
                                       "decided at (judge.compare.decided_level): consistent with the verdict (1.5).")
    adjusted_high: float | None = Field(None, description="Upper bound of the difference, likewise (1.5).")
    pairing: str | None = Field(None, description="Paired with the baseline's samples, or why not (1.5).")
    equivalence: EquivalenceResult | None = Field(None, description="The equivalence or non-inferiority verdict "
                                                    "the spec's regression: asked for (1.5).")


class RequirementResult(Record):
    """The verdict on one requirement for one subject."""

    name: str = Field(description="The requirement's name (or its check/expression/metric).")
    kind: Literal["rate", "metric"]
    verdict: Verdict
    confidence: float = Field(description="Confidence the verdict holds at (after any correction for looks/classes).")
    target: float | None = Field(None, description="at_least for rates; the bound for metrics.")
    at_least: float | None = None
    at_most: float | None = None
    passed: int | None = Field(None, description="Samples that passed (rates).")
    n: int | None = Field(None, description="Samples judged.")
    undefined: int = Field(0, description="Samples where a where: expression was undefined (counted as failing).")
    value: float | None = Field(None, description="Observed rate or metric value.")
    lower: float | None = Field(None, description="One-sided lower confidence bound.")
    upper: float | None = Field(None, description="One-sided upper confidence bound.")
    method: str | None = Field(None, description="How the bounds were computed.")
    more_samples: int | None = Field(None, description="For INCONCLUSIVE: further samples likely to decide, if the rate held.")
    per_class: list[ClassResult] = Field(default_factory=list)
    correction: str | None = Field(None, description="Multiple-testing correction applied (per-class, sequential looks).")
    failing: list[FailingExample] = Field(default_factory=list)
    message: str | None = None
    looks: list[Look] = Field(default_factory=list, description="Sequential mode: the overall rate's bounds at every look, in order.")
    regressed: bool = Field(False, description="Significantly worse than the baseline by more than its tolerance (--baseline).")
    baseline: BaselineComparison | None = Field(None, description="The comparison with the baseline, when one was made.")


class MetricResult(Record):
    """A distribution metric with its interval."""

    name: str = Field(description="Readable: the metric and the arguments the spec gave, e.g. 'recall(k=4)'.")
    metric: str | None = Field(None, description="The registered metric's name (its declaration gives orientation and method).")
    args: dict[str, Any] = Field(default_factory=dict, description="Every argument it was computed with, defaults included.")
    value: float
    lower: float
    upper: float
    confidence: float
    method: str
    n: int
    n_reference: int | None = None
    note: str | None = None
    extra: dict[str, float] = Field(default_factory=dict)
    upper_holds: bool = Field(True, description="False where the upper bound's assumptions fail (heavy-tailed features "
                              "for KID and FID; the note says why): shown, not claimed, so no at_most requirement PASSes "
                              "and no at_least one FAILs on it (1.2).")
    lower_holds: bool = Field(True, description="The same for the lower bound (KID with heavy-tailed features): no "
                              "at_most requirement FAILs and no at_least one PASSes on it (1.2).")

    @property
    def bounds_hold(self) -> bool:
        """Both bounds claimed: the comparisons test only such intervals."""
        return self.upper_holds and self.lower_holds

    @property
    def registered(self) -> str:
        """The registered metric's name (reports written before ``metric`` existed name built-ins plainly)."""
        return self.metric if self.metric is not None else self.name

    def declaration(self) -> Any:
        """The metric's typed declaration (``contract.MetricDecl``: orientation, interval, arguments),
        or None when this evalkit does not know it (a plugin's metric that is not loaded here)."""
        from .. import registry

        registry.load_plugins()
        return registry.metrics.get(self.registered).decl if self.registered in registry.metrics else None

    def same_measure(self, other: "MetricResult") -> bool:
        """Whether ``other`` measures the same thing: the same metric with every argument equal (defaults included)."""
        return self.registered == other.registered and self.args == other.args


class DifferenceResult(Record):
    """One comparison against the baseline, as the comparison engine (judge/compare.py) tested it."""

    requirement: str = Field(description="The rate requirement or metric compared.")
    kind: Literal["rate", "metric"]
    baseline: float = Field(description="The baseline's value (A).")
    current: float = Field(description="This run's value (B).")
    diff: float = Field(description="current - baseline.")
    low: float = Field(description="One-sided lower bound on current - baseline at `confidence` (unadjusted).")
    high: float = Field(description="One-sided upper bound on current - baseline at `confidence` (unadjusted).")
    tolerance: float
    higher_is_better: bool
    p_value: float = Field(description="Holm-adjusted p-value of 'worse than the baseline by more than the tolerance'.")
    verdict: Literal["better", "worse", "no significant difference"]
    method: str
    n_baseline: int | None = None
    n_current: int | None = None
    adjusted_low: float | None = Field(None, description="Lower bound at the confidence this row's Holm step decided at "
                                       "(1 - alpha*p/p_adj): at or beyond the tolerance exactly when the verdict says so (1.5).")
    adjusted_high: float | None = Field(None, description="Upper bound, likewise (1.5).")
    paired: bool = Field(False, description="Tested on the same samples as the baseline's (1.5).")

    @classmethod
    def of(cls, d: Any) -> "DifferenceResult":
        return cls(requirement=d.requirement, kind=d.kind, baseline=d.a, current=d.b, diff=d.diff, low=d.low, high=d.high,
                   tolerance=d.tolerance, higher_is_better=d.higher_is_better, p_value=d.p_value, verdict=d.verdict,
                   method=d.method, n_baseline=d.n_a, n_current=d.n_b, adjusted_low=finite_or_none(d.adj_low),
                   adjusted_high=finite_or_none(d.adj_high), paired=d.paired)


def finite_or_none(x: float | None) -> float | None:
    """A float for a record (strict JSON holds no NaN or infinity): None where it is not finite."""
    import math

    return float(x) if x is not None and math.isfinite(x) else None


class SubjectResult(Record):
    """Everything measured on one subject."""

    name: str
    model: str | None = None
    path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: str | None = Field(None, description="The weights' identity (runner.identity): the SHA-256 of the one "
                                       "weights file, or of the digests of a user generator's checkpoint, declared weights "
                                       "files and module source; None when there are none (1.3: user generators too).")
    samples_sha256: str | None = Field(None, description="Content digest of the subject's sample store (samples/), "
                                       "checked before the store is believed (1.3).")
    image_shape: list[int] | None = None
    status: Literal["ok", "broken", "interrupted"] = "ok"
    error: str | None = Field(None, description="Why the subject broke, if it did.")
    n: int = Field(0, description="Samples drawn and observed.")
    n_planned: int = Field(0, description="Samples the spec asked for.")
    nonfinite: int = Field(0, description="Samples holding NaN/Inf pixels.")
    stopped_early: bool = Field(False, description="Sequential mode decided every requirement before n.")
    seconds: float = 0.0
    samples_per_second: float | None = Field(None, description="Sampling and observation throughput (metrics excluded).")
    requirements: list[RequirementResult] = Field(default_factory=list)
    metrics: list[MetricResult] = Field(default_factory=list)
    regressions: list[str] = Field(default_factory=list, description="Requirements/metrics significantly worse than the baseline.")
    differences: list[DifferenceResult] = Field(default_factory=list, description="Every comparison with the baseline.")
    equivalences: list[EquivalenceResult] = Field(default_factory=list, description="Every equivalence and "
                                                  "non-inferiority verdict against the baseline (1.5).")

    @property
    def verdicts(self) -> list[str]:
        return [r.verdict for r in self.requirements]


class BaselinePair(Record):
    """A subject of this run and the baseline subject it was compared with."""

    subject: str
    baseline_subject: str
    matched_by: Literal["name", "model"] = Field(description="`name`: equal names; `model`: the one subject of that model on each side.")
    note: str | None = Field(None, description="What differs between the two (params changed, ...).")


class Environment(Record):
    python: str
    platform: str
    torch: str
    evalkit: str
    device: str
    packages: dict[str, str] = Field(default_factory=dict)
    world_size: int = 1


class Report(Record):
    """The result of one `evalkit run`."""

    schema_version: str = Field(REPORT_SCHEMA_VERSION, description="Version of this record's layout, MAJOR.MINOR.")
    name: str
    spec: dict[str, Any] = Field(description="The validated spec, in canonical form.")
    spec_sha256: str
    spec_path: str | None = None
    started: str
    finished: str | None = None
    seed: int
    environment: Environment
    reference: dict[str, Any] | None = Field(None, description="What the reference set was: source, size, feature digest; "
                                             "1.4: `feature_space` (name, weights digest, dim, declared preprocessing, "
                                             "evalkit's resize filter), which compare and --baseline check.")
    features: str | None = None
    classifier: str | None = Field(None, description="The network that judged labels (the spec's `classifier:`), "
                                   "when a requirement read it; None when none did (1.4).")
    subjects: list[SubjectResult] = Field(default_factory=list)
    baseline: str | None = Field(None, description="Report compared against, in baseline mode.")
    baseline_pairs: list[BaselinePair] = Field(default_factory=list, description="Which subject was compared with which baseline subject.")
    baseline_not_compared: list[str] = Field(default_factory=list, description="What --baseline-partial left uncompared, and why.")
    baseline_correction: str | None = Field(None, description="Multiplicity correction over the whole baseline table.")
    equivalence_correction: str | None = Field(None, description="Multiplicity correction over the equivalence and "
                                               "non-inferiority tests (1.5).")
    exit_code: int = 0
    strict: bool = Field(False, description="Run with --strict: INCONCLUSIVE counts as a failure (exit code, JUnit).")
    interrupted: bool = False
    interrupted_by: Literal["SIGINT", "SIGTERM"] | None = Field(None, description="The signal that stopped the run (1.1).")
    rejudged_from: str | None = Field(None, description="`evalkit rejudge`: the run folder whose saved states were judged (1.1).")
    baseline_source: str | None = Field(None, description="Which baseline was used and why: the path given, or the "
                                        "run --baseline blessed|previous|RUN-ID found in the run history.")

    # where this run's files went (not part of the record): set by ``evalkit.run``
    _written_to: Path | None = PrivateAttr(None)
    _junit_written_to: Path | None = PrivateAttr(None)
    _write_errors: list[str] = PrivateAttr(default_factory=list)

    def record_outputs(self, folder: Path | None, junit: Path | None, errors: list[str]) -> None:
        """Note where the files of this run were written (the asked folder or a fallback)."""
        self._written_to, self._junit_written_to, self._write_errors = folder, junit, list(errors)

    @property
    def written_to(self) -> Path | None:
        """The folder holding this run's report files (None if not written, or nowhere could be)."""
        return self._written_to

    @property
    def junit_written_to(self) -> Path | None:
        return self._junit_written_to

    @property
    def write_errors(self) -> list[str]:
        """Why files could not go where asked (empty when they did)."""
        return list(self._write_errors)

    def subject(self, name: str) -> SubjectResult:
        for s in self.subjects:
            if s.name == name:
                return s
        import difflib

        near = difflib.get_close_matches(name, [s.name for s in self.subjects], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise DataError(f"report has no subject {name!r}{hint} (subjects: {', '.join(s.name for s in self.subjects)})")


def schema_major(version: object) -> int | None:
    """The MAJOR of a schema version ("1.3" -> 1; the unversioned layout's 1 -> 1), None if unreadable."""
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    if isinstance(version, str):
        head = version.split(".", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def equivalence_record(e: Any) -> EquivalenceResult:
    """The record of a judged ``judge.equivalence.Equivalence``."""
    return EquivalenceResult(requirement=e.requirement, test=e.test, margin=e.margin, verdict=e.verdict,
                             difference=e.diff, low=finite_or_none(e.low), high=finite_or_none(e.high),
                             p_value=e.p_value, confidence=e.confidence, paired=e.paired, method=e.method,
                             n_to_decide=e.n_to_decide)
