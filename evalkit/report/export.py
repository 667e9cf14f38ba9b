"""``evalkit export``: a report folder as two flat tables, CSV or Parquet, for notebooks and spreadsheets.

The one exporter. Two tables:

* the *run table* (``results.csv``): one row per subject x requirement, plus one per metric
  no requirement judged: run, subject, name, kind, value, lower, upper, confidence, n,
  passed, verdict;
* the *sample table* (``per_sample.csv``): one row per observed sample of each subject
  with a sample store: subject, index, asked class, seed, each rate requirement's
  ``passed:<name>`` / ``undefined:<name>``, each stored measurement ``m.<name>``.

Columns come from providers (``RUN_COLUMNS``, ``SAMPLE_COLUMNS``): a provider maps one
item to named values, the table's columns are the union over providers and items in
first-seen order, and a cell a provider left out is empty. A feature that adds columns
appends a provider; nothing else changes.

Inputs are untrusted: the report is read by ``records.reading.read_report`` and each
sample store by ``records.samples.read_samples`` (sealed, and checked against the
report), so an edited or truncated file is refused naming it before anything is written.
Files are written atomically (``_io.atomic_write_bytes``).
"""

from __future__ import annotations

import csv
import importlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .._errors import DataError, UsageError
from .._io import atomic_write_bytes, atomic_write_text
from .rerender import load
from ..records.model import MetricResult, Report, RequirementResult, SubjectResult
from ..records.samples import SampleRecord, read_samples

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
RUN_TABLE, SAMPLE_TABLE = "results", "per_sample"


@dataclass(frozen=True)
class RunItem:
    """One row of the run table: a subject's requirement, or a metric no requirement judged."""

    run: str
    report: Report
    subject: SubjectResult
    requirement: RequirementResult | None = None
    metric: MetricResult | None = None


@dataclass(frozen=True)
class SampleItem:
    """One subject's sample store: its rows become the sample table's rows."""

    report: Report
    subject: SubjectResult
    record: SampleRecord


RunProvider = Callable[[RunItem], dict[str, Any]]
SampleProvider = Callable[[SampleItem], dict[str, list[Any]]]  # column -> one value per stored sample


def _run_core(item: RunItem) -> dict[str, Any]:
    r, m = item.requirement, item.metric
    row: dict[str, Any] = {"run": item.run, "subject": item.subject.name}
    if r is not None:
        row.update(name=r.name, kind=r.kind, value=r.value, lower=r.lower, upper=r.upper, confidence=r.confidence,
                   n=r.n, passed=r.passed, verdict=r.verdict)
    elif m is not None:
        row.update(name=m.name, kind="metric", value=m.value, lower=m.lower, upper=m.upper, confidence=m.confidence,
                   n=m.n, passed=None, verdict=None)
    return row


def _sample_core(item: SampleItem) -> dict[str, list[Any]]:
    t, n = item.record.tensors, item.record.n
    asked = t["asked"].tolist() if "asked" in t else [None] * n
    seed = item.record.meta.get("seed", item.report.seed)
    return {"subject": [item.subject.name] * n, "index": t["index"].tolist(), "asked": asked, "seed": [seed] * n}


def _sample_outcomes(item: SampleItem) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    t = item.record.tensors
    for r, name in enumerate(item.record.meta.get("requirements") or []):
        if "passed" in t:
            out[f"passed:{name}"] = t["passed"][r].tolist()
            out[f"undefined:{name}"] = t["undefined"][r].tolist()
    return out


def _sample_measurements(item: SampleItem) -> dict[str, list[Any]]:
    t = item.record.tensors
    # float32 in the store; tolist() gives the exact float64 of each, so the CSV round-trips it
    return {key: t[key].tolist() for key in sorted(t) if key.startswith("m.")}


RUN_COLUMNS: list[RunProvider] = [_run_core]
SAMPLE_COLUMNS: list[SampleProvider] = [_sample_core, _sample_outcomes, _sample_measurements]


