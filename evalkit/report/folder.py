"""Writing a report folder: the chosen formats, each file whole or not at all.

Which files exist, what each reads and whether an interrupted run writes it are the
formats' declarations (``registry.formats``, built-ins in ``_builtins``); this module
only follows them, so a format added by a plugin is written like a built-in one.
"""

from __future__ import annotations

from pathlib import Path

from .. import registry
from .._errors import UsageError
from .._io import atomic_write_text
from .escape import bounded
from ..records.model import Report
from .view import prepare


def check_formats(names: list[str], *, rendering: bool = False) -> None:
    """Refuse (``UsageError``, exit 2, before anything runs) a name that is no registered format;
    with ``rendering`` also the record's own format, which ``evalkit render`` reads, never writes."""
    known = [e.name for e in registry.formats.declared() if not (rendering and e.decl.record)]
    for name in names:
        if name not in known:
            near = registry.formats.suggest(name)
            hint = f"did you mean {near!r}? " if near in known else ""
            raise UsageError(f"unknown report format {name!r}; {hint}choose from {', '.join(known)}")


def chosen(names: list[str], *, partial: bool = False) -> list[tuple[registry.Entry, str]]:
    """(format, file name) of each file a folder gets: the record always, then the formats
    ``names`` asks, in the order they were declared; an interrupted run only those with a partial file."""
    out = []
    for e in registry.formats.declared():
        if e.decl.record or e.name in names:
            file = e.decl.partial_file if partial else e.decl.file
            if file is not None:
                out.append((e, file))
    return out


def partial_files() -> list[str]:
    """Every file an interrupted run may leave (the finished run that resumes it removes them)."""
    return [e.decl.partial_file for e in registry.formats.declared() if e.decl.partial_file]


def writable(report: Report) -> Report:
    """``report`` as every format can write it whole: each string passed through ``escape.bounded``
    (surrogates made visible, huge messages cut with their length stated). The same report when
    nothing needed it; else a copy, with where its files went."""
    data = report.model_dump()
    changed = [False]

    def walk(v):
        if isinstance(v, str):
            out = bounded(v)
            changed[0] |= out != v
            return out
        if isinstance(v, dict):
            return {walk(k) if isinstance(k, str) else k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    data = walk(data)
    if not changed[0]:
        return report
    out = Report.model_validate(data)
    out.record_outputs(report.written_to, report.junit_written_to, report.write_errors)
    return out


def write_report(report: Report, out_dir: Path, formats: list[str], partial: bool = False,
                 samples: dict | None = None) -> list[Path]:
    """Write the report files; each file appears whole or not at all. ``samples``: the run's
    sample records (subject name -> record), written first to ``samples/`` (formats read them back)."""
    check_formats(formats)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if samples:
        from ..records.samples import write_records

        written += write_records(out_dir, samples)
    files = chosen(formats, partial=partial)
    report = writable(report)
    view = prepare(report, out_dir, {need for e, _ in files for need in e.decl.needs})
    for entry, name in files:
        path = out_dir / name
        atomic_write_text(path, entry.obj(view))
        written.append(path)
    return written
