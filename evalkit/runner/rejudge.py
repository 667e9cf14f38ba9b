"""``evalkit rejudge OUTDIR SPEC``: judge a finished run's saved states against a changed spec.

The journal's final records hold each subject's fold: per rate requirement its counts,
per-class counts and failing examples; per sample its features, predictions and
memorization ratios (what the run's metrics read). A new spec may change thresholds
(``at_least``/``at_most``), confidences, names, the order of requirements, and add or drop
requirements whose inputs were saved: a rate requirement whose check/expression/args/
per_class the run measured, a metric whose declared needs the saved rows meet. Anything
that needs new samples (another check, another sampler, other features) is refused with
the reason, as is a run whose sequential looks stopped on the old thresholds.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .._errors import SavedStateError, UsageError, present
from ..plan import Plan, make_plan
from ..records.model import Report, SubjectResult
from ..spec.model import Spec
from .context import RunContext
from .environment import environment, pick_device
from .journal import FinalRecord, Journal, read_final, read_manifest as read_journal_manifest, read_subject, spec_changes
from .judge import judge_subject
from .orchestrate import exit_code_of
from .references import References
from .state import RateState, SubjectState

# spec fields the saved states depend on: changing one needs new samples
SAMPLED = ("subjects", "sampling", "features", "classifier", "reference", "training", "resize", "feature_weights")


class RejudgeRefused(UsageError):
    """The new spec asks for something the run did not save."""


def rate_key(req) -> tuple:
    """What a rate requirement measures (thresholds and names aside)."""
    return (req.check, req.where, json.dumps(req.args, sort_keys=True), req.per_class)


def read_manifest(out_dir: Path) -> dict:
    """The run's journal manifest, verified (``journal.read_manifest``), with a spec that is an object."""
    manifest = read_journal_manifest(Path(out_dir) / "journal")
    if not isinstance(manifest.get("spec"), dict) or not isinstance(manifest["spec"].get("sampling", {}), dict):
        raise SavedStateError(f"{Path(out_dir) / 'journal' / 'manifest.json'}: field 'spec': not a spec object")
    return manifest


# fields added after a run may have been journaled: a missing one had its default then
_ADDED_DEFAULTS = {"resize": "refuse"}


def check_sampled_fields(old: dict, new: Spec) -> None:
    ours = new.canonical()
    changed = [c for key in SAMPLED
               for c in spec_changes({key: old.get(key, _ADDED_DEFAULTS.get(key))}, {key: ours.get(key)})]
    if changed:
        raise RejudgeRefused("the new spec changes what was sampled or how it was measured ("
                             + "; ".join(changed) + "); rejudge re-reads saved states only: run the new spec instead")


def rate_sources(old_spec: dict, plan: Plan) -> list[int]:
    """For each rate requirement of the new plan, the index of the old run's rate state it reads."""
    try:
        old_rates = [r for r in Spec.model_validate(old_spec).requirements if r.kind == "rate"]
    except ValueError as exc:
        raise SavedStateError(f"journal/manifest.json: field 'spec': not a valid spec ({str(exc).splitlines()[0][:200]})") from None
    where = {rate_key(r): i for i, r in enumerate(old_rates)}
    out, missing = [], []
    for rp in plan.rate_requirements:
        if rate_key(rp.req) in where:
            out.append(where[rate_key(rp.req)])
        else:
            missing.append(rp)
    if missing:
        raise RejudgeRefused("; ".join(f"{plan.spec.where('requirements', rp.index)}: requirement {rp.name!r} measures what "
                                       "the run did not (per-sample outcomes are saved only as counts of the run's own "
                                       "rate requirements)" for rp in missing))
    return out


def check_metric_inputs(plan: Plan, state: SubjectState, subject: str) -> None:
    for rp in plan.metric_requirements:
        if len(state.row("features")) == 0:
            raise RejudgeRefused(f"requirement {rp.name!r}: subject {subject!r} has no saved features "
                                 "(the run had no metric or training requirement, so none were kept)")
        # every state the metric requires must have been folded by the run (optional inputs
        # may be absent, as in a run; what a subject cannot provide is refused by validation)
        metric = present(rp.metric, f"the metric of {rp.name!r}")
        lacking = [st.name for st in metric.decl.states if st.name not in state.rows and st.source in metric.inputs]
        if lacking:
            raise RejudgeRefused(f"requirement {rp.name!r} reads the state(s) {', '.join(lacking)}, which the run did not "
                                 f"save for subject {subject!r}")


def remap(final: FinalRecord, sources: list[int], keep: int) -> SubjectState:
    s = final.state
    rates = [RateState(r.passed, r.n, r.undefined, {c: list(v) for c, v in r.per_class.items()}, r.failing[:keep])
             for r in (s.rates[i] for i in sources)]
    return SubjectState(rates, s.rows, s.n, s.nonfinite, s.samples)


def rejudge(out_dir: Path | str, spec: Spec, *, device: str = "cpu", strict: bool = False, cache: bool = True) -> Report:
    """A new Report for ``spec`` from the saved states of the run in ``out_dir`` (nothing sampled)."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    old = manifest.get("spec") or {}
    check_sampled_fields(old, spec)
    if old.get("sampling", {}).get("sequential"):
        raise RejudgeRefused("the run used sequential looks, which stopped on the old thresholds and confidences; "
                             "verdicts for new ones would not keep their error rate: run the new spec instead")
    plan = make_plan(spec)
    sources = rate_sources(old, plan)
    dev = pick_device(device)
    ctx = RunContext(plan, dev, References(plan.spec, dev, cache=cache))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    subjects = []
    journal = Journal.reader(out_dir, plan, manifest)  # the subjects and sampling are the run's (checked above)
    for sp in plan.subjects:
        final = read_final(journal, sp)
        ident = read_subject(journal, sp)
        res = SubjectResult(name=sp.name, model=sp.spec.model, path=sp.spec.path, params=dict(sp.spec.params),
                            n_planned=spec.sampling.size, weights_sha256=ident.get("weights_sha256"),
                            image_shape=ident.get("image_shape"), n=final.state.n, nonfinite=final.state.nonfinite)
        state = remap(final, sources, ctx.keep)
        check_metric_inputs(plan, state, sp.name)
        judge_subject(ctx, sp, state, tuple(ident["image_shape"]), None, res)
        subjects.append(res)
    report = Report(name=spec.name, spec=spec.canonical(), spec_sha256=spec.digest(), spec_path=spec.source,
                    started=started, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    seed=spec.sampling.seed, environment=environment(dev), reference=ctx.refs.info(),
                    features=spec.features, classifier=plan.label_judge, subjects=subjects, rejudged_from=str(out_dir))
    report.exit_code = exit_code_of(report, strict)
    return report


__all__ = ["RejudgeRefused", "rejudge"]
