"""The extension contract: typed declarations, one registry per kind.

Every extension (generator, dataset, feature extractor, measurement, check,
metric, report format) declares its facts once, where it is registered: what it reads (``Input``
members, or ``Measured`` names resolved against the measurement registry, never
free strings), its arguments with their types, defaults and bounds, and for a
metric its orientation, interval method, minimum N and the per-sample state it
accumulates with that state's merge rule, for a report format its file (and its
file in an interrupted run's folder) and what it reads beside the report. ``evalkit list``, the spec validator,
the plan, the runner, the baseline comparison and the reports read these
declarations; nothing restates them.

Two ways in, one record:

* a plugin decorates its function or class (``@evalkit.metric("name", ...)``);
  the arguments are read from the keyword-only part of its signature;
* the built-ins are declared in ``evalkit._builtins`` with a ``module:attribute``
  target imported on first use, so ``evalkit validate``, ``list`` and ``schema``
  never import torch. When a built-in is loaded, its signature must agree with
  its declaration (same argument names and defaults), or loading fails.

Registration refuses, naming the registering module: a duplicate name, an input
nothing provides (an unknown measurement), a state without a merge rule, an
unknown fact, and a contract version this evalkit does not read.

This module imports nothing heavier than the standard library (pydantic only
when an argument is validated).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, TypedDict, TypeVar, cast

from ._errors import RegistrationError, SpecError
from .contract import (  # noqa: F401  (re-exported: the contract's names are reached through the registry too)
    CONTRACT_VERSION,
    REQUIRED,
    Arg,
    Beside,
    CheckDecl,
    DatasetDecl,
    Declaration,
    FeatureDecl,
    FormatDecl,
    GeneratorDecl,
    Input,
    InputRef,
    Interval,
    Measured,
    MeasurementDecl,
    Merge,
    Preprocessing,
    MetricDecl,
    Problem,
    State,
    TooFewSamples,
    UndeclaredInput,
    args_from_signature,
    default_states,
    takes_any_keyword,
    measured,
    validate_args,
)

if TYPE_CHECKING:
    from torch import Tensor

    from .metric_io import MetricInputs, MetricValue
    from .observation import Observation
    from .protocols import Check, FeatureFactory, GeneratorFactory, Measurement, MetricClass

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "evalkit.plugins"
BUILTINS_MODULE = "evalkit._builtins"  # the module that declares evalkit's own extensions


D = TypeVar("D", bound=Declaration)
T = TypeVar("T")  # what an entry of the kind is: its protocol (evalkit.protocols)
V = TypeVar("V")
X = TypeVar("X")

# What a dataset and a report format are: a dataset's factory returns an ImageSet and a
# format reads a ReportView, types of later stages that the foundation does not import.
DatasetFactory = Callable[..., Any]
FormatFunction = Callable[..., str]


@dataclass
class Entry(Generic[D, T]):
    """One registered extension: its name, declaration and implementation (loaded on first use)."""

    name: str
    kind: str
    decl: D
    target: str | None = None  # "module:attribute", for built-ins loaded lazily
    _obj: T | None = None

    @property
    def help(self) -> str:
        return self.decl.help

    @property
    def obj(self) -> T:
        if self._obj is None:
            # a built-in's target is held to its declaration on load; its type is the kind's protocol
            self._obj = cast(T, _load_target(self))
        return self._obj

    @property
    def inputs(self) -> tuple[InputRef, ...]:
        return tuple(getattr(self.decl, "inputs", ()))

    @property
    def readable(self) -> tuple[InputRef, ...]:
        """Everything this entry may read: its inputs and its optional inputs."""
        return self.inputs + tuple(getattr(self.decl, "optional", ()))

    @property
    def args(self) -> tuple[Arg, ...]:
        return tuple(getattr(self.decl, "args", ()) or getattr(self.decl, "params", ()))

    def validate_args(self, given: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        """(arguments with the declared defaults filled in, problems) for a spec's ``args``."""
        noun = "parameter" if self.kind == "generator" else "argument"
        return validate_args(f"{self.kind} {self.name!r}", self.args, given, noun)

    def guarded(self, view_of: V) -> V:
        """``view_of`` as this entry may see it: reading an undeclared input raises ``UndeclaredInput``."""
        return cast(V, InputGuard(view_of, self))  # the guard passes every declared read through

    def call(self, obs: Observation, args: dict[str, Any] | None = None) -> Tensor:
        """Run a check or a measurement on one batch's ``Observation``, its inputs guarded."""
        fn = cast("Check", self.obj)  # a check's or a measurement's entry (a measurement takes no args)
        return fn(self.guarded(obs), **(args or {}))

    def __call__(self, obs: Observation, **args: Any) -> Tensor:
        """``entry(obs, **args)``: the same as ``call`` (a check or measurement entry is callable)."""
        return self.call(obs, args)

    def compute(self, inputs: MetricInputs, confidence: float, args: dict[str, Any], *, n: int,
                requirement: str | None = None) -> MetricValue:
        """Compute a metric: refuse an N below the declared minimum, then call it with its inputs guarded."""
        decl = self.decl
        assert isinstance(decl, MetricDecl), f"{self.name} is a {self.kind}, not a metric"
        if n < decl.min_n:
            who = f"requirement {requirement!r}: " if requirement else ""
            raise TooFewSamples(
                f"{who}metric {self.name!r} ({decl.interval.name} interval) needs at least {decl.min_n} samples, got N = {n}; "
                "raise sampling.n"
            )
        metric = cast("MetricClass", self.obj)()
        return metric.compute(self.guarded(inputs), confidence, **args)


