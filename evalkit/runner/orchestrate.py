"""The run, end to end: per subject, build the source, fold its batches, gather, judge."""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..boundary import forget_warnings, subject_failure, subject_time_limit
from ..plan import Plan, SubjectPlan, make_plan
from .._errors import present
from ..records.model import Report, SubjectResult
from ..records.samples import sample_record
from ..judge.trace import attach_looks, trace_of
from ..spec.model import Spec
from .context import RunContext
from .environment import environment, init_distributed, pick_device, process_rank
from .gather import gather_state
from .journal import FinalRecord, Journal, JournalMismatch
from .identity import weights_files, weights_identity
from .judge import Influences, judge_subject
from .observe import model_digests
from .looks import Looks
from .child import kill_all
from .loop import Fold, check_needs, sample_loop, subject_source
from .references import References
from .state import SubjectState, new_state

log = logging.getLogger(__name__)


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}

# Signals that end a run the way SIGTERM does (journal whole, report.partial.json, no temporary
# file left, exit 143): a closed terminal or ssh session (SIGHUP), and the signals whose default
# is to kill. SIGALRM is among them: inside a subject's time limit boundary.TimeLimit installs
# its own handler (a stray alarm before the deadline is ignored there) and restores this one.
TERMINATING = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM")
_installed = [0]  # nesting depth of sigterm_unwinds: api.run holds it around execute's own


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP, SIGUSR1, SIGUSR2) arrived: a CI runner cancelling, a scheduler's
    timeout, a closed terminal. Unwinds like Ctrl-C."""

    exit_code = 143  # _errors.exit_code_for reads it: the same code however far it unwinds

    def __init__(self, signame: str = "SIGTERM"):
        super().__init__(signame)
        self.signame = signame


@contextmanager
def sigterm_unwinds():
    """Within the block, the terminating signals raise ``Terminated`` in the main thread, so
    the run stops between two statements with its journal whole and writes
    ``report.partial.json``; any sampling child still alive is killed on the way out."""
    if threading.current_thread() is not threading.main_thread() or _installed[0]:
        try:
            yield
        finally:
            kill_all()
        return

    def handler(signum, frame):
        raise Terminated(signal.Signals(signum).name)

    old = {name: signal.signal(getattr(signal, name), handler) for name in TERMINATING if hasattr(signal, name)}
    _installed[0] += 1
    try:
        yield
    finally:
        _installed[0] -= 1
        kill_all()
        for name, previous in old.items():
            signal.signal(getattr(signal, name), previous)


def fold_subject(ctx: RunContext, sp: SubjectPlan, source, shape: tuple, res: SubjectResult, fold: Fold,
                 limit, files: list[dict]) -> FinalRecord:
    """The subject's gathered state: from a finished journal, or by sampling (journaling as it goes)."""
    sj = ctx.journal.subject(sp) if ctx.journal is not None else None
    if sj is not None:
        sj.bind(res.weights_sha256, present(res.image_shape, "the subject's image shape"), files, model_digests(ctx, shape, source.labels is not None))
        final = sj.load_final()
        if final is not None:
            return final
    t_loop = time.monotonic()
    with limit.running():
        end = sample_loop(ctx, sp, source, shape, sj, fold)
    loop_s = time.monotonic() - t_loop
    res.samples_per_second = round(end.state.n / loop_s, 2) if loop_s > 0 and end.state.n else None
    final = FinalRecord(gather_state(end.state, ctx.world, ctx.keep), end.stopped_early, end.look_conf, end.counts)
    if sj is not None and ctx.rank == 0:
        sj.write_final(final)
    return final


def measure_subject(ctx: RunContext, sp: SubjectPlan, res: SubjectResult, fold: Fold) -> SubjectState:
    """Sample, observe, gather and judge one subject into ``res``; return the merged state."""
    limit = subject_time_limit(ctx.spec, sp.spec, ctx.time_limit)  # charged: building and sampling, not metrics
    with subject_source(ctx, sp, limit) as (source, weights):  # a child process under a limit, closed here
        res.image_shape = list(source.image_shape)
        files = [] if sp.images_path is not None else weights_files(ctx.spec, sp.spec, weights, getattr(source, "gen", None))
        res.weights_sha256 = weights_identity(files)
        check_needs(ctx, sp, source)
        shape = tuple(source.image_shape)
        if "real" in ctx.plan.needs and ctx.refs.imported_moments(shape) is None:
            ctx.refs.real_features(shape)  # fail fast on a bad reference, before sampling
        if "training" in ctx.plan.needs:
            ctx.refs.memorization(shape)  # built once, outside the timed sampling loop
        final = fold_subject(ctx, sp, source, shape, res, fold, limit, files)
    res.stopped_early = final.stopped_early
    res.n, res.nonfinite = final.state.n, final.state.nonfinite
    # each metric's per-sample influences go to the sample store (paired comparisons need no feature cache)
    influences: Influences | None = {} if ctx.sample_sink is not None and ctx.rank == 0 else None
    judge_subject(ctx, sp, final.state, shape, final.look_conf, res, influences)
    if final.counts is not None:
        attach_looks(res, trace_of(ctx.plan, final.counts, Looks(ctx.plan, source.n, ctx.spec.sampling.batch_size).conf,
                                         present(final.look_conf, "the looks' confidences")))
    if ctx.sample_sink is not None and ctx.rank == 0 and final.state.samples is not None:
        record = sample_record(sp.name, final.state.samples, final.state.row("features").value(), ctx.spec.features,
                               seed=ctx.spec.sampling.seed, influences=influences)
        ctx.sample_sink[sp.name] = record
        res.samples_sha256 = record[1]["seal"]["sha256"]
    return final.state


