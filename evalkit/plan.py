"""Plan: a spec with every reference resolved, checked before any sample is drawn.

Everything that can be known without sampling is checked here and reported all at
once with the spec's file:line:col marks: generator parameters, user code that
does not import, paths that do not exist, requirements a subject cannot supply.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import registry
from ._errors import DataError, SpecError, SubjectError
from .observe.expr import Expression, parse_expression
from .spec.limits import declared_size_problems
from .spec.load import dotted
from .spec.model import Requirement, Spec, Subject


@dataclass
class RequirementPlan:
    index: int
    req: Requirement
    name: str
    confidence: float
    check: Callable | None = None
    expr: Expression | None = None
    metric: Any = None
    needs: frozenset[str] = frozenset()


@dataclass
class SubjectPlan:
    index: int
    spec: Subject
    name: str
    factory: Callable | None = None  # generators: factory(device=..., checkpoint=..., **params)
    images_path: Path | None = None  # image sets


@dataclass
class Plan:
    spec: Spec
    subjects: list[SubjectPlan]
    requirements: list[RequirementPlan]
    needs: set[str] = field(default_factory=set)
    metric_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rate_requirements(self) -> list[RequirementPlan]:
        return [r for r in self.requirements if r.req.kind == "rate"]

    @property
    def metric_requirements(self) -> list[RequirementPlan]:
        return [r for r in self.requirements if r.req.kind == "metric"]


def _param_problems(fn: Callable, params: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(param name, message) for each parameter ``fn`` does not take."""
    target = getattr(fn, "params", fn)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    ps = {n: p for n, p in sig.parameters.items() if n not in ("self", "device", "checkpoint")}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ps.values()):
        return []
    out = []
    for k in params:
        if k not in ps:
            import difflib

            near = difflib.get_close_matches(k, ps, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            valid = ", ".join(ps) or "none"
            out.append((k, f"unknown parameter {k!r}{hint} (parameters: {valid})"))
    return out


def make_plan(spec: Spec, *, n_override: int | None = None) -> Plan:
    registry.load_plugins()
    problems: list[str] = []

    def problem(path: tuple, msg: str) -> None:
        problems.append(f"{spec.where(*path)}: {dotted(path)}: {msg}")

    if n_override is not None:
        from .spec.model import MAX_SAMPLES

        if not 0 < n_override <= MAX_SAMPLES:
            raise SpecError(f"--n must be a positive integer up to {MAX_SAMPLES}, got {n_override}")
        spec = spec.model_copy(deep=True)
        spec.sampling.n = n_override
        spec.sampling.batch_size = min(spec.sampling.batch_size, n_override)
        if isinstance(spec.sampling.labels, dict):
            raise SpecError("--n cannot resize a spec whose labels are per-class counts; edit the counts")

    # A spec's own folder is importable, so `model: mygen:G` finds mygen.py beside it.
    import sys

    base = str(spec.base_dir.resolve())
    if base not in sys.path:
        sys.path.append(base)

    subjects: list[SubjectPlan] = []
    for i, s in enumerate(spec.subjects):
        sp = SubjectPlan(i, s, s.display_name)
        if s.model is not None:
            if registry.is_reference(s.model):
                try:
                    sp.factory = _user_factory(registry.resolve_reference(s.model))
                except SpecError as exc:
                    problem(("subjects", i, "model"), str(exc))
                    continue
                for key, msg in _param_problems(sp.factory, s.params):
                    problem(("subjects", i, "params", key, "<key>"), msg)
            else:
                entry = registry.generators.get(s.model)
                sp.factory = entry.obj
                for key, msg in _param_problems(entry.obj, s.params):
                    problem(("subjects", i, "params", key, "<key>"), msg)
            if s.checkpoint is not None and not spec.resolve_path(s.checkpoint).is_file():
                problem(("subjects", i, "checkpoint"), f"checkpoint file {str(spec.resolve_path(s.checkpoint))!r} not found")
        else:
            sp.images_path = spec.resolve_path(s.path or "")
            if s.params:
                problem(("subjects", i, "params"), "an image set subject takes no params")
        subjects.append(sp)

    reqs: list[RequirementPlan] = []
    needs: set[str] = set()
    metric_names: list[str] = []
    for j, r in enumerate(spec.requirements):
        rp = RequirementPlan(j, r, r.label, spec.confidence_of(r))
        if r.check is not None:
            entry = registry.checks.get(r.check)
            rp.check, rp.needs = entry.obj, frozenset(entry.info.get("needs", ()))
        elif r.where is not None:
            try:
                rp.expr = parse_expression(r.where)
            except ValueError as exc:
                problem(("requirements", j, "where"), str(exc))
                continue
            rp.needs = frozenset(n for name in rp.expr.names for n in registry.measurements.get(name).info.get("needs", ()))
        else:
            entry = registry.metrics.get(r.metric)
            rp.metric = entry
            rp.needs = frozenset(entry.info.get("needs", ()))
            metric_names.append(r.metric)
        if r.per_class:
            rp.needs = rp.needs | {"labels"}
        needs |= rp.needs
        if "training" in rp.needs and spec.training is None:
            problem(("requirements", j), f"{r.label!r} compares against training images; add a `training:` entry "
                    "(e.g. training: {dataset: fashion-mnist, split: train})")
        if "real" in rp.needs and spec.reference is None:
            problem(("requirements", j, "metric"), f"metric {r.metric!r} needs real images; add a `reference:` entry")
        if "classifier" in rp.needs and spec.classifier is None:
            problem(("requirements", j), f"{r.label!r} needs a classifier, but the spec sets `classifier: null`")
        reqs.append(rp)

    for path, msg in declared_size_problems(spec):
        problem(path, msg)
    for key in ("reference", "training"):
        ref = getattr(spec, key)
        if ref is not None and ref.path is not None and not spec.resolve_path(ref.path).exists():
            raise DataError(f"{spec.where(key, 'path')}: {key}.path: {str(spec.resolve_path(ref.path))!r} does not exist")
    if problems:
        raise SpecError(f"{spec.source or '<spec>'}: {len(problems)} problem(s)", problems)
    for sp in subjects:
        if sp.images_path is not None and not sp.images_path.exists():
            raise DataError(f"{spec.where('subjects', sp.index, 'path')}: subjects[{sp.index}].path: {str(sp.images_path)!r} does not exist")

    plan = Plan(spec, subjects, reqs, needs, metric_names)
    if spec.sampling.sequential and plan.metric_requirements:
        plan.notes.append("sequential mode stops early only when a spec has no metric requirements (metrics need the full n); ran fixed-n")
    return plan


def _user_factory(obj: Any) -> Callable:
    """Adapt a user ``module:attribute`` to factory(device=, checkpoint=, **params)."""
    if hasattr(obj, "sample") and not inspect.isclass(obj):
        ready = obj

        def use_instance(*, device, checkpoint=None, **params):
            if params or checkpoint:
                raise SpecError("this user generator is an object, not a factory: it takes no params or checkpoint")
            return ready.to(device) if hasattr(ready, "to") else ready

        return use_instance
    if not callable(obj):
        raise SpecError(f"{obj!r} is neither a generator (with .sample) nor a callable that returns one")

    def build(*, device, checkpoint=None, **params):
        kwargs = dict(params)
        if checkpoint is not None:
            kwargs["checkpoint"] = checkpoint
        sig = _signature(obj)
        if sig is not None and "device" in sig.parameters:
            kwargs["device"] = device
        gen = obj(**kwargs)
        if not hasattr(gen, "sample"):  # found only when the run builds it: the subject broke (exit 3)
            raise SubjectError(f"{getattr(obj, '__name__', obj)!r} returned {type(gen).__name__}, which has no sample() method")
        return gen.to(device) if hasattr(gen, "to") and "device" not in kwargs else gen

    build.params = obj  # lets the planner check params against its signature
    return build


def _signature(obj):
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None