class InputGuard:
    """A view on which reading an attribute that carries an undeclared input raises.

    The viewed class maps its attribute names to the ``Input`` they carry in
    ``INPUT_OF_ATTRIBUTE``; a ``measured`` mapping is narrowed to the declared
    measurements. Everything else passes through.
    """

    __slots__ = ("_target", "_entry")

    def __init__(self, target: object, entry: Entry[Any, Any]):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_entry", entry)

    def __getattr__(self, attr: str) -> Any:
        target, entry = object.__getattribute__(self, "_target"), object.__getattribute__(self, "_entry")
        need = getattr(type(target), "INPUT_OF_ATTRIBUTE", {}).get(attr)
        declared = set(entry.readable)
        if need is not None and need not in declared:
            raise UndeclaredInput(
                f"{entry.kind} {entry.name!r} (from {entry.decl.module or '?'}) read `{attr}`, which is {Input(need).value} "
                f"input, but declares only: {', '.join(map(str, entry.inputs)) or 'nothing'}; add {Input(need).name} to its inputs"
            )
        value = getattr(target, attr)
        if attr == "measured" and isinstance(value, dict):
            allowed = {i.name for i in declared if isinstance(i, Measured)}
            value = _NarrowedMeasurements(value, allowed, entry)
        elif attr == "states" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in {st.name for st in getattr(entry.decl, "states", ())}}
        return value

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_target"), attr, value)

    def __len__(self) -> int:
        return len(object.__getattribute__(self, "_target"))


class _NarrowedMeasurements(dict[str, "Tensor"]):
    def __init__(self, values: dict[str, Tensor], allowed: set[str], entry: Entry[Any, Any]):
        super().__init__({k: v for k, v in values.items() if k in allowed})
        self._entry = entry

    def __missing__(self, key: str) -> Tensor:
        raise UndeclaredInput(
            f"{self._entry.kind} {self._entry.name!r} read measurement {key!r}, which it does not declare; "
            f"add measured({key!r}) to its inputs"
        )


def _load_target(entry: Entry[Any, Any]) -> Any:  # Any: whatever the target module holds
    """Import a built-in's ``module:attribute`` and hold it to its declaration."""
    mod_name, _, attr = (entry.target or "").partition(":")
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    declared = {a.name: a.default for a in entry.args}
    fn = _signature_holder(entry.kind, obj)
    if fn is not None and not getattr(entry.decl, "accepts_any_params", False):
        keyword_only = entry.kind not in ("generator", "dataset")
        skip = ("self", "device", "checkpoint")
        found = {a.name: a.default for a in args_from_signature(fn, keyword_only=keyword_only, skip=skip)}
        if found != declared:
            raise RegistrationError(
                f"{entry.kind} {entry.name!r}: its declaration in {entry.decl.module} says arguments {declared}, "
                f"but {entry.target} takes {found}"
            )
    return obj


