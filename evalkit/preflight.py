"""Preflight: everything about a run's outputs and baseline that can fail, checked before sampling.

A run may take hours; finding at write time that ``--out`` is a file, that the disk is
read-only or full, that ``--junit`` names a folder or that the baseline is malformed
loses all of it. ``output_problems`` and ``read_baseline`` find these before the first
sample, and ``check_run`` reports them together with the spec's own problems (from
``plan.make_plan``) as one list: exit 2, nothing sampled.

File names evalkit derives from user text (spec and subject names) go through ``slug``,
so no name can be too long for the file system or lead a path out of its folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import registry
from ._errors import DataError, SpecError
from .outfolder import SLUG_MAX, RunOutputs, output_problems, slug

if TYPE_CHECKING:
    from .records.model import Report

__all__ = ["SLUG_MAX", "RunOutputs", "Preflight", "output_problems", "slug", "read_baseline", "check_run",
           "with_spec_problems", "classifier_problems", "cache_key_problems", "feature_weights_problems"]

log = logging.getLogger("evalkit")


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    baseline: Report | None = None  # the Report read from --baseline


def cache_key_problems(plan, cache: bool) -> list[str]:
    """The feature cache's key, when the run will use the cache: a FIFO, a device or a key that is not
    text would otherwise break every subject at its first reference (``cache.key_problem``)."""
    if not cache or not any(str(i) in ("real", "training") for i in plan.needs):
        return []
    from .cache import key_problem

    why = key_problem()
    return [why] if why else []


def read_baseline(path: str | Path) -> tuple[Report | None, list[str]]:
    """(the baseline Report, []) or (None, [one line per problem, naming the file and field])."""
    from .records.reading import ReportFileError, read_finished_report

    try:
        return read_finished_report(path, "a baseline"), []
    except ReportFileError as exc:
        return None, [f"--baseline {exc.path}: {line}" for line in exc.problems]
    except DataError as exc:
        return None, [f"--baseline {path}: {exc}"]


def check_run(spec, outputs: RunOutputs | None, baseline: str | Path | None, *, n: int | None = None,
              strict: bool = False, cache: bool = False) -> Preflight:
    """Validate the spec (``plan.make_plan``), the outputs and the baseline together.

    Raises one ``SpecError`` (exit 2) listing every problem; returns the baseline read. The plan's
    warnings (vacuous or unreachable bounds, look-alike names) are logged, and are problems under ``strict``.
    """
    from .plan import make_plan

    problems: list[str] = []
    try:
        plan = make_plan(spec, n_override=n)
        problems += classifier_problems(plan)
        problems += feature_weights_problems(plan)
        problems += cache_key_problems(plan, cache)
        if strict:
            problems += plan.warnings
        for line in [] if strict else plan.warnings:
            log.warning("%s", line)
        if outputs is not None:
            outputs.n_subjects = len(plan.subjects)
            outputs.n_requirements = max(1, len(plan.requirements))
    except SpecError as exc:
        problems += exc.problems
    if outputs is not None:
        problems += output_problems(outputs)
    report = None
    if baseline is not None:
        report, more = read_baseline(baseline)
        problems += more
    if problems:
        raise SpecError(f"{len(problems)} problem(s) before the run", problems)
    return Preflight(problems, report)


def with_spec_problems(exc: SpecError, outputs: RunOutputs | None, baseline: str | Path | None) -> SpecError:
    """A spec that failed to load, plus the output and baseline problems: still one answer."""
    problems = list(exc.problems)
    if outputs is not None:
        problems += output_problems(outputs)
    if baseline is not None:
        problems += read_baseline(baseline)[1]
    return SpecError(f"{len(problems)} problem(s) before the run", problems)


def classifier_problems(plan) -> list[str]:
    """A user classifier that label checks need, built once per subject shape (on the CPU, two blank
    images): it must give class logits, and as many classes as every conditional subject asks.
    Here and not in ``plan`` because it builds a torch model (``validate`` calls it too)."""
    from .contract import Input
    from .plan import subject_shape

    spec = plan.spec
    if not spec.classifier or Input.CLASSIFIER not in plan.needs or spec.classifier in registry.features:
        return []
    from .observe.features import class_count_problem, probe_classifier

    where = f"{spec.where('classifier')}: classifier"
    seen: dict[tuple, int | None] = {}
    problems: list[str] = []
    for sp in plan.subjects:
        shape = subject_shape(spec, sp)
        if shape is None or sp.num_classes is None:
            continue
        if shape not in seen:
            try:
                seen[shape] = probe_classifier(spec.classifier, shape, spec.base_dir)
            except SpecError as exc:
                seen[shape] = None
                problems.append(f"{where}: {exc}")
        count = seen[shape]
        why = None if count is None else class_count_problem(count, sp.name, sp.num_classes)
        if why:
            problems.append(f"{where}: {why}")
    return problems


def feature_weights_problems(plan) -> list[str]:
    """A registered feature space that reads the user's weights file (``reads_weights``: inception-fid),
    built once here on the CPU when the run will use it: a missing file, a file of another digest or one
    that does not load is the spec's problem (exit 2), found before any sample rather than at the first
    reference image. Here and not in ``plan`` because it reads the file with torch."""
    from .contract import Input
    from .plan import subject_shape

    spec = plan.spec
    uses = {Input.FEATURES, Input.REFERENCE, Input.TRAINING} & set(plan.needs)
    if not uses or spec.features not in registry.features or not registry.features.get(spec.features).decl.reads_weights:
        return []
    import torch

    from ._errors import EvalkitError
    from .observe.features import make_extractor

    weights = spec.resolve_path(spec.feature_weights) if spec.feature_weights else None
    shapes = [s for s in (subject_shape(spec, sp) for sp in plan.subjects) if s is not None]
    try:
        make_extractor(spec.features, shapes[0] if shapes else (3, 299, 299), torch.device("cpu"), spec.base_dir, weights)
    except EvalkitError as exc:
        where = spec.where("feature_weights") if spec.feature_weights else spec.where("features")
        return [f"{where}: {line}" for line in getattr(exc, "problems", None) or [str(exc)]]
    return []
