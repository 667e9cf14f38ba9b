"""The Python API: ``evalkit.run`` does what ``evalkit run`` does."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

from ._errors import UsageError
from .report.baseline import compare
from .report.model import Report, read_report
from .report.render import write_report
from .runner import execute, exit_code_of, process_rank
from .runner.faults import kill_point
from .spec.load import load_spec
from .spec.model import Spec

log = logging.getLogger(__name__)


def default_out_dir(spec: Spec, root: Path | str = "reports") -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.name).strip("-") or "run"
    return Path(root) / f"{slug}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


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
    resume: str | Path | None = None,
) -> Report:
    """Run a spec (a ``Spec`` or a path to YAML) and return its ``Report``.

    With ``write`` (the default) the report folder is written to ``out`` (default
    ``reports/<name>-<timestamp>``); ``report.exit_code`` is what the CLI exits with.
    Raises ``SpecError`` for a bad spec and ``RunError`` when nothing could run.
    Completed batches are journaled in ``out/journal`` as the run goes; ``resume`` (a
    report folder) finishes the run journaled there, with the same report as a run
    that was never stopped.
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    base = None
    if baseline is not None:
        base = read_report(baseline)
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise UsageError(f"--resume {resume} and --out {out}: a resumed run writes into the folder it resumes; give one")
        out = resume
    out_dir = (Path(out) if out is not None else default_out_dir(spec)) if write else None
    report = execute(spec, device=device, n=n, progress=progress, cache=cache, strict=strict, out=out_dir,
                     resume=resume is not None)
    if base is not None:
        compare(report, base, spec.regression.tolerance, str(baseline))
        report.exit_code = exit_code_of(report, strict)
    if out_dir is not None and process_rank()[0] == 0:  # under torchrun only rank 0 writes
        fmts = formats if formats is not None else list(spec.report.formats)
        bad = [f for f in fmts if f not in ("json", "markdown", "junit", "html")]
        if bad:
            raise UsageError(f"unknown report format {bad[0]!r}; choose from json, markdown, junit, html")
        kill_point("report")
        write_report(report, out_dir, fmts, partial=report.interrupted)
        log.info("report written to %s", out_dir)
    return report