def _signature_holder(kind: str, obj: object) -> Callable[..., object] | None:
    if kind == "metric":
        return getattr(obj, "compute", None)
    if kind in ("check", "generator"):
        return cast("Callable[..., object]", getattr(obj, "params", obj))  # a class may state its params apart
    return None


# ---------------------------------------------------------------- registries


_FACTS: dict[str, set[str]] = {
    "measurement": {"inputs"},
    "check": {"inputs", "args"},
    "metric": {"inputs", "optional", "args", "higher_is_better", "interval", "min_n", "states"},
    "generator": {"params", "num_classes", "image_shape", "output_range", "weights"},
    "feature extractor": {"dim", "num_classes", "input_shape", "weights", "preprocessing", "reads_weights"},
    "dataset": {"splits", "num_classes", "image_shape"},
    "report format": {"file", "partial_file", "needs"},
}


class Registry(Generic[D, T]):
    """Name -> ``Entry`` map: typed declarations, duplicates refused, near names suggested on a miss.

    ``D`` is the kind's declaration, ``T`` what an entry of the kind is (its protocol). Each
    kind's subclass below gives the decorator, typed with its protocol."""

    def __init__(self, kind: str, decl_type: type[D]):
        self.kind = kind
        self.decl_type = decl_type
        self._entries: dict[str, Entry[D, T]] = {}

    # ---- declaring
    def declare(self, name: str, decl: D, *, target: str | None = None, obj: T | None = None) -> Entry[D, T]:
        """Add a declared entry (a built-in with a lazy ``target``, or a plugin's object)."""
        where = decl.module or "?"
        if not name or not isinstance(name, str):
            raise RegistrationError(f"{where}: a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries:
            raise RegistrationError(
                f"{where}: {self.kind} {name!r} is already registered (by {self._entries[name].decl.module or '?'})"
            )
        if not isinstance(decl, self.decl_type):
            raise RegistrationError(f"{where}: {self.kind} {name!r} needs a {self.decl_type.__name__}, got {type(decl).__name__}")
        if decl.contract != CONTRACT_VERSION:
            raise RegistrationError(
                f"{where}: {self.kind} {name!r} is written for extension contract {decl.contract}; "
                f"this evalkit reads contract {CONTRACT_VERSION}"
            )
        _check_decl(self.kind, name, decl)
        entry: Entry[D, T] = Entry(name, self.kind, decl, target, obj)
        self._entries[name] = entry
        return entry

    def register(self, name: str, obj: T, help: str | None = None, **facts: Any) -> T:
        """Register a plugin's object; its arguments are read from its signature."""
        module = getattr(obj, "__module__", None) or "?"
        if "needs" in facts and "needs" not in _FACTS[self.kind]:  # the older spelling of `inputs`
            facts.setdefault("inputs", facts.pop("needs"))
        unknown = sorted(set(facts) - _FACTS[self.kind])
        if unknown:
            raise RegistrationError(
                f"{module}: {self.kind} {name!r}: unknown fact {unknown[0]!r} (a {self.kind} declares: "
                f"{', '.join(sorted(_FACTS[self.kind]))})"
            )
        doc = help if help is not None else ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
        decl = cast(D, _decl_from_object(self, name, obj, doc, module, facts))  # the kind's own _DECL_OF
        self.declare(name, decl, obj=obj)
        return obj

    def _decorator(self, name: str | None, help: str | None, facts: dict[str, Any]) -> Callable[[X], X]:
        """The decorator form: registers the object and returns it as written (its own type kept)."""

        def deco(obj: X) -> X:
            self.register(name or getattr(obj, "__name__"), cast(T, obj), help, **facts)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    # ---- reading: reads load the built-ins and plugins first (`import evalkit` itself stays light)
    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[D, T]]:
        load_plugins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def declared(self) -> list[Entry[D, T]]:
        """The built-ins in the order ``_builtins`` declares them, then the plugins' in the order they
        registered (the order reports write formats in; a plugin imported before the built-ins were
        declared still comes after them)."""
        load_plugins()
        return sorted(self._entries.values(), key=lambda e: e.decl.module != BUILTINS_MODULE)

    def suggest(self, name: str) -> str | None:
        near = difflib.get_close_matches(name, self._entries, n=1, cutoff=0.6)
        return near[0] if near else None

    def unknown_message(self, name: str) -> str:
        near = self.suggest(name)
        if near:
            return f"unknown {self.kind} {name!r}; did you mean {near!r}?"
        known = ", ".join(self.names()) or "none registered"
        return f"unknown {self.kind} {name!r}; known: {known}"

    def get(self, name: str) -> Entry[D, T]:
        load_plugins()
        if name in self._entries:
            return self._entries[name]
        raise SpecError(self.unknown_message(name))


