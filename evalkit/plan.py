"""Plan: a spec with every reference resolved, checked completely before any sample is drawn.

``make_plan`` is the one validation that ``evalkit validate`` and the start of
``evalkit run`` share. It reads the registries' declarations and the files the
spec names, and reports every problem at once (``SpecError``, exit 2), each with
the spec's ``file:line:col`` mark: generator params (types and bounds), user code
that does not import, files that do not exist, feature extractors and classifiers
that are unknown or cannot classify, what each requirement reads that a subject
cannot provide (asked labels of an unconditional model, a training set), classes
outside a model's range, metric N below the interval method's minimum, and
tolerance keys that name nothing. After it, a problem breaks the subject (exit 3).

The number of classes of a subject comes from its declaration (registered
generators), from a ``num_classes`` attribute of a user generator's class or
object (read without building it), and is ``None`` for image folders. A user
*factory function* is not built at validation time (it may load weights); its
classes are unknown until the run builds it, and label checks against it are
made then.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from . import registry
from ._errors import EvalkitError, SpecError, SubjectError, present
from .contract import bootstrap_minimum
from .registry import Entry, Input
from .spec.expr import Expression, parse_expression
from .spec.limits import declared_size_problems
from .spec.load import spec_folder_on_path
from .spec.locations import dotted
from .spec.model import Reference, Requirement, Spec, Subject

_UNKNOWN = object()  # a user factory's classes, unknown until it is built


@dataclass
class RequirementPlan:
    index: int
    req: Requirement
    name: str
    confidence: float
    check: Entry | None = None  # call with check.call(observation, args)
    expr: Expression | None = None
    metric: Entry | None = None  # compute with metric.compute(inputs, confidence, args, n=..., requirement=...)
    args: dict[str, Any] = field(default_factory=dict)  # validated, defaults filled in from the declaration
    needs: frozenset[Input] = frozenset()


@dataclass
class SubjectPlan:
    index: int
    spec: Subject
    name: str
    factory: Callable | None = None  # generators: factory(device=..., checkpoint=..., **params)
    images_path: Path | None = None  # image sets
    declaration: registry.GeneratorDecl | None = None  # registered generators
    num_classes: int | None = None  # None: unconditional (or unknown until built, see `classes_known`)
    classes_known: bool = True
    image_shape: tuple[int, int, int] | None = None  # read from the subject's files by its declaration's `inspect`

    @property
    def output_range(self) -> tuple[float, float] | None:
        """The range the subject's pixels must lie in: [0, 1] unless its declaration says otherwise."""
        return self.declaration.output_range if self.declaration is not None else (0.0, 1.0)


@dataclass
class Plan:
    spec: Spec
    subjects: list[SubjectPlan]
    requirements: list[RequirementPlan]
    needs: set[Input] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # file:line:col: field: message; errors under --strict

    @property
    def label_judge(self) -> str | None:
        """The classifier that judges labels in this plan, or None when no requirement reads one."""
        return self.spec.classifier if Input.CLASSIFIER in self.needs else None

    @property
    def rate_requirements(self) -> list[RequirementPlan]:
        return [r for r in self.requirements if r.req.kind == "rate"]

    @property
    def metric_requirements(self) -> list[RequirementPlan]:
        return [r for r in self.requirements if r.req.kind == "metric"]

    @property
    def metric_needs(self) -> set[Input]:
        """What the metrics read (the images are kept for a metric that declares them, not for a check)."""
        return {i for rp in self.metric_requirements for i in rp.needs}

    @property
    def measured_inputs(self) -> list[str]:
        """The registered measurements some metric declares as an input: the run folds a cat-state of each."""
        return sorted({i.name for rp in self.metric_requirements for i in present(rp.metric, f"the metric of {rp.name!r}").readable
                       if isinstance(i, registry.Measured)})

    def classes_asked(self, sp: SubjectPlan) -> int:
        """How many distinct classes the spec asks of a subject (0 for an unconditional one)."""
        labels = self.spec.sampling.labels
        if sp.num_classes is None:
            return 0
        if isinstance(labels, str):  # "uniform", "stratified": every class of the model, as far as n reaches
            return min(sp.num_classes, self.spec.sampling.size)
        if isinstance(labels, dict):
            return len({c for c in labels if labels[c] > 0})
        return len(set(labels))


