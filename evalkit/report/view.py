"""``ReportView``: the one object every report format renders from.

A renderer never opens files: what its format declares it reads beside the record
(``FormatDecl.needs``: the sample store, the baseline report) is loaded here, once per
writing of a folder, and what several renderings derive alike (the verdict grid's rows)
is derived here, so two renderings of one report cannot disagree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..contract import Beside
from ..records.samples import read_samples
from ..records.model import Report, RequirementResult, SubjectResult

if TYPE_CHECKING:  # the sample store reads tensors: imported only when a format needs it
    from ..records.samples import SampleRecord


@dataclass(frozen=True)
class ReportView:
    """A report and what its renderings read beside it.

    ``samples``: subject name -> its sample record (None or absent: no images);
    ``baseline``: the report the run was compared with, if it could still be read;
    ``report_path``: the report.json that ``evalkit reproduce`` commands name."""

    report: Report
    samples: dict[str, SampleRecord | None] = field(default_factory=dict)
    baseline: Report | None = None
    report_path: str = "report.json"

    @cached_property
    def requirement_names(self) -> list[str]:
        """Every requirement name across subjects, in first-seen order: the verdict grid's rows."""
        return list(dict.fromkeys(r.name for s in self.report.subjects for r in s.requirements))

    def result(self, s: SubjectResult, name: str) -> RequirementResult | None:
        """Subject ``s``'s result for requirement ``name`` (None: the subject does not have it)."""
        return next((x for x in s.requirements if x.name == name), None)


def prepare(report: Report, folder: Path, needs: Iterable[Beside]) -> ReportView:
    """The view of ``report`` whose sample store lies in ``folder``, loading what ``needs`` names.

    A bad sample record raises ``DataError`` naming its file; a baseline that can no longer
    be read (moved or deleted since the run) is left out: the regressions stay marked."""
    needs = set(needs)
    samples: dict = {}
    if Beside.SAMPLES in needs:
        samples = _believed_samples(report, folder)
    baseline = _baseline(report) if Beside.BASELINE in needs else None
    return ReportView(report, samples, baseline, str(Path(folder) / "report.json"))


def _believed_samples(report: Report, folder: Path) -> dict:
    """Each subject's sample record, verified against the report: one that does not verify or agree
    raises ``SavedStateError`` (exit 2) naming its file, before any file is written."""
    return {s.name: read_samples(folder, s.name, report) for s in report.subjects}


def _baseline(report: Report) -> Report | None:
    if not report.baseline:
        return None
    from .._errors import EvalkitError
    from ..records.reading import read_report

    try:
        return read_report(report.baseline)
    except (EvalkitError, ValueError):
        return None