def _resolve_inputs(module: str, owner: str, raw: Any) -> tuple[InputRef, ...]:
    if isinstance(raw, (str, Input, Measured)):
        raw = (raw,)
    out: list[InputRef] = []
    for item in raw or ():
        if isinstance(item, (Input, Measured)):
            out.append(item)
        elif isinstance(item, str) and item in Input._value2member_map_:
            out.append(Input(item))
        elif isinstance(item, str) and item in measurements:
            out.append(Measured(item))
        else:
            valid = ", ".join(i.name for i in Input)
            raise RegistrationError(
                f"{module}: {owner} declares input {item!r}, which nothing provides "
                f"(inputs: {valid}, or measured(NAME) of a registered measurement)"
            )
    return tuple(out)


def _resolve_states(module: str, owner: str, raw: Any) -> tuple[State, ...]:
    out = []
    for s in raw or ():
        merge: object
        if isinstance(s, State):
            name, source, merge = s.name, s.source, s.merge
        elif isinstance(s, (tuple, list)) and len(s) in (2, 3):
            name, source, merge = s[0], s[1], (s[2] if len(s) == 3 else None)
        else:
            raise RegistrationError(f"{module}: {owner}: a state is State(name, source, merge), got {s!r}")
        if merge is None or str(merge) not in Merge._value2member_map_:
            raise RegistrationError(
                f"{module}: {owner}: state {name!r} has no merge rule (got {merge!r}); give merge='sum' or 'cat'"
            )
        (src,) = _resolve_inputs(module, owner, (source,))
        out.append(State(name, src, Merge(str(merge))))
    return tuple(out)


def _check_decl(kind: str, name: str, decl: Declaration) -> None:
    """Facts that must hold of any declaration, however it was made."""
    where, owner = decl.module or "?", f"{kind} {name!r}"
    inputs = tuple(getattr(decl, "inputs", ())) + tuple(getattr(decl, "optional", ()))
    for i in inputs:
        if isinstance(i, Measured) and i.name not in measurements:
            raise RegistrationError(f"{where}: {owner} declares input measured({i.name!r}), but no measurement {i.name!r} is registered")
        if not isinstance(i, (Input, Measured)):
            raise RegistrationError(f"{where}: {owner}: input {i!r} is neither an Input nor measured(NAME)")
    for a in getattr(decl, "args", ()):
        if not isinstance(a, Arg):
            raise RegistrationError(f"{where}: {owner}: argument {a!r} is not an Arg")
    if isinstance(decl, MetricDecl):
        _check_metric(f"{where}: {owner}", decl, inputs)
    if isinstance(decl, FormatDecl):
        _check_format(f"{where}: {owner}", decl)


def _check_metric(who: str, decl: MetricDecl, inputs: tuple[InputRef, ...]) -> None:
    if not isinstance(decl.higher_is_better, bool):
        raise RegistrationError(f"{who}: higher_is_better must be True or False, got {decl.higher_is_better!r}")
    if not isinstance(decl.min_n, int) or decl.min_n < 1:
        raise RegistrationError(f"{who}: min_n must be a positive integer, got {decl.min_n!r}")
    if not isinstance(decl.interval, Interval):
        raise RegistrationError(f"{who}: interval must be Interval(name, words), got {decl.interval!r}")
    for s in decl.states:
        if not isinstance(s.merge, Merge):
            raise RegistrationError(f"{who}: state {s.name!r} has no merge rule; give merge='sum' or 'cat'")
        if s.source not in inputs:
            raise RegistrationError(f"{who}: state {s.name!r} folds {s.source}, which is not among its inputs")


