"""``--baseline`` that cannot silently compare nothing.

Before sampling, :func:`match_baseline` pairs every subject of the spec with a
subject of the baseline report, and every requirement with the baseline's
requirement of the same name. Anything left unpaired is an error (exit 2, nothing
sampled) unless ``--baseline-partial`` asks to compare only what pairs; a baseline
that pairs nothing at all is an error even then.

How subjects pair (in this order):

1. **by name**: a subject whose name (its `name:`, or the default "model(params)")
   equals a baseline subject's name;
2. **by model**: otherwise, a subject *without* an explicit `name:` pairs with the
   baseline subject of the same `model:` (or `path:`) when each side has exactly
   one unpaired subject of it. So changing a param (`guidance: 2.0` -> `1.5`) still
   compares the model with its old self, and the printed table says the params
   changed. Where a model appears several times, give each subject a `name:` that
   stays the same across runs.

A subject with an explicit `name:` pairs by that name only: a name is a promise.

The test itself (is the difference significant beyond the tolerance?) is the
comparison engine's (``compare.baseline.compare``, built on ``judge.compare``); this
module aligns the baseline to the run, hands it over, and records the outcome on
each requirement (``RequirementResult.regressed`` and ``.baseline``) so every
rendering can show REGRESSED.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .. import registry
from .._errors import UsageError, present
from ..spec.model import Spec, Subject
from ..records.model import BaselineComparison, BaselinePair, Report, RequirementResult, SubjectResult


@dataclass
class BaselineMatch:
    """What a run will compare with its baseline, decided before sampling."""

    path: str
    pairs: list[BaselinePair]
    requirements: dict[str, list[str]]  # current subject -> requirement names compared
    not_compared: list[str] = field(default_factory=list)  # why each thing is left out (partial mode)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.requirements.values())


def metric_key(req) -> str:
    """The name the runner gives a metric requirement's result (metric plus its args)."""
    tag = "(" + ", ".join(f"{k}={v}" for k, v in sorted(req.args.items())) + ")" if req.args else ""
    return f"{req.metric}{tag}"


def _source(s: Subject | SubjectResult) -> str:
    return s.model or s.path or ""


def _params_note(sub: Subject, base: SubjectResult) -> str | None:
    if sub.params == base.params:
        return None
    keys = sorted(set(sub.params) | set(base.params))
    changes = [f"{k} {base.params.get(k, '(unset)')} -> {sub.params.get(k, '(unset)')}"
               for k in keys if sub.params.get(k) != base.params.get(k)]
    return "params changed: " + ", ".join(changes)


def _pair_subjects(spec: Spec, baseline: Report, problems: list[str]) -> list[tuple[Subject, BaselinePair]]:
    by_name = {b.name: b for b in baseline.subjects}
    paired: list[tuple[Subject, BaselinePair]] = []
    used: set[str] = set()
    pending = []
    for sub in spec.subjects:
        if sub.display_name in by_name:
            paired.append((sub, BaselinePair(subject=sub.display_name, baseline_subject=sub.display_name, matched_by="name")))
            used.add(sub.display_name)
        else:
            pending.append(sub)
    for sub in pending:
        pair, problem = _pair_by_model(sub, pending, baseline, used)
        if pair is not None:
            used.add(pair.baseline_subject)
            paired.append((sub, pair))
        else:
            problems.append(problem)
    return paired


