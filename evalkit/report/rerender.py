"""``evalkit render``: re-render an existing report folder without sampling.

Everything is read and checked first (``report.json``, and for HTML every subject's
sample record); only then are the files written, each atomically. So a truncated or
hand-edited input leaves every existing file as it was, and the error names the file.
A report of the same schema major version renders whatever evalkit wrote it: fields
added since default to empty.
"""

from __future__ import annotations

from pathlib import Path

from .. import registry
from .._errors import DataError, UsageError
from .._io import atomic_write_text
from ..records.model import Report
from ..records.reading import read_report
from .folder import check_formats
from .view import prepare


def load(report_path: str | Path) -> tuple[Report, Path]:
    """(report, its folder); UsageError (exit 2) naming the file when it cannot be used
    (``records.reading`` checks it as untrusted input: JSON, fields, schema major version)."""
    p = Path(report_path)
    json_path = p / "report.json" if p.is_dir() else p
    try:
        return read_report(json_path), json_path.parent
    except DataError as exc:
        raise UsageError(str(exc)) from None


def render(report_path: str | Path, formats: list[str] | None = None, out: str | Path | None = None) -> list[Path]:
    """Write the chosen renderings of a report (default HTML) to ``out`` (default: the report's folder)."""
    formats = list(dict.fromkeys(formats or ["html"]))
    check_formats(formats, rendering=True)
    report, folder = load(report_path)
    out_dir = Path(out) if out is not None else folder
    files = [(registry.formats.get(name), registry.formats.get(name).decl.file) for name in formats]  # as asked
    try:
        view = prepare(report, folder, {need for e, _ in files for need in e.decl.needs})
        texts = {name: entry.obj(view) for entry, name in files}
    except DataError as exc:  # a bad sample record: named, and nothing written yet
        raise UsageError(str(exc)) from None
    written = []
    for name, text in texts.items():
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)
    return written