def _check_format(who: str, decl: FormatDecl) -> None:
    for name in (decl.file, decl.partial_file):
        if name is None:
            continue
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise RegistrationError(f"{who}: file {name!r} must be a plain file name in the report folder")
        taken = next((e for e in formats._entries.values() if name in (e.decl.file, e.decl.partial_file)), None)
        if taken is not None:
            raise RegistrationError(f"{who}: file {name!r} is already written by report format {taken.name!r}")
    for need in decl.needs:
        if not isinstance(need, Beside):
            raise RegistrationError(f"{who}: needs {need!r}, which is not one of {', '.join(map(str, Beside))}")


# ---- a plugin's declaration, from its object and the facts given to the decorator


class _Base(TypedDict):
    """The facts every declaration made from a plugin's object shares."""

    help: str
    module: str



def _measurement_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> MeasurementDecl:
    # a check or measurement that declares nothing reads the samples' pixels, and only them
    inputs = _resolve_inputs(base["module"], owner, facts.get("inputs", (Input.IMAGES,)))
    if any(a.required for a in args_from_signature(obj)):
        raise RegistrationError(f"{base['module']}: {owner}: a measurement takes no required arguments (where: names it bare)")
    return MeasurementDecl(inputs=inputs, **base)


def _check_decl_of(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> CheckDecl:
    inputs = _resolve_inputs(base["module"], owner, facts.get("inputs", (Input.IMAGES,)))
    args = tuple(facts["args"]) if "args" in facts else args_from_signature(obj)
    return CheckDecl(inputs=inputs, args=args, **base)


def _metric_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> MetricDecl:
    module = base["module"]
    if not hasattr(obj, "compute"):
        raise RegistrationError(f"{module}: {owner} must be a class with compute(inputs, confidence, /, **args)")
    if "higher_is_better" not in facts:
        raise RegistrationError(f"{module}: {owner} must declare higher_is_better=True or False (its orientation)")
    inputs = _resolve_inputs(module, owner, facts.get("inputs", ()))
    optional = _resolve_inputs(module, owner, facts.get("optional", ()))
    states = _resolve_states(module, owner, facts["states"]) if "states" in facts else default_states(inputs)
    interval = facts.get("interval", Interval("custom", "the metric's own bounds"))
    args = tuple(facts["args"]) if "args" in facts else args_from_signature(obj.compute)
    return MetricDecl(inputs=inputs, optional=optional, args=args, higher_is_better=facts["higher_is_better"],
                      interval=Interval(interval) if isinstance(interval, str) else interval,
                      min_n=facts.get("min_n", 1), states=states, **base)


def _generator_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> GeneratorDecl:
    holder = getattr(obj, "params", obj)
    params = tuple(facts["params"]) if "params" in facts else args_from_signature(
        holder, keyword_only=False, skip=("self", "device", "checkpoint"))
    rest = {k: facts[k] for k in ("num_classes", "image_shape", "output_range") if k in facts}
    return GeneratorDecl(params=params, weights=tuple(facts.get("weights", ())),
                         accepts_any_params=takes_any_keyword(holder), **rest, **base)


def _feature_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> FeatureDecl:
    return FeatureDecl(**{k: facts[k] for k in ("dim", "num_classes", "input_shape", "preprocessing", "reads_weights")
                          if k in facts}, weights=tuple(facts.get("weights", ())), **base)


def _dataset_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> DatasetDecl:
    return DatasetDecl(**{k: facts[k] for k in ("splits", "num_classes", "image_shape") if k in facts}, **base)


def _format_decl(owner: str, obj: Any, base: _Base, facts: dict[str, Any]) -> FormatDecl:
    module = base["module"]
    if not callable(obj):
        raise RegistrationError(f"{module}: {owner} must be a function of the report's view returning the file's text")
    if "file" not in facts:
        raise RegistrationError(f"{module}: {owner} must declare file=NAME (its file in the report folder)")
    needs = facts.get("needs", ())
    needs = (needs,) if isinstance(needs, (str, Beside)) else tuple(needs)
    unknown = [n for n in needs if str(n) not in Beside._value2member_map_]
    if unknown:
        raise RegistrationError(f"{module}: {owner} needs {unknown[0]!r}; a format may read: {', '.join(map(str, Beside))}")
    return FormatDecl(file=facts["file"], partial_file=facts.get("partial_file"), needs=tuple(Beside(str(n)) for n in needs),
                      **base)


_DECL_OF = {"measurement": _measurement_decl, "check": _check_decl_of, "metric": _metric_decl,
            "generator": _generator_decl, "feature extractor": _feature_decl, "dataset": _dataset_decl,
            "report format": _format_decl}


def _decl_from_object(reg: Registry[Any, Any], name: str, obj: Any, doc: str, module: str, facts: dict[str, Any]) -> Declaration:
    return _DECL_OF[reg.kind](f"{reg.kind} {name!r}", obj, {"help": doc, "module": module}, facts)


# One subclass per kind, for its decorator: ``@evalkit.check("name", ...)`` takes a ``Check``
# (a TypeVar bound to the protocol keeps the decorated object's own type).
Ch = TypeVar("Ch", bound="Check")
Me = TypeVar("Me", bound="Measurement")
Mc = TypeVar("Mc", bound="MetricClass")
Ge = TypeVar("Ge", bound="GeneratorFactory")
Fe = TypeVar("Fe", bound="FeatureFactory")
Da = TypeVar("Da", bound=DatasetFactory)
Fo = TypeVar("Fo", bound=FormatFunction)


class CheckRegistry(Registry[CheckDecl, "Check"]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Ch], Ch]:
        """``@evalkit.check("my_check", inputs=(Input.CLASSIFIER,))``: register a check."""
        return self._decorator(name, help, facts)