def _pair_by_model(sub: Subject, pending: list[Subject], baseline: Report, used: set[str]) -> tuple[BaselinePair | None, str]:
    """The pair of a subject whose name is not in the baseline, or why it has none."""
    cur = sub.display_name
    names = ", ".join(repr(b.name) for b in baseline.subjects) or "none"
    if sub.name:
        near = difflib.get_close_matches(cur, [b.name for b in baseline.subjects], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return None, f"subject {cur!r} (an explicit name) is not in the baseline{hint} (baseline subjects: {names})"
    mine = [s for s in pending if not s.name and _source(s) == _source(sub)]
    theirs = [b for b in baseline.subjects if b.name not in used and _source(b) == _source(sub)]
    if len(mine) == 1 and len(theirs) == 1:
        b = theirs[0]
        return BaselinePair(subject=cur, baseline_subject=b.name, matched_by="model", note=_params_note(sub, b)), ""
    if not theirs:
        return None, (f"subject {cur!r}: the baseline has no subject named so, nor one of model {_source(sub)!r} "
                      f"(baseline subjects: {names})")
    return None, (f"subject {cur!r}: {len(mine)} subjects of model {_source(sub)!r} here and {len(theirs)} in the "
                  f"baseline, so none pairs by model; give each a `name:` that stays the same across runs")


def _comparable_measure(spec: Spec, baseline: Report) -> str | None:
    """Why metrics of this spec cannot be compared with the baseline's (None when they can)."""
    mine = spec.canonical()
    theirs = baseline.spec
    if theirs.get("reference") != mine.get("reference"):
        return f"the reference differs (baseline {theirs.get('reference')}, now {mine.get('reference')})"
    if (baseline.features or theirs.get("features")) != spec.features:
        return f"the feature space differs (baseline {baseline.features or theirs.get('features')!r}, now {spec.features!r})"
    for key, default in (("resize", "refuse"), ("feature_weights", None)):
        if theirs.get(key, default) != mine.get(key, default):
            return (f"the feature space's {key} differs (baseline {theirs.get(key, default)!r}, now "
                    f"{mine.get(key, default)!r}): the same images give other features")
    recorded = ((baseline.reference or {}).get("feature_space") or {}).get("preprocessing")
    decl = registry.features.get(spec.features).decl if spec.features in registry.features else None
    # a feature space reading the user's weights builds its preprocessing from them (a CLIP folder's own
    # size): its declaration is a default, so it is compared after the run, on what both runs recorded
    declared = decl.preprocessing if decl is not None and not decl.reads_weights else None
    if recorded is not None and declared is not None and recorded != declared.as_dict():
        return f"the feature space's preprocessing differs (baseline {recorded}, now {declared.as_dict()})"
    return None


def feature_space_difference(report: Report, baseline: Report) -> str | None:
    """Why the two runs' distribution metrics were computed in different feature spaces, as their
    records say after the run (weights digest, declared preprocessing, evalkit's resizing), or None.
    A baseline written before feature spaces were recorded (schema < 1.4) is compared by name only."""
    a = (report.reference or {}).get("feature_space")
    b = (baseline.reference or {}).get("feature_space")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    for key in ("name", "digest", "preprocessing", "resize", "dim"):
        if a.get(key) != b.get(key):
            return f"the feature space's {key} differs (baseline {b.get(key)!r}, now {a.get(key)!r})"
    return None


def _requirement_gap(req, base: SubjectResult, theirs: dict[str, RequirementResult], metrics_differ: str | None) -> str:
    """Why a requirement cannot be compared with the baseline subject's ("" when it can)."""
    br = theirs.get(req.label)
    if br is None:
        if base.status != "ok":
            return f"baseline subject {base.name!r} did not finish ({base.status}: {base.error})"
        near = difflib.get_close_matches(req.label, list(theirs), n=1)
        return f"not in baseline subject {base.name!r}" + (f"; did you mean {near[0]!r}?" if near else "")
    if br.kind != req.kind:
        return f"a {req.kind} requirement here but a {br.kind} one in the baseline"
    if br.value is None:
        return f"the baseline has no value for it ({br.verdict})"
    if req.kind == "metric" and metrics_differ:
        return f"not comparable, {metrics_differ}"
    return ""


def match_baseline(spec: Spec, baseline: Report, *, path: str, partial: bool = False) -> BaselineMatch:
    """Pair the spec's subjects and requirements with the baseline's; raise UsageError on gaps."""
    problems: list[str] = []
    pairs = _pair_subjects(spec, baseline, problems)
    metrics_differ = _comparable_measure(spec, baseline)
    compared: dict[str, list[str]] = {}
    for sub, pair in pairs:
        base = baseline.subject(pair.baseline_subject)
        theirs = {r.name: r for r in base.requirements}
        names = []
        for req in spec.requirements:
            why = _requirement_gap(req, base, theirs, metrics_differ)
            if why:
                problems.append(f"subject {pair.subject!r}, requirement {req.label!r}: {why}")
            else:
                names.append(req.label)
        compared[pair.subject] = names
    match = BaselineMatch(path=path, pairs=[p for _, p in pairs], requirements=compared, not_compared=problems)
    fix = ("fix: point --baseline at a report of this spec, give subjects a `name:` that stays the same across runs, "
           "or pass --baseline-partial to compare only what matches")
    if problems and not partial:
        raise UsageError(f"--baseline {path}: {len(problems)} thing(s) of this spec have no counterpart in the baseline, "
                         "so the run would not test them for regressions:\n  " + "\n  ".join(problems) + f"\n{fix}")
    if match.count == 0:
        raise UsageError(f"--baseline {path}: nothing of this spec matches the baseline, so the run would compare "
                         "nothing:\n  " + "\n  ".join(problems or ["the spec has no requirements"]) + f"\n{fix}")
    return match


def align(baseline: Report, match: BaselineMatch, spec: Spec) -> Report:
    """A copy of the baseline whose subjects carry this run's names and only the compared requirements."""
    keys = {r.label: metric_key(r) for r in spec.requirements if r.metric is not None}
    subjects = []
    for pair in match.pairs:
        b = baseline.subject(pair.baseline_subject)
        keep = set(match.requirements.get(pair.subject, []))
        wanted_metrics = {keys[name] for name in keep if name in keys}
        subjects.append(b.model_copy(update={
            "name": pair.subject,
            "requirements": [r for r in b.requirements if r.name in keep],
            "metrics": [m for m in b.metrics if m.name in wanted_metrics],
        }))
    return baseline.model_copy(update={"subjects": subjects})


def keys_of(spec: Spec) -> dict[str, str]:
    """Requirement label -> the metric result name, for the metric requirements."""
    return {r.label: metric_key(r) for r in spec.requirements if r.metric is not None}


def questions_of(spec: Spec) -> dict[str, tuple[str, float]]:
    """The spec's equivalence / non-inferiority margins, by requirement name and by metric result name."""
    keys = keys_of(spec)
    out: dict[str, tuple[str, float]] = {}
    for test in ("equivalent", "non_inferior"):
        for name, margin in getattr(spec.regression, test).items():
            out[name] = (test, float(margin))
            if name in keys:  # a metric requirement named by its label: its result is named by the metric key
                out[keys[name]] = (test, float(margin))
    return out


def _tolerance(spec: Spec, req_name: str, key: str | None) -> float:
    """The spec's tolerance for a requirement: by its name, its metric's readable key, or the metric's name."""
    tol = spec.regression.tolerance
    if req_name in tol:
        return float(tol[req_name])
    req = next((r for r in spec.requirements if r.label == req_name), None)
    metric = req.metric if req is not None else None
    return float(tol.get(key, tol.get(metric, 0.0) if metric is not None else 0.0)) if key is not None else 0.0


def annotate(report: Report, aligned: Report, match: BaselineMatch, spec: Spec) -> None:
    """Record, on each compared requirement, the baseline value, the difference and the verdict."""
    keys = {r.label: metric_key(r) for r in spec.requirements if r.metric is not None}
    report.baseline = match.path
    report.baseline_pairs = list(match.pairs)
    report.baseline_not_compared = list(match.not_compared)
    base = {s.name: s for s in aligned.subjects}
    pairs = {p.subject: p.baseline_subject for p in match.pairs}
    for s in report.subjects:
        b = base.get(s.name)
        if b is None:
            continue
        if s.status != "ok":
            report.baseline_not_compared.append(f"subject {s.name!r}: not compared, the run did not finish ({s.status})")
            continue
        theirs = {r.name: r for r in b.requirements}
        for r in s.requirements:
            br = theirs.get(r.name)
            if br is not None and r.value is not None:
                _record(r, br, s, pairs[s.name], keys.get(r.name), spec)


def _record(r: RequirementResult, br: RequirementResult, s: SubjectResult, baseline_subject: str, key: str | None,
            spec: Spec) -> None:
    """Flag ``r`` regressed if the engine listed it (by requirement or metric name) and keep the comparison."""
    r.regressed = r.name in s.regressions or (key is not None and key in s.regressions)
    r.baseline = BaselineComparison(
        baseline_subject=baseline_subject, baseline_value=br.value, value=r.value,
        difference=present(r.value, "the value") - present(br.value, "the baseline's value"),
        tolerance=_tolerance(spec, r.name, key), verdict="REGRESSED" if r.regressed else "no significant regression",
    )
    # the engine's own record of the test, where it keeps one: its interval, tolerance and method
    d = next((d for d in getattr(s, "differences", []) if d.requirement in (r.name, key)), None)
    if d is not None:
        r.baseline.low, r.baseline.high = d.low, d.high
        r.baseline.tolerance, r.baseline.method = d.tolerance, d.method
        r.baseline.p_value, r.baseline.adjusted_low, r.baseline.adjusted_high = d.p_value, d.adjusted_low, d.adjusted_high
    r.baseline.equivalence = next((e for e in s.equivalences if e.requirement in (r.name, key)), None)


def apply_baseline(report: Report, baseline: Report, match: BaselineMatch, spec: Spec,
                   records: dict | None = None) -> Report:
    """Compare the run with its baseline (the engine decides), then record the outcome per requirement.

    ``records``: this run's sample records (subject -> (tensors, meta), as ``api.run`` holds
    them); with the baseline's sample store they pair the tests (``compare.pairing``)."""
    from .baseline import compare
    from .pairing import pair_with_baseline

    aligned = align(baseline, match, spec)
    differs = feature_space_difference(report, baseline)
    if differs is not None:  # metrics in two feature spaces are not comparable: only the rates are compared
        keys = {r.label: metric_key(r) for r in spec.requirements if r.metric is not None}
        for s in aligned.subjects:
            s.requirements = [r for r in s.requirements if r.name not in keys]
            s.metrics = []
    pairing = pair_with_baseline(report, records, baseline, match)
    compare(report, aligned, spec.regression.tolerance, match.path, level=spec.confidence, pairing=pairing,
            questions=questions_of(spec))
    annotate(report, aligned, match, spec)
    for s in report.subjects:
        pair = pairing.get(s.name)
        for r in s.requirements:
            if r.baseline is not None and pair is not None:
                r.baseline.pairing = pair.words(r.name, keys_of(spec).get(r.name))
    if differs is not None:
        report.baseline_not_compared.append(f"metric requirements not compared with the baseline: {differs}")
    return report


def equivalence_code(report: Report, strict: bool) -> int:
    """1 when an equivalence or non-inferiority verdict FAILed (or, under ``strict``, is INCONCLUSIVE), else 0."""
    verdicts = {r.baseline.equivalence.verdict for s in report.subjects for r in s.requirements
                if r.baseline is not None and r.baseline.equivalence is not None}
    return 1 if "FAIL" in verdicts or (strict and "INCONCLUSIVE" in verdicts) else 0
