"""One number of one run, as the history keeps it, and the points of a report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Literal

from ..records.model import Report, SubjectResult


@dataclass(frozen=True)
class Point:
    """A requirement's rate or a metric's value in one run, with the interval the report gave.

    ``lower``/``upper`` are the report's one-sided bounds at ``confidence`` (None where the
    report has none). For a rate, ``passed`` of ``n`` samples passed and ``value`` is
    ``passed / n``. ``subject_key`` identifies the series (name, model or folder, params): two runs
    of one subject under different seeds, or before and after its checkpoint was retrained, share it.
    """

    run_id: str
    finished: str  # ISO 8601, UTC: when the run finished (the order of a series)
    report: str  # path of the run's report.json
    spec: str  # the spec's name
    subject: str  # the subject's display name
    subject_key: str
    name: str  # the requirement's name, or the metric's readable name with its arguments
    kind: Literal["rate", "metric"]
    value: float | None
    lower: float | None
    upper: float | None
    confidence: float
    n: int | None
    passed: int | None = None
    verdict: str | None = None  # PASS / FAIL / INCONCLUSIVE for requirements; None for a metric without one
    higher_is_better: bool | None = None
    seed: int | None = None


def subject_key(s: SubjectResult) -> str:
    """The identity of a subject's series: its name, model (or folder) and params, hashed.

    Not the seed and not the weights digest: rerunning a subject under another seed or
    retraining its checkpoint in place (the drift a history is kept to catch) continues its
    series, and a blessed baseline stays the baseline of the retrained model. The name is part
    of it, as in ``--baseline`` pairing (a name is a promise): two subjects of one model in a
    spec (two checkpoints) keep two series. Renaming a subject or changing a param starts a new
    series. The database keeps each run's weights digest beside it, so a page can say where the
    weights changed."""
    return hashlib.sha256(json.dumps({"name": s.name, "model": s.model, "path": s.path, "params": s.params},
                                     sort_keys=True, default=str).encode()).hexdigest()[:16]


def points_of(report: Report, run_id: str, report_path: str) -> list[Point]:
    """Every requirement and metric of every finished subject of ``report``, as points."""
    out: list[Point] = []
    finished = report.finished or report.started
    for s in report.subjects:
        if s.status != "ok":
            continue
        # one template per subject: the run's and the subject's fields, the number's own filled below
        base = Point(run_id=run_id, finished=finished, report=report_path, spec=report.name, subject=s.name,
                     subject_key=subject_key(s), name="", kind="rate", value=None, lower=None, upper=None,
                     confidence=report.spec.get("confidence", 0.95), n=None, seed=report.seed)
        for r in s.requirements:
            out.append(replace(base, name=r.name, kind=r.kind, value=r.value, lower=r.lower, upper=r.upper,
                               confidence=r.confidence, n=r.n, passed=r.passed, verdict=r.verdict,
                               higher_is_better=True if r.kind == "rate" else None))
        for m in s.metrics:
            decl = m.declaration()
            out.append(replace(base, name=m.name, kind="metric", value=m.value, lower=m.lower, upper=m.upper,
                               confidence=m.confidence, n=m.n,
                               higher_is_better=decl.higher_is_better if decl is not None else None))
    return out
