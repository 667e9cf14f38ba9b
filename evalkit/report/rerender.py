"""``evalkit render``: re-render an existing report folder without sampling.

Everything is read and checked first (``report.json``, and for HTML every subject's
sample record); only then are the files written, each atomically. So a truncated or
hand-edited input leaves every existing file as it was, and the error names the file.
A report of the same schema major version renders whatever evalkit wrote it: fields
added since default to empty.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import DataError, UsageError
from .._io import atomic_write_text
from ..records.model import Report
from ..records.reading import read_report

FORMATS = ("html", "markdown", "junit")
FILE_NAMES = {"html": "report.html", "markdown": "report.md", "junit": "junit.xml"}


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
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UsageError(f"--format {bad[0]!r}: choose from {', '.join(FORMATS)}")
    report, folder = load(report_path)
    out_dir = Path(out) if out is not None else folder
    texts = {}
    for fmt in formats:
        try:
            texts[fmt] = _text(fmt, report, folder)
        except DataError as exc:  # a bad sample record: named, and nothing written yet
            raise UsageError(str(exc)) from None
    written = []
    for fmt, text in texts.items():
        path = out_dir / FILE_NAMES[fmt]
        atomic_write_text(path, text)
        written.append(path)
    return written


def _text(fmt: str, report: Report, folder: Path) -> str:
    from .render import to_junit, to_markdown

    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "junit":
        return to_junit(report)
    from .html import html_for

    return html_for(report, folder)