def run_subject(ctx: RunContext, sp: SubjectPlan) -> tuple[SubjectResult, str | None]:
    """(result, the signal that interrupted it or None). A subject that breaks is reported
    broken and the others still run; a journal that does not fit the spec stops the run."""
    res = SubjectResult(name=sp.name, model=sp.spec.model, path=sp.spec.path, params=dict(sp.spec.params),
                        n_planned=ctx.spec.sampling.size)
    t0 = time.monotonic()
    interrupted = None
    fold = Fold(new_state(ctx.plan))
    try:
        measure_subject(ctx, sp, res, fold)
    except KeyboardInterrupt as exc:
        # every terminating signal is recorded as SIGTERM (the report's schema knows SIGINT and
        # SIGTERM, exit 143); the message names the one that came
        interrupted = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        res.status = "interrupted"
        res.error = f"terminated ({exc.signame})" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"
    except JournalMismatch:
        raise
    except BaseException as exc:  # user code may raise anything, sys.exit too; the other subjects still run
        res.status, res.error = "broken", subject_failure(exc)
        log.debug("subject %s broke", sp.name, exc_info=True)
    if res.status != "ok":  # a subject that broke keeps what it measured
        res.n, res.nonfinite = fold.state.n, fold.state.nonfinite
    res.seconds = round(time.monotonic() - t0, 3)
    return res, interrupted


def exit_code_of(report: Report, strict: bool = False) -> int:
    """0 all pass; 1 a requirement failed/regressed (or inconclusive under strict); 3 broken;
    130 interrupted (Ctrl-C); 143 terminated (SIGTERM).

    Never 2: validation (``plan.make_plan``) raises every spec problem before anything runs,
    so whatever breaks a subject afterwards, whatever its type, is the run breaking."""
    subs = report.subjects
    if report.interrupted:
        return SIGNAL_EXIT[report.interrupted_by or "SIGINT"]
    if any(s.status == "broken" for s in subs):
        return 3
    return verdict_code(report, strict)


def verdict_code(report: Report, strict: bool) -> int:
    """1 when a requirement failed or regressed (or, under ``strict``, is inconclusive), else 0."""
    verdicts = {r.verdict for s in report.subjects for r in s.requirements}
    if "FAIL" in verdicts or any(s.regressions for s in report.subjects):
        return 1
    return 1 if strict and "INCONCLUSIVE" in verdicts else 0


def open_journal(plan: Plan, out: Path | str | None, resume: bool, rank: int, world: int) -> Journal | None:
    """The run's journal in ``out`` (None when nothing is written); every process waits for it."""
    if out is None:
        return None
    journal = Journal(Path(out), plan, resume=resume, writer=rank == 0)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return journal


def execute(spec: Spec, *, device: str = "auto", n: int | None = None, progress: bool = False,
            cache: bool = True, strict: bool = False, out: Path | str | None = None, resume: bool = False,
            time_limit: float | None = None, sample_sink: dict | None = None) -> Report:
    """Plan and run ``spec``; return the Report. With ``out``, completed batches are journaled
    in ``out/journal`` as they finish; ``resume`` continues the journal found there. Each
    subject's sample record is put in ``sample_sink`` (subject name -> record) as the subject
    ends, for ``write_report``."""
    plan = make_plan(spec, n_override=n)
    forget_warnings()
    init_distributed(device)
    dev = pick_device(device)
    rank, world = process_rank()
    journal = open_journal(plan, out, resume, rank, world)
    ctx = RunContext(plan, dev, References(plan.spec, dev, cache=cache, progress=progress and rank == 0), rank, world,
                     progress, journal=journal, time_limit=time_limit, sample_sink=sample_sink)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    subjects: list[SubjectResult] = []
    interrupted = None
    with sigterm_unwinds():
        try:
            interrupted = run_subjects(ctx, subjects)
        except Terminated:  # between two subjects
            interrupted = "SIGTERM"
    return assemble_report(ctx, subjects, started, interrupted, strict)


def run_subjects(ctx: RunContext, subjects: list[SubjectResult]) -> str | None:
    """Run the plan's subjects in order, appending each result to ``subjects`` as it ends (so
    a signal between two subjects keeps those before it); the signal that stopped one, or None.
    ``execute`` calls it for ``evalkit run``, ``evaluator.Evaluator`` for a model in training."""
    for sp in ctx.plan.subjects:
        r, interrupted = run_subject(ctx, sp)
        subjects.append(r)
        if interrupted:
            return interrupted
    return None


def assemble_report(ctx: RunContext, subjects: list[SubjectResult], started: str, interrupted: str | None,
                    strict: bool) -> Report:
    """The run's ``Report`` from its subjects' results, with its exit code."""
    plan = ctx.plan
    report = Report(
        name=plan.spec.name, spec=plan.spec.canonical(), spec_sha256=plan.spec.digest(), spec_path=plan.spec.source,
        started=started, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), seed=plan.spec.sampling.seed,
        environment=environment(ctx.device), reference=ctx.refs.info(), features=plan.spec.features, classifier=plan.label_judge,
        subjects=subjects,
        interrupted=interrupted is not None, interrupted_by=interrupted, strict=strict,
    )
    for note in plan.notes:
        log.warning(note)
    report.exit_code = exit_code_of(report, strict)
    return report