@dataclass
class Table:
    """Named columns, and rows as dicts (a missing key is an empty cell)."""

    columns: list[str]
    rows: list[dict[str, Any]]


def _table(rows: Iterable[dict[str, Any]], first: Iterable[str] = ()) -> Table:
    rows = list(rows)
    columns = list(dict.fromkeys(list(first) + [k for row in rows for k in row]))
    return Table(columns, rows)


def run_items(report: Report, run: str) -> list[RunItem]:
    """Every requirement of every subject, then the metrics no requirement of that subject is named for."""
    items = []
    for s in report.subjects:
        items += [RunItem(run, report, s, requirement=r) for r in s.requirements]
        judged = {r.name for r in s.requirements}
        items += [RunItem(run, report, s, metric=m) for m in s.metrics if m.name not in judged]
    return items


def run_table(report: Report, run: str, providers: list[RunProvider] | None = None) -> Table:
    providers = RUN_COLUMNS if providers is None else providers
    rows = []
    for item in run_items(report, run):
        row: dict[str, Any] = {}
        for p in providers:
            row.update(p(item))
        rows.append(row)
    return _table(rows, ["run", "subject", "name", "kind", "value", "lower", "upper", "confidence", "n", "passed",
                         "verdict"])


def sample_table(items: list[SampleItem], providers: list[SampleProvider] | None = None) -> Table:
    providers = SAMPLE_COLUMNS if providers is None else providers
    rows: list[dict[str, Any]] = []
    for item in items:
        columns: dict[str, list[Any]] = {}
        for p in providers:
            columns.update(p(item))
        names = list(columns)
        rows += [dict(zip(names, values)) for values in zip(*(columns[k] for k in names))]
    return _table(rows, ["subject", "index", "asked", "seed"])


def sample_items(report: Report, folder: Path) -> list[SampleItem]:
    """The subjects with a sample store (each checked against the report); a subject without one is said."""
    items = []
    for s in report.subjects:
        try:
            rec = read_samples(folder, s.name, report)
        except DataError as exc:
            raise UsageError(str(exc)) from None
        if rec is None:
            log.warning("subject %r has no sample store beside %s: no per-sample rows for it", s.name, folder)
            continue
        items.append(SampleItem(report, s, rec))
    return items


def _cell(v: Any) -> str:
    """A CSV cell: empty for none, true/false for booleans, repr for floats (exact round-trip)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    for row in table.rows:
        w.writerow([_cell(row.get(c)) for c in table.columns])
    return buf.getvalue()


def to_parquet(table: Table) -> bytes:
    # imported by name: an optional package (checked by ``check_format`` before anything is read)
    # that ships no type information, so mypy sees it as Any either way
    pa, pq = importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")

    data = {c: [row.get(c) for row in table.rows] for c in table.columns}
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(data), sink)
    return sink.getvalue().to_pybytes()


def check_format(fmt: str) -> None:
    """UsageError (exit 2) for a format this machine cannot write, before any file is read."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: export writes {' or '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            importlib.import_module("pyarrow.parquet")
        except ImportError:
            raise UsageError("--format parquet needs the pyarrow package, which is not installed here; "
                             "`pip install pyarrow`, or use --format csv") from None


def export(report_path: str | Path, out: str | Path | None = None, fmt: str = "csv") -> list[Path]:
    """Write the run table and the sample table of a report folder to ``out`` (default: the folder)."""
    check_format(fmt)
    report, folder = load(report_path)
    return write_tables(report, folder, Path(out) if out is not None else folder, fmt)


def write_tables(report: Report, folder: Path, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """The two tables of ``report`` (read from ``folder``) written to ``out_dir``: every input is read and
    checked first, then each file is written atomically."""
    tables = {RUN_TABLE: run_table(report, folder.name), SAMPLE_TABLE: sample_table(sample_items(report, folder))}
    written = []
    for name, table in tables.items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            atomic_write_text(path, to_csv(table))
        else:
            atomic_write_bytes(path, to_parquet(table))
        written.append(path)
    return written