class MeasurementRegistry(Registry[MeasurementDecl, "Measurement"]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Me], Me]:
        """``@evalkit.measurement("my_number")``: register a measurement."""
        return self._decorator(name, help, facts)


class MetricRegistry(Registry[MetricDecl, "MetricClass"]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Mc], Mc]:
        """``@evalkit.metric("my_metric", higher_is_better=True, ...)`` on a class: register a metric."""
        return self._decorator(name, help, facts)


class GeneratorRegistry(Registry[GeneratorDecl, "GeneratorFactory"]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Ge], Ge]:
        """``@evalkit.generator("my-gan", num_classes=10, ...)`` on a factory: register a generator."""
        return self._decorator(name, help, facts)


class FeatureRegistry(Registry[FeatureDecl, "FeatureFactory"]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Fe], Fe]:
        """``@evalkit.feature("my-embedding", dim=64)`` on a factory: register a feature extractor."""
        return self._decorator(name, help, facts)

    def fixed_input(self, name: str | None) -> tuple[int, int, int] | None:
        """The (C, H, W) a registered network takes and nothing else, or None (any shape, or not registered:
        a user module is built for the images it gets)."""
        if name is None or name not in self:
            return None
        shape = self.get(name).decl.input_shape
        return None if shape is None else cast("tuple[int, int, int]", tuple(shape))

    def maps_any_size(self, name: str | None, resize: str) -> bool:
        """Whether images of different shapes meet in one feature space under ``name``: it declares its own
        resizing (inception-fid, dinov2, clip), or it takes one input shape and the spec's ``resize:`` policy
        brings every image to it. Otherwise (pixels, a user module) features of different shapes differ."""
        if name is None or name not in self:
            return False
        decl = self.get(name).decl
        prep = decl.preprocessing
        if prep is not None and prep.size is not None and prep.resize != "none":  # it resizes, as declared
            return True
        return decl.input_shape is not None and resize != "refuse"


