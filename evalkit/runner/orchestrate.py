"""The run, end to end: per subject, build the source, fold its batches, gather, judge."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from ..boundary import subject_failure, subject_time_limit
from ..plan import Plan, SubjectPlan, make_plan
from ..report.model import Report, SubjectResult
from ..report.samples import new_log, sample_record
from ..report.trace import attach_looks
from ..spec.model import Spec
from .context import RunContext
from .environment import environment, init_distributed, pick_device, process_rank
from .gather import gather_state
from .judge import judge_subject
from .loop import build_source, check_needs, sample_loop
from .references import References
from .state import RateState, SubjectState

log = logging.getLogger(__name__)


def new_state(plan: Plan) -> SubjectState:
    return SubjectState([RateState() for _ in plan.rate_requirements], samples=new_log(plan))


def measure_subject(ctx: RunContext, sp: SubjectPlan, state: SubjectState, res: SubjectResult) -> SubjectState:
    """Sample, observe, gather and judge one subject into ``res``; return the merged state."""
    limit = subject_time_limit(ctx.spec, sp.spec, ctx.time_limit)  # charged: building and sampling, not metrics
    with limit.running():
        source, weights = build_source(ctx, sp)
    res.image_shape = list(source.image_shape)
    if weights is not None:
        res.weights_sha256 = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    check_needs(ctx, sp, source)
    shape = tuple(source.image_shape)
    if "real" in ctx.plan.needs:
        ctx.refs.real_features(shape)  # fail fast on a bad reference, before sampling
    if "training" in ctx.plan.needs:
        ctx.refs.memorization(shape)  # built once, outside the timed sampling loop
    t_loop = time.monotonic()
    with limit.running():
        end = sample_loop(ctx, sp, source, state, shape)
    loop_s = time.monotonic() - t_loop
    res.stopped_early = end.stopped_early
    res.samples_per_second = round(state.n / loop_s, 2) if loop_s > 0 and state.n else None
    state = gather_state(state, ctx.world, ctx.keep)
    res.n, res.nonfinite = state.n, state.nonfinite
    judge_subject(ctx, sp, state, shape, end.look_conf, res)
    attach_looks(res, end.trace)
    if ctx.sample_sink is not None and ctx.rank == 0:
        ctx.sample_sink[sp.name] = sample_record(sp.name, state.samples, state.features.value(), ctx.spec.features)
    return state


def run_subject(ctx: RunContext, sp: SubjectPlan) -> tuple[SubjectResult, bool]:
    """(result, interrupted). A subject that breaks is reported broken; the others still run."""
    res = SubjectResult(name=sp.name, model=sp.spec.model, path=sp.spec.path, params=dict(sp.spec.params),
                        n_planned=ctx.spec.sampling.size)
    t0 = time.monotonic()
    state = new_state(ctx.plan)
    interrupted = False
    try:
        state = measure_subject(ctx, sp, state, res)
    except KeyboardInterrupt:
        res.status, res.error = "interrupted", "interrupted by the user (Ctrl-C)"
        interrupted = True
    except BaseException as exc:  # user code may raise anything, sys.exit too; the other subjects still run
        res.status, res.error = "broken", subject_failure(exc)
        log.debug("subject %s broke", sp.name, exc_info=True)
    if res.status != "ok" or not res.n:
        res.n, res.nonfinite = state.n, state.nonfinite
    res.seconds = round(time.monotonic() - t0, 3)
    return res, interrupted


def exit_code_of(report: Report, strict: bool = False) -> int:
    """0 all pass; 1 a requirement failed/regressed (or inconclusive under strict); 3 broken; 130 interrupted.

    Never 2: validation (``plan.make_plan``) raises every spec problem before anything runs,
    so whatever breaks a subject afterwards, whatever its type, is the run breaking."""
    subs = report.subjects
    if report.interrupted:
        return 130
    if any(s.status == "broken" for s in subs):
        return 3
    verdicts = [r.verdict for s in subs for r in s.requirements]
    if "FAIL" in verdicts or any(s.regressions for s in subs):
        return 1
    if strict and "INCONCLUSIVE" in verdicts:
        return 1
    return 0


def execute(spec: Spec, *, device: str = "auto", n: int | None = None, progress: bool = False,
            cache: bool = True, strict: bool = False, time_limit: float | None = None,
            sample_sink: dict | None = None) -> Report:
    """Plan and run ``spec``; return the Report (nothing written). Each subject's sample record
    is put in ``sample_sink`` (subject name -> record) as the subject ends, for ``write_report``."""
    plan = make_plan(spec, n_override=n)
    init_distributed(device)
    dev = pick_device(device)
    rank, world = process_rank()
    ctx = RunContext(plan, dev, References(plan.spec, dev, cache=cache, progress=progress and rank == 0), rank, world, progress,
                     time_limit, sample_sink)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    subjects: list[SubjectResult] = []
    interrupted = False
    for sp in plan.subjects:
        r, interrupted = run_subject(ctx, sp)
        subjects.append(r)
        if interrupted:
            break
    report = Report(
        name=plan.spec.name, spec=plan.spec.canonical(), spec_sha256=plan.spec.digest(), spec_path=plan.spec.source,
        started=started, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), seed=plan.spec.sampling.seed,
        environment=environment(dev), reference=ctx.refs.info(), features=plan.spec.features, subjects=subjects,
        interrupted=interrupted, strict=strict,
    )
    for note in plan.notes:
        log.warning(note)
    report.exit_code = exit_code_of(report, strict)
    return report
