"""The Python API: ``evalkit.run`` does what ``evalkit run`` does."""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from ._errors import EXIT_BROKEN, UsageError, present
from ._io import confined, remove_file
from .outfolder import clear_previous, take_lock
from .records.model import Report
from .report.folder import check_formats, partial_files, write_report

from .runner import execute, exit_code_of, process_rank
from .runner.faults import kill_point
from .runner.orchestrate import sigterm_unwinds
from .spec.load import load_spec
from .spec.model import Spec

log = logging.getLogger(__name__)


def default_out_dir(spec: Spec, root: Path | str = "reports") -> Path:
    from .outfolder import slug

    base = Path(root) / f"{slug(spec.name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():  # two runs in one second get two folders
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


def run(
    spec: Spec | str | Path,
    *,
    device: str = "auto",
    out: str | Path | None = None,
    n: int | None = None,
    baseline: str | Path | None = None,
    strict: bool = False,
    formats: list[str] | None = None,
    progress: bool = False,
    write: bool = True,
    cache: bool = True,
    baseline_partial: bool = False,
    junit: str | Path | None = None,
    overwrite: bool = False,
    time_limit: float | None = None,
    resume: str | Path | None = None,
    history: str | Path | bool | None = None,
) -> Report:
    """Run a spec (a ``Spec`` or a path to YAML) and return its ``Report``.

    With ``write`` (the default) the report folder is written to ``out`` (default
    ``reports/<name>-<timestamp>``); ``report.exit_code`` is what the CLI exits with.
    ``junit`` also writes JUnit XML there. ``out`` must be new or empty unless
    ``overwrite``, which first removes the files evalkit's manifest of that folder lists.
    ``time_limit`` (seconds) overrides the spec's per-subject time limits.
    Raises ``SpecError`` for a bad spec, bad output paths or a bad baseline (all found
    before sampling, all at once) and ``RunError`` when nothing could run. If the report
    cannot be written where asked, it goes to a fallback folder, ``report.exit_code`` is 3
    and ``report.written_to`` says where.
    With ``baseline``, every subject and requirement must pair with the baseline's
    (``UsageError`` before sampling otherwise) unless ``baseline_partial``.
    Completed batches are journaled in ``out/journal`` as the run goes; ``resume`` (a
    report folder) finishes the run journaled there, with the same report as a run
    that was never stopped.
    ``history``: the run history the written report is indexed in (docs/history.md): a path,
    None for ``$EVALKIT_HISTORY`` or ``history.sqlite`` beside the report folder, False for none.
    ``baseline`` may also be ``"blessed"``, ``"previous"`` or a run id, looked up there.
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    out = _resume_folder(resume, out, overwrite)
    fmts = _formats(spec, formats)
    given = (Path(out) if out is not None else default_out_dir(spec)) if write else None
    # absolute now: user code that calls os.chdir must not move the report folder or the JUnit file
    out_dir = Path(os.path.realpath(given)) if given is not None else None
    junit_abs = Path(os.path.abspath(junit)) if junit is not None else None
    with ExitStack() as stack:
        stack.enter_context(sigterm_unwinds())  # one signal design, from preflight to the last file written
        if out_dir is not None:
            stack.enter_context(confined(out_dir))  # no write, read or delete in it passes through a link
        db = _history_db(history, out_dir)
        baseline, source = _resolve_baseline(baseline, spec, db)  # blessed|previous|RUN-ID -> its report.json
        # preflight names the paths as given (the working folder is still the user's)
        base = _preflight(spec, given, fmts, junit, overwrite, baseline, n, resume=resume is not None,
                          strict=strict, cache=cache)
        match = None
        if base is not None:
            from .compare.regression import match_baseline

            match = match_baseline(spec, base, path=str(baseline), partial=baseline_partial)  # before sampling
        writer = out_dir is not None and int(os.environ.get("RANK", "0")) == 0  # torchrun: only rank 0 writes
        if writer:
            _take_folder(stack, present(out_dir, "the report folder"), overwrite, resume is not None)  # a writer has one
        records: dict | None = {} if writer else None  # each subject's sample record, made as the subject ends
        _say_device(device, progress)
        report = execute(spec, device=device, n=n, progress=progress, cache=cache, strict=strict,
                         time_limit=time_limit, out=out_dir, resume=resume is not None, sample_sink=records)
        _apply_baseline(report, base, match, spec, strict, records)
        report.baseline_source = source  # None without --baseline
        if out_dir is not None and process_rank()[0] == 0:
            _finish(report, spec.name, out_dir, fmts, junit_abs, records, resumed=resume is not None)
            _index(report, db)
            _as_given(report, out_dir, present(given, "the report folder as given"), junit_abs, junit)
            if not report.write_errors:
                log.info("report written to %s", report.written_to)  # in the user's words
    return report


def _history_db(history: str | Path | bool | None, out_dir: Path | None) -> Path | None:
    from .history.index import history_path

    option = None if history is None or isinstance(history, bool) else history
    return history_path(option, off=history is False, out_dir=out_dir)


def _resolve_baseline(baseline: str | Path | None, spec: Spec, db: Path | None) -> tuple[str | Path | None, str | None]:
    """(the baseline's path, why it is the baseline): a keyword or run id becomes that run's report.json."""
    if baseline is None:
        return None, None
    from .history.resolve import resolve_baseline

    found = resolve_baseline(str(baseline), spec, db)
    if found is None:
        return baseline, f"{baseline} (given as --baseline)"
    log.info("--baseline %s: %s", baseline, found.source)
    return found.path, found.source


def _index(report: Report, db: Path | None) -> None:
    """Index the written report in the run history (a failure there is a warning, never the run's)."""
    if db is None or report.interrupted or report.written_to is None or not report.written_to.is_dir():
        return
    from .history.index import index_run

    index_run(db, report.written_to)


def _take_folder(stack: ExitStack, out_dir: Path, overwrite: bool, resume: bool) -> None:
    """Hold the folder's lock until the run ends, then (``--overwrite``) clear the earlier run's files.

    A disk that cannot take the lock file only loses the lock (the write of the report then
    falls back, exit 3, as for any write error)."""
    try:
        stack.callback(os.close, take_lock(out_dir, "--resume" if resume else "this run"))
    except OSError as exc:
        log.warning("%s: cannot take the report folder's lock (%s); going on without it", out_dir,
                    exc.strerror or exc)
    if overwrite and out_dir.is_dir():
        clear_previous(out_dir)  # only now that nothing can refuse the run any more


def _apply_baseline(report: Report, base: Report | None, match, spec: Spec, strict: bool,
                    records: dict | None = None) -> None:
    if base is not None:
        from .compare.regression import apply_baseline, equivalence_code

        apply_baseline(report, base, match, spec, records)  # records: this run's samples, to pair with the baseline's
        report.exit_code = exit_code_of(report, strict)
        if report.exit_code == 0:
            report.exit_code = equivalence_code(report, strict)


def _as_given(report: Report, out_dir: Path, given: Path, junit_abs: Path | None, junit) -> None:
    """Where the outputs went, in the user's words when they went where asked (relative paths stay relative)."""
    folder = given if report.written_to == out_dir else report.written_to
    target = Path(junit) if junit is not None and report.junit_written_to == junit_abs else report.junit_written_to
    report.record_outputs(folder, target, report.write_errors)


def _say_device(device: str, progress: bool) -> None:
    """``--device auto``: which device the run got and why, one line on stderr where progress is
    shown (the report's environment.device records it either way; ``-v`` logs it when quiet)."""
    from .runner.environment import device_line

    line = device_line(device) if int(os.environ.get("RANK", "0")) == 0 else None
    if line is None:
        return
    if progress:
        from .progress import say

        say(line)
    else:
        log.info(line)


def _resume_folder(resume: str | Path | None, out: str | Path | None, overwrite: bool) -> str | Path | None:
    """The folder the run writes: ``resume``'s when resuming (which excludes another --out and --overwrite)."""
    if resume is None:
        return out
    if out is not None and Path(out) != Path(resume):
        raise UsageError(f"--resume {resume} and --out {out}: a resumed run writes into the folder it resumes; give one")
    if overwrite:
        raise UsageError(f"--resume {resume} and --overwrite: --overwrite would remove the journal the run resumes from")
    return resume


def _finish(report: Report, name: str, out_dir: Path, fmts: list[str], junit: str | Path | None, records: dict | None,
            *, resumed: bool) -> None:
    kill_point("report")
    _write_outputs(report, name, out_dir, fmts, junit, records, resumed=resumed)


def _formats(spec: Spec, formats: list[str] | None) -> list[str]:
    fmts = formats if formats is not None else list(spec.report.formats)
    check_formats(fmts)  # before anything runs; the spec's plugins, imported by now, may add formats
    return fmts


def _preflight(spec: Spec, out_dir: Path | None, fmts: list[str], junit: str | Path | None, overwrite: bool,
               baseline: str | Path | None, n: int | None, *, resume: bool = False, strict: bool = False,
               cache: bool = False) -> Report | None:
    """Check the spec, outputs and baseline before sampling (one SpecError, exit 2); return the baseline."""
    from .preflight import RunOutputs, check_run

    writer = int(os.environ.get("RANK", "0")) == 0  # the group is not joined yet; torchrun names rank 0
    outputs = None
    if out_dir is not None and writer:
        outputs = RunOutputs(out_dir, fmts, Path(junit) if junit is not None else None, overwrite, resume=resume)
    return check_run(spec, outputs, baseline, n=n, strict=strict, cache=cache).baseline


def _write_outputs(report: Report, name: str, out_dir: Path, fmts: list[str], junit: str | Path | None,
                   records: dict | None = None, *, resumed: bool = False) -> None:
    """Write the report folder (and --junit); on an OSError, to a fallback folder with exit 3."""
    from .outfolder import write_file_or_fallback, write_folder
    from .report.render import to_junit

    def write(folder: Path) -> None:
        write_report(report, folder, fmts, partial=report.interrupted, samples=records)
        if resumed and not report.interrupted:  # the partial report of the killed run is superseded
            for stale in partial_files():
                if os.path.lexists(folder / stale):
                    remove_file(folder / stale)

    outcome = write_folder(name, out_dir, write)
    errors = [outcome.error] if outcome.error else []
    target = None
    if junit is not None and not report.interrupted:
        fallback = outcome.folder if outcome.fell_back else None
        target, error = write_file_or_fallback(Path(junit), to_junit(report), name, fallback)
        if error:
            errors.append(error)
    report.record_outputs(outcome.folder, target, errors)
    if errors and not report.interrupted:
        report.exit_code = EXIT_BROKEN