class DatasetRegistry(Registry[DatasetDecl, DatasetFactory]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Da], Da]:
        """``@evalkit.dataset("my-data", splits={"test": 1000})`` on a factory: register a dataset."""
        return self._decorator(name, help, facts)


class FormatRegistry(Registry[FormatDecl, FormatFunction]):
    def __call__(self, name: str | None = None, *, help: str | None = None, **facts: Any) -> Callable[[Fo], Fo]:
        """``@evalkit.report_format("tsv", file="verdicts.tsv")``: register a report format."""
        return self._decorator(name, help, facts)


generators = GeneratorRegistry("generator", GeneratorDecl)
datasets = DatasetRegistry("dataset", DatasetDecl)
features = FeatureRegistry("feature extractor", FeatureDecl)
measurements = MeasurementRegistry("measurement", MeasurementDecl)
checks = CheckRegistry("check", CheckDecl)
metrics = MetricRegistry("metric", MetricDecl)
formats = FormatRegistry("report format", FormatDecl)

REGISTRIES: dict[str, Registry[Any, Any]] = {
    "generators": generators,
    "datasets": datasets,
    "features": features,
    "measurements": measurements,
    "checks": checks,
    "metrics": metrics,
    "formats": formats,
}

# Short decorator names, in the style of inspect_ai: ``@evalkit.check("name")``.
generator = generators
dataset = datasets
feature = features
measurement = measurements
check = checks
metric = metrics
report_format = formats  # not `format`: that would shadow the builtin wherever it is imported by name


# ---------------------------------------------------------------- plugins

_plugins_loaded = False


def load_plugins() -> None:
    """Declare the built-ins and import every module of the ``evalkit.plugins`` entry-point group (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from . import _builtins

    _builtins.declare()  # once per process, however often this runs

    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except RegistrationError as exc:  # a declaration mistake: name the installed plugin too (exit 2)
            raise RegistrationError(f"plugin {ep.name!r} (entry point {ENTRY_POINT_GROUP}: {ep.value}): {exc}") from None
        except Exception as exc:  # a broken plugin must not take the whole tool down
            log.warning("plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)


def import_plugin(module: str) -> None:
    """Import a module named in a spec's ``plugins:`` (its import registers its extensions)."""
    load_plugins()
    if module in sys.modules:
        return
    try:
        importlib.import_module(module)
    except RegistrationError:
        raise
    except Exception as exc:
        raise SpecError(
            f"cannot import plugin module {module!r}: {type(exc).__name__}: {exc} "
            "(is it installed, or on PYTHONPATH / in the spec's folder?)"
        ) from None


def is_reference(text: str) -> bool:
    """True for ``module:attribute`` references to user code."""
    mod, sep, attr = text.partition(":")
    return bool(sep) and bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".")) and all(
        p.isidentifier() for p in attr.split(".")
    )


def resolve_reference(text: str) -> Any:
    """Import ``module:attribute`` (attribute may be dotted); errors say which part failed."""
    mod_name, _, attr = text.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except (Exception, SystemExit) as exc:  # a module calling sys.exit() at import must not end evalkit with its code
        raise SpecError(
            f"cannot import module {mod_name!r} of {text!r}: {type(exc).__name__}: {exc} "
            "(is it installed, or on PYTHONPATH / in the spec's folder?)"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            near = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SpecError(f"module {mod_name!r} has no attribute {part!r} (in {text!r}){hint}")
        obj = getattr(obj, part)
    return obj


__all__ = [
    "CONTRACT_VERSION", "Input", "Measured", "measured", "Merge", "State", "Interval", "Arg", "REQUIRED",
    "Declaration", "MeasurementDecl", "CheckDecl", "MetricDecl", "GeneratorDecl", "FeatureDecl", "Preprocessing", "DatasetDecl",
    "FormatDecl", "Beside",
    "Entry", "Registry", "Problem", "UndeclaredInput", "TooFewSamples", "validate_args", "args_from_signature", "default_states",
    "generators", "datasets", "features", "measurements", "checks", "metrics", "formats", "REGISTRIES",
    "generator", "dataset", "feature", "measurement", "check", "metric", "report_format",
    "load_plugins", "import_plugin", "is_reference", "resolve_reference",
]