class _Problems:
    """Every problem of one spec, each with its file:line:col and field path."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.lines: list[str] = []

    def __call__(self, path: tuple, msg: str) -> None:
        self.lines.append(f"{self.spec.where(*path)}: {dotted(path)}: {msg}")


def _param_problems(fn: Callable, params: dict[str, Any]) -> list[registry.Problem]:
    """One problem per parameter a user factory does not take, takes with a wrong type, or needs."""
    target = getattr(fn, "params", fn)
    skip = ("self", "device", "checkpoint")
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return []
    declared = registry.args_from_signature(target, keyword_only=False, skip=skip)
    return registry.validate_args("the generator", declared, params, "parameter")[1]


def _subject(spec: Spec, i: int, s: Subject, problem: _Problems) -> SubjectPlan:
    sp = SubjectPlan(i, s, s.display_name)
    if s.model is None:
        _image_subject(spec, sp, problem)
    elif registry.is_reference(s.model):
        _user_subject(sp, problem)
    else:
        _registered_subject(spec, sp, problem)
    if s.checkpoint is not None and not spec.resolve_path(s.checkpoint).is_file():
        problem(("subjects", i, "checkpoint"), f"checkpoint file {str(spec.resolve_path(s.checkpoint))!r} not found")
    return sp


def _image_subject(spec: Spec, sp: SubjectPlan, problem: _Problems) -> None:
    s, i = sp.spec, sp.index
    sp.images_path, sp.num_classes = spec.resolve_path(s.path or ""), None
    if s.params:
        problem(("subjects", i, "params"), "an image set subject takes no params")
    if not sp.images_path.exists():
        problem(("subjects", i, "path"), f"{str(sp.images_path)!r} does not exist")
        return
    from .data.images import image_set_count

    try:
        held = image_set_count(sp.images_path, s.format)
    except EvalkitError:
        return  # the reader's own error comes at run time, naming the file
    if held < spec.sampling.size:
        # never filled up with repeats at run time either: a folder of 300 images is not a sample of 1000
        problem(("subjects", i, "path"), f"{str(sp.images_path)!r} holds {held} images but sampling.n asks "
                f"{spec.sampling.size}; lower n (e.g. --n {held}) or add images")


def _user_subject(sp: SubjectPlan, problem: _Problems) -> None:
    """A ``module:attribute`` generator: imported, params checked against its signature, classes read
    from a ``num_classes`` attribute when it has one (a factory function is not built here)."""
    s, i = sp.spec, sp.index
    try:
        obj = registry.resolve_reference(present(s.model, f"the model of subject {i}"))
        sp.factory = _user_factory(obj)
    except SpecError as exc:
        problem(("subjects", i, "model"), str(exc))
        return
    if hasattr(obj, "sample") and not inspect.isclass(obj) and (s.params or s.checkpoint):
        problem(("subjects", i, "model"), f"{s.model!r} is a generator object, not a factory: it takes no params or checkpoint")
    for p in _param_problems(sp.factory, s.params):
        problem(("subjects", i, "params") + ((p.key, "<key>") if p.key else ()), p.message)
    classes: Any = getattr(obj, "num_classes", _UNKNOWN)  # user code: whatever the attribute holds
    sp.classes_known = classes is not _UNKNOWN
    sp.num_classes = None if classes is _UNKNOWN else classes


def _registered_subject(spec: Spec, sp: SubjectPlan, problem: _Problems) -> None:
    entry = registry.generators.get(present(sp.spec.model, f"the model of subject {sp.index}"))
    sp.factory, sp.declaration = _loaded_on_call(entry), entry.decl
    params, problems = entry.validate_args(sp.spec.params)
    for p in problems:
        problem(("subjects", sp.index, "params") + ((p.key,) if p.key else ()), p.message)
    sp.num_classes = entry.decl.classes(params if not problems else {})
    if entry.decl.inspect is not None and not problems:
        _inspected(spec, sp, entry, params, problem)


def _inspected(spec: Spec, sp: SubjectPlan, entry: Entry, params: dict[str, Any], problem: _Problems) -> None:
    """A generator whose params name files (a pipeline folder): its classes and shape read from them now,
    and its factory called with the params as the reader resolved them (paths against the spec's folder)."""
    module, _, attr = present(entry.decl.inspect, "the generator's inspect").partition(":")
    facts = getattr(importlib.import_module(module), attr)(params, spec.base_dir)
    for p in facts.problems:
        problem(("subjects", sp.index, "params") + ((p.key,) if p.key in sp.spec.params else ()), p.message)
    sp.num_classes, sp.image_shape = facts.num_classes, facts.image_shape
    sp.factory = _loaded_on_call(entry, facts.params)


def _requirement(spec: Spec, j: int, r: Requirement, problem: _Problems) -> RequirementPlan | None:
    rp = RequirementPlan(j, r, r.label, spec.confidence_of(r))
    needs: set[Input] = set()
    if r.check is not None:
        rp.check = registry.checks.get(r.check)
        rp.args, _ = rp.check.validate_args(r.args)
        needs |= _plain(rp.check.inputs)
    elif r.where is not None:
        try:
            rp.expr = parse_expression(r.where)
        except ValueError as exc:
            problem(("requirements", j, "where"), str(exc))
            return None
        for name in rp.expr.names:
            needs |= _plain(registry.measurements.get(name).inputs)
    else:
        rp.metric = registry.metrics.get(present(r.metric, f"the metric of requirement {j}"))
        if rp.metric.decl.interval.name == "retired":
            problem(("requirements", j, "metric"), rp.metric.decl.interval.words)
            return None
        rp.args, _ = rp.metric.validate_args(r.args)
        needs |= _plain(rp.metric.inputs)
        for m in rp.metric.inputs:  # a metric reading a measurement needs what that measurement reads
            if isinstance(m, registry.Measured):
                needs |= _plain(registry.measurements.get(m.name).inputs)
        _bootstrap_problem(rp, j, problem)
        if spec.sampling.size < rp.metric.decl.min_n:
            d = rp.metric.decl
            problem(("sampling", "n"), f"requirement {r.label!r}: metric {r.metric!r} ({d.interval.name} interval) needs "
                    f"N >= {d.min_n} samples, but sampling.n is {spec.sampling.size}")
    if r.per_class:
        needs.add(Input.LABELS)
    rp.needs = frozenset(needs)
    return rp


def _bootstrap_problem(rp: RequirementPlan, j: int, problem: _Problems) -> None:
    """A bootstrap interval with too few resamples for its confidence (found at run time before)."""
    boot = rp.args.get("bootstrap")
    if rp.metric is None or rp.metric.decl.interval.name != "bootstrap" or not isinstance(boot, int):
        return
    minimum = bootstrap_minimum(rp.confidence)
    if boot < minimum:
        problem(("requirements", j, "args", "bootstrap"),
                f"requirement {rp.name!r}: metric {rp.req.metric!r} needs at least {minimum} bootstrap resamples for a "
                f"bound at confidence {rp.confidence} (its {rp.confidence} quantile), got bootstrap={boot}; set "
                f"`args: {{bootstrap: {max(minimum, 200)}}}` or leave it at its default 200")


def _plain(inputs: tuple) -> set[Input]:
    return {i for i in inputs if isinstance(i, Input)}


def _needs_problems(spec: Spec, reqs: list[RequirementPlan], subjects: list[SubjectPlan], problem: _Problems) -> None:
    """What each requirement reads against what the spec and each subject provide."""
    for rp in reqs:
        j, label = rp.index, rp.name
        if Input.TRAINING in rp.needs and spec.training is None:
            problem(("requirements", j), f"{label!r} compares against training images; add a `training:` entry "
                    "(e.g. training: {dataset: fashion-mnist, split: train})")
        if Input.REFERENCE in rp.needs and spec.reference is None:
            problem(("requirements", j), f"{label!r} needs real images; add a `reference:` entry")
        if Input.CLASSIFIER in rp.needs and spec.classifier is None:
            problem(("requirements", j), f"{label!r} needs a classifier, but the spec sets `classifier: null`")
        if Input.LABELS in rp.needs:
            what = "per_class" if rp.req.per_class else f"{label!r}"
            for sp in subjects:
                if sp.classes_known and sp.num_classes is None:
                    problem(("requirements", j), f"{what} needs asked labels, but subject {sp.name!r} is unconditional "
                            "(no classes); drop it from this spec or use a class-conditional model")


def _label_problems(spec: Spec, subjects: list[SubjectPlan], problem: _Problems) -> None:
    labels = spec.sampling.labels
    asked: list[int] = []  # uniform and stratified ask the model's own classes, none outside them
    if not isinstance(labels, str):  # "uniform", "stratified"
        asked = sorted(labels) if isinstance(labels, dict) else sorted(set(labels))
    for sp in subjects:
        if not sp.classes_known:
            continue
        if sp.num_classes is None:
            if asked:
                problem(("sampling", "labels"), f"sampling.labels asks for classes, but subject {sp.name!r} is "
                        "unconditional (no classes); remove `labels:` or use a class-conditional model")
            continue
        bad = [c for c in asked if not 0 <= c < sp.num_classes]
        if bad:
            problem(("sampling", "labels"), f"class {bad[0]} is asked, but subject {sp.name!r} has "
                    f"{sp.num_classes} classes (0..{sp.num_classes - 1})")


def _extractor_problems(spec: Spec, needs: set[Input], problem: _Problems) -> None:
    """The spec's `features:` and `classifier:`: registered, importable, or an existing model file."""
    _extractor_problem(spec, "features", spec.features, False, problem)
    if spec.classifier is not None:
        _extractor_problem(spec, "classifier", spec.classifier, Input.CLASSIFIER in needs, problem)


def _extractor_problem(spec: Spec, key: str, name: str, must_classify: bool, problem: _Problems) -> None:
    if name in registry.features:
        if must_classify and registry.features.get(name).decl.num_classes is None:
            near = [e.name for e in registry.features if e.decl.num_classes]
            problem((key,), f"{name!r} gives no class logits, so it cannot classify; name a classifier"
                    + (f" such as {near[0]!r}" if near else ""))
        return
    if registry.is_reference(name):
        try:
            registry.resolve_reference(name)
        except SpecError as exc:
            problem((key,), str(exc))
        return
    path = spec.resolve_path(name)
    if path.suffix in (".pt", ".ts", ".pth", ".jit", ".pt2") or path.exists():
        if not path.is_file():
            problem((key,), f"model file {str(path)!r} not found")
        return
    guess = registry.features.suggest(name)
    hint = f"; did you mean {guess!r}?" if guess else f" (registered: {', '.join(registry.features.names())})"
    problem((key,), f"unknown feature extractor {name!r}{hint}; or give a module:attribute or a .pt/.pt2 file")


def _reference_problems(spec: Spec, problem: _Problems) -> None:
    for path, msg in declared_size_problems(spec):  # dataset ranges against declared split sizes
        problem(path, msg)
    for key in ("reference", "training"):
        ref = getattr(spec, key)
        if ref is not None and ref.path is not None and not spec.resolve_path(ref.path).exists():
            problem((key, "path"), f"{str(spec.resolve_path(ref.path))!r} does not exist")


def _statistics_problems(spec: Spec, reqs: list[RequirementPlan], problem: _Problems) -> None:
    """Imported FID statistics (``reference: {statistics: ...}``): the file checked, and only FID reading them."""
    if spec.training is not None and spec.training.statistics is not None:
        problem(("training", "statistics"), "memorization checks compare with training images; give `dataset:` or `path:`")
    if spec.reference is None or spec.reference.statistics is None:
        return
    from .data.statistics import read_statistics

    decl = registry.features.get(spec.features).decl if spec.features in registry.features else None
    try:
        read_statistics(spec.resolve_path(spec.reference.statistics), getattr(decl, "dim", None))
    except SpecError as exc:
        for line in exc.problems:
            problem(("reference", "statistics"), line)
    for rp in reqs:
        if Input.REFERENCE in rp.needs and rp.req.metric != "fid":
            problem(("requirements", rp.index), f"{rp.name!r} needs the reference's features, but `reference:` gives only "
                    "imported FID statistics (mu, sigma), which only `fid` can use; give the reference images "
                    "(`dataset:` or `path:`) or drop this requirement")


def _tolerance_problems(spec: Spec, reqs: list[RequirementPlan], problem: _Problems) -> None:
    valid = list(dict.fromkeys([rp.name for rp in reqs] + sorted({rp.req.metric for rp in reqs if rp.req.metric})))
    for what in ("tolerance", "equivalent", "non_inferior"):
        for key in getattr(spec.regression, what):
            if key not in valid:
                near = difflib.get_close_matches(key, valid, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else f" (requirements and metrics: {', '.join(valid) or 'none'})"
                problem(("regression", what, key, "<key>"), f"{what} {key!r} names no requirement or metric{hint}")


def make_plan(spec: Spec, *, n_override: int | None = None) -> Plan:
    """Check everything about ``spec`` that can be known before sampling; one SpecError lists it all."""
    registry.load_plugins()
    if n_override is not None:
        spec = _resized(spec, n_override)
    spec_folder_on_path(spec.source)
    problem = _Problems(spec)
    subjects = [_subject(spec, i, s, problem) for i, s in enumerate(spec.subjects)]
    reqs = [rp for j, r in enumerate(spec.requirements) if (rp := _requirement(spec, j, r, problem)) is not None]
    needs = set().union(*(rp.needs for rp in reqs)) | ({Input.FEATURES} if any(rp.metric for rp in reqs) else set())
    _needs_problems(spec, reqs, subjects, problem)
    _label_problems(spec, subjects, problem)
    _extractor_problems(spec, needs, problem)
    _tolerance_problems(spec, reqs, problem)
    _reference_problems(spec, problem)
    _statistics_problems(spec, reqs, problem)
    _shape_problems(spec, subjects, needs, problem)
    _feature_weights_problem(spec, problem)
    _labelled_reference_problems(spec, reqs, problem)
    if problem.lines:
        raise SpecError(f"{spec.source or '<spec>'}: {len(problem.lines)} problem(s)", problem.lines)
    plan = Plan(spec, subjects, reqs, needs)
    if spec.sampling.sequential and plan.metric_requirements:
        plan.notes.append("sequential mode stops early only when a spec has no metric requirements (metrics need the full n); ran fixed-n")
    plan.warnings.extend(spec_warnings(spec, reqs))
    return plan


def _loaded_on_call(entry: Entry, resolved: dict[str, Any] | None = None) -> Callable:
    """The generator's factory, imported when the run builds it (validation stays free of torch);
    ``resolved`` params (an inspected folder's absolute path) replace the spec's."""

    def build(**kwargs: Any) -> Any:
        return entry.obj(**{**kwargs, **(resolved or {})})

    return build


def _resized(spec: Spec, n: int) -> Spec:
    """``spec`` with ``--n`` samples per subject."""
    from .spec.model import MAX_SAMPLES

    if not 0 < n <= MAX_SAMPLES:
        raise SpecError(f"--n must be a positive integer up to {MAX_SAMPLES}, got {n}")
    if isinstance(spec.sampling.labels, dict):
        raise SpecError("--n cannot resize a spec whose labels are per-class counts; edit the counts")
    out = spec.model_copy(deep=True)
    out.sampling.n = n
    out.sampling.batch_size = min(out.sampling.batch_size, n)
    return out


def _user_factory(obj: Any) -> Callable:
    """Adapt a user ``module:attribute`` to factory(device=, checkpoint=, **params)."""
    if hasattr(obj, "sample") and not inspect.isclass(obj):
        ready = obj

        def use_instance(*, device, checkpoint=None, **params):
            if params or checkpoint:  # refused by validation already
                raise SubjectError("this user generator is an object, not a factory: it takes no params or checkpoint")
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

    setattr(build, "params", obj)  # lets the planner check params against its signature (read back by getattr)
    return build


def _signature(obj):
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


# ---- shapes and the classifier, known before anything samples

def subject_shape(spec: Spec, sp: SubjectPlan) -> tuple[int, int, int] | None:
    """The (C, H, W) a subject will give, where it is known without building or decoding it."""
    if sp.image_shape is not None:
        return sp.image_shape
    if sp.declaration is not None and sp.declaration.image_shape is not None:
        return _shape(sp.declaration.image_shape)
    if sp.images_path is not None and sp.images_path.exists():
        from .data.images import image_set_shape

        try:
            return _shape(image_set_shape(sp.images_path, sp.spec.format))
        except EvalkitError:
            return None  # the reader's own error comes at run time, naming the file
    if sp.spec.model is not None and registry.is_reference(sp.spec.model):
        try:
            shape = getattr(registry.resolve_reference(sp.spec.model), "image_shape", None)
        except SpecError:
            return None
        if isinstance(shape, (tuple, list)) and len(shape) == 3 and all(isinstance(v, int) for v in shape):
            return _shape(shape)
    return None


def _shape(seq: Sequence[int]) -> tuple[int, int, int]:
    """A declared or read (C, H, W) as a tuple (a plugin's declaration may give a list)."""
    return cast("tuple[int, int, int]", tuple(seq))


def _reference_shape(spec: Spec, ref: Reference | None = None) -> tuple[int, int, int] | None:
    """The (C, H, W) of the spec's reference (or of ``ref``, e.g. its training set), when it can be read now."""
    ref = spec.reference if ref is None else ref
    if ref is None:
        return None
    if ref.statistics is not None:
        return None  # moments only: no images, so no shape to meet
    if ref.dataset is not None:
        try:
            shape = registry.datasets.get(ref.dataset).decl.image_shape
        except (KeyError, SpecError):
            return None
        return None if shape is None else _shape(shape)
    path = spec.resolve_path(present(ref.path, "the reference's path"))
    if not path.exists():
        return None
    from .data.images import image_set_shape

    try:
        return _shape(image_set_shape(path, ref.format))
    except EvalkitError:
        return None


_RESIZE_FIX = ("; add `resize: bicubic` (or bilinear, nearest, area) to resize them to it, or name a feature space "
               "that takes this shape")


def _shape_problems(spec: Spec, subjects: list[SubjectPlan], needs: set[Input], problem: _Problems) -> None:
    """A subject whose images cannot meet the reference, the feature space or the classifier is refused
    here, before any subject samples. A network of a fixed input takes other shapes only under the spec's
    ``resize:`` policy; images of different shapes meet in one feature space only when it declares its own
    resizing or the policy brings them to its input (``FeatureRegistry.maps_any_size``). The training set
    meets the feature space as the reference does."""
    uses_feats = Input.FEATURES in needs or Input.REFERENCE in needs
    feat = registry.features.fixed_input(spec.features) if uses_feats or Input.TRAINING in needs else None
    clf = registry.features.fixed_input(spec.classifier) if spec.classifier and Input.CLASSIFIER in needs else None
    refuse = spec.resize == "refuse"
    sets = _image_sets(spec, uses_feats, Input.TRAINING in needs)
    if refuse and feat is not None:
        for key, given in sets:
            if given != feat:
                problem((key,), f"the {key} images are {_x(given)}, but the inputs of the feature extractor "
                        f"{spec.features!r} (features) are {_x(feat)}; evalkit does not resize unless the spec says how"
                        f"{_RESIZE_FIX}")
    inputs = _fixed_inputs(spec, feat, clf) if refuse else []
    if registry.features.maps_any_size(spec.features, spec.resize):
        sets = []  # every shape meets in one feature space
    for sp in subjects:
        shape = subject_shape(spec, sp)
        if shape is not None:
            _subject_shape_problems(spec, sp, shape, sets, inputs, problem)


def _image_sets(spec: Spec, reference: bool, training: bool) -> list[tuple[str, tuple[int, int, int]]]:
    """The image sets subjects meet in features, with their shapes where they can be read now."""
    shapes = (("reference", _reference_shape(spec) if reference else None),
              ("training", _reference_shape(spec, spec.training) if training and spec.training else None))
    return [(k, v) for k, v in shapes if v is not None]


def _fixed_inputs(spec: Spec, feat: tuple | None, clf: tuple | None) -> list[tuple[tuple[int, int, int], str, str]]:
    """The fixed network inputs a subject's images must equal when the spec does not resize."""
    named = ((feat, f"the inputs of the feature extractor {spec.features!r}", "features"),
             (clf, f"the inputs of the classifier {spec.classifier!r}", "classifier"))
    return [(net, what, key) for net, what, key in named if net is not None]


def _subject_shape_problems(spec: Spec, sp: SubjectPlan, shape: tuple[int, int, int], sets: list[tuple[str, tuple]],
                            inputs: list[tuple[tuple[int, int, int], str, str]], problem: _Problems) -> None:
    """One subject against the image sets it is compared with in features (``sets``: empty when any shape
    meets them in one space) and the fixed network inputs it must equal."""
    for key, other in sets:
        if other != shape:
            problem(("subjects", sp.index), f"subject {sp.name!r} gives {_x(shape)} images, but the {key} "
                    f"images ({key}) are {_x(other)}, and features {spec.features!r} compare images of one shape; "
                    "give images of one shape, or name a feature space that maps both to one space (a fixed-input "
                    "network with `resize:`, or one that resizes as it declares, such as inception-fid)")
    if spec.resize != "refuse" and shape[0] not in (1, 3):
        problem(("resize",), f"subject {sp.name!r} gives {shape[0]}-channel images; `resize:` converts 1- and "
                "3-channel images only (grey to RGB, RGB to luminance)")
    for net, what, key in inputs:
        if tuple(net) != shape:
            problem(("subjects", sp.index), f"subject {sp.name!r} gives {_x(shape)} images, but {what} "
                    f"({key}) are {_x(net)}; evalkit does not resize unless the spec says how{_RESIZE_FIX}")


def _feature_weights_problem(spec: Spec, problem: _Problems) -> None:
    """``feature_weights:`` given for a feature space that reads none would be ignored: said, not dropped."""
    if spec.feature_weights is None:
        return
    entry = registry.features.get(spec.features) if spec.features in registry.features else None
    if entry is None or not entry.decl.reads_weights:
        readers = sorted(n for n in registry.features.names() if registry.features.get(n).decl.reads_weights)
        problem(("feature_weights",), f"feature_weights: {spec.feature_weights!r} would be ignored: features "
                f"{spec.features!r} reads no weights of yours; those that do: {', '.join(readers)}")


def _labelled_reference_problems(spec: Spec, reqs: list[RequirementPlan], problem: _Problems) -> None:
    """A metric declaring ``labelled_reference`` (``cas`` tests its CNN on labelled real images): a folder
    has no labels, an .npz only with a `labels` member (read from its header here, not when the
    subject has sampled)."""
    ref = spec.reference
    cas = [rp for rp in reqs if rp.metric is not None and rp.metric.decl.labelled_reference]
    if not cas or ref is None or ref.path is None:
        return
    path = spec.resolve_path(ref.path)
    if not path.exists():
        return
    from .data.images import infer_format, read_npz_header

    try:
        labelled = infer_format(path, ref.format) == "npz" and read_npz_header(path).labels
    except EvalkitError:
        return  # the reader's own error names the file at run time
    if not labelled:
        problem(("requirements", cas[0].index, "metric"), f"metric {cas[0].req.metric!r} tests on labelled real images, but the "
                f"reference {str(path)!r} carries no labels; use a dataset reference or an .npz with a `labels` array")


def _x(shape) -> str:
    return "x".join(map(str, shape))


# ---- warnings: valid specs that cannot say what their author meant

def spec_warnings(spec: Spec, reqs: list[RequirementPlan]) -> list[str]:
    """Vacuous or unreachable bounds and look-alike names, each as ``file:line:col: field: message``."""
    from .spec.names import name_warnings

    out: list[tuple[tuple, str]] = []
    for rp in reqs:
        out.extend(_bound_warning(rp))
    out += name_warnings("subject", [(("subjects", i, "name"), s.display_name) for i, s in enumerate(spec.subjects)])
    out += name_warnings("requirement", [(("requirements", rp.index, "name"), rp.name) for rp in reqs])
    return [f"{spec.where(*path)}: {dotted(path)}: {msg}" for path, msg in out]


def _bound_warning(rp: RequirementPlan) -> list[tuple[tuple, str]]:
    r, j = rp.req, rp.index
    if r.kind == "rate":
        at_least = present(r.at_least, f"at_least of rate requirement {rp.name!r}")
        if at_least <= 0:
            return [(("requirements", j, "at_least"), f"{rp.name!r}: at_least: {r.at_least:g} is vacuous "
                     "(every rate is at least 0, so it PASSes whatever the samples); state the share you need")]
        if at_least >= 1:
            return [(("requirements", j, "at_least"), f"{rp.name!r}: at_least: 1 can never PASS (a one-sided "
                     "lower bound from finitely many samples is always below 1); ask e.g. 0.999 and size n for it")]
        return []
    floor = _metric_floor(rp.metric)
    if floor is not None and r.at_most is not None and r.at_most <= floor:
        return [(("requirements", j, "at_most"), f"{rp.name!r}: at_most: {r.at_most:g} can never PASS "
                 f"({r.metric} is at least {floor:g}, and its upper bound lies above its value)")]
    return []


# Metrics whose value cannot go below a floor (a distance or a share); KID's unbiased estimate can.
_FLOORS = {"fid": 0.0, "class_tv": 0.0, "memorized": 0.0}


def _metric_floor(entry: Entry | None) -> float | None:
    return None if entry is None else _FLOORS.get(entry.name)
