"""The declarations of the extension contract: what an extension reads, its
arguments, and the facts each kind states (version ``CONTRACT_VERSION``).

Typed records, not free-form dicts: ``Input`` names what a run provides,
``Measured`` a registered measurement read as an input, ``Arg`` an argument with
its type, default and bounds, ``State`` a per-sample state with its ``Merge``
rule, ``Interval`` a metric's interval method. ``registry`` files these under
names; this module imports nothing heavier than the standard library (pydantic
only when an argument is validated).
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Union

from ._errors import RunError

CONTRACT_VERSION = 1

# ITU-R BT.601 luma weights (R, G, B), what PIL's convert("L") computes: how evalkit reads a colour
# image as grey wherever it needs one brightness per pixel (the image measurements, Observation.gray)
LUMA = (0.299, 0.587, 0.114)


# ---------------------------------------------------------------- what an extension reads


class Input(str, Enum):
    """Something a run provides to measurements, checks and metrics."""

    IMAGES = "images"
    FEATURES = "features"
    CLASSIFIER = "classifier"
    LABELS = "labels"
    TRAINING = "training"
    REFERENCE = "real"
    HISTORY = "history"

    def __str__(self) -> str:
        return self.value

    @property
    def provider(self) -> str:
        """Which part of a spec (or of a subject) provides this input, in words."""
        return _PROVIDERS[self]


_PROVIDERS = {
    Input.IMAGES: "the samples themselves (always there)",
    Input.FEATURES: "the spec's `features:` extractor",
    Input.CLASSIFIER: "the spec's `classifier:` (class probabilities)",
    Input.LABELS: "a class-conditional subject (the classes asked of it)",
    Input.TRAINING: "a `training:` set (nearest-training-image distances)",
    Input.REFERENCE: "a `reference:` set (real images and their features)",
    Input.HISTORY: "the subject's earlier samples (always there)",
}


@dataclass(frozen=True)
class Measured:
    """A registered measurement, read as an input (one float per sample)."""

    name: str

    def __str__(self) -> str:
        return f"measurement {self.name!r}"


InputRef = Union[Input, Measured]


def measured(name: str) -> Measured:
    """``inputs=(measured("ink"),)``: a metric or check reads a registered measurement."""
    return Measured(name)


class Merge(str, Enum):
    """How two partial states of the same quantity combine (shards, batches, processes)."""

    SUM = "sum"  # counts and running sums: a + b
    CAT = "cat"  # per-sample rows, kept with their sample indices and sorted by them

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class State:
    """A per-subject state a metric accumulates batch by batch: what it holds and how it merges."""

    name: str
    source: InputRef
    merge: Merge


# The state a metric gets for each per-sample input it declares (REFERENCE and HISTORY
# are run-wide, not per sample). A measurement input gets a cat-state of its values.
_DEFAULT_STATE: dict[Input, str] = {
    Input.FEATURES: "features",
    Input.CLASSIFIER: "predicted",
    Input.LABELS: "asked",
    Input.TRAINING: "nn_ratio",
    Input.IMAGES: "images",
}


@dataclass(frozen=True)
class Interval:
    """A metric's interval method: a short name and what the interval covers, in words."""

    name: str
    words: str = ""

    def __str__(self) -> str:
        return self.name


def bootstrap_minimum(confidence: float) -> int:
    """The fewest resamples a one-sided bootstrap bound at ``confidence`` can rest on: the bound is
    the c-quantile of the resamples, which says something only when at least one resample lies
    beyond it, i.e. B (1 - c) >= 1."""
    return max(2, math.ceil(1 / (1 - confidence) - 1e-9))


# ---------------------------------------------------------------- arguments


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Arg:
    """One argument of an extension: its type, default (or ``REQUIRED``) and numeric bounds."""

    name: str
    type: Any = Any
    default: Any = REQUIRED
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def type_name(self) -> str:
        t = self.type
        if typing.get_origin(t) is typing.Annotated:
            t = typing.get_args(t)[0]
        return getattr(t, "__name__", None) or str(t).replace("typing.", "")

    def bounds_text(self) -> str:
        parts = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if v is not None]
        return " and ".join(parts)

    def describe(self) -> str:
        """``k: int = 3 (>= 1)`` for listings."""
        text = f"{self.name}: {self.type_name()}" + ("" if self.required else f" = {self.default!r}")
        return text + (f" ({self.bounds_text()})" if self.bounds_text() else "")

    def validate(self, value: Any, owner: str) -> Any:
        """The value, converted to the declared type; ``ValueError`` naming owner, argument and bound."""
        if self.type is not Any:
            from pydantic import TypeAdapter, ValidationError

            try:
                value = TypeAdapter(self.type).validate_python(value, strict=False)
            except ValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"msg": "invalid", "type": ""}
                if not (first["type"].startswith(("greater_than", "less_than")) and self._bounded()):
                    raise ValueError(f"{owner} argument {self.name!r} must be {self.type_name()}, "
                                     f"got {value!r} ({first['msg']})") from None
                # a bound an Annotated type states: convert to the bare type, and the bounds say it in the house's words
                value = TypeAdapter(typing.get_args(self.type)[0]).validate_python(value, strict=False)
        return self._within_bounds(value, owner)

    def _bounded(self) -> bool:
        return any(b is not None for b in (self.ge, self.gt, self.le, self.lt))

    def _within_bounds(self, value: Any, owner: str) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            checks: tuple[tuple[str, float | None, Callable[[float, float], bool]], ...] = (
                (">=", self.ge, lambda v, b: v >= b),
                (">", self.gt, lambda v, b: v > b),
                ("<=", self.le, lambda v, b: v <= b),
                ("<", self.lt, lambda v, b: v < b),
            )
            for op, bound, ok in checks:
                if bound is not None and not (isinstance(value, float) and math.isnan(value)) and not ok(value, bound):
                    raise ValueError(f"{owner} argument {self.name!r} must be {op} {bound:g}, got {value!r}")
                if bound is not None and isinstance(value, float) and math.isnan(value):
                    raise ValueError(f"{owner} argument {self.name!r} must be {op} {bound:g}, got nan")
        return value


@dataclass(frozen=True)
class Problem:
    """One mistake in a set of arguments: the argument it concerns (None: a missing one) and why."""

    key: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def validate_args(owner: str, declared: tuple[Arg, ...], given: dict[str, Any],
                  noun: str = "argument") -> tuple[dict[str, Any], list[Problem]]:
    """(arguments with defaults filled in, one problem per mistake) for ``given`` against ``declared``.

    ``noun`` is "argument" (checks, metrics) or "parameter" (generators)."""
    by_name = {a.name: a for a in declared}
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for key, value in given.items():
        arg = by_name.get(key)
        if arg is None:
            near = difflib.get_close_matches(str(key), list(by_name), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            valid = ", ".join(by_name) or "none"
            text = (f"{owner} has no argument {key!r}{hint} (arguments: {valid})" if noun == "argument"
                    else f"{owner}: unknown parameter {key!r}{hint} (parameters: {valid})")
            problems.append(Problem(key, text))
            continue
        try:
            out[key] = arg.validate(value, owner)
        except ValueError as exc:
            problems.append(Problem(key, str(exc)))
    for arg in declared:
        if arg.name not in given:
            if arg.required:
                problems.append(Problem(None, f"{owner} needs {noun} {arg.name!r} ({arg.describe()})"))
            else:
                out[arg.name] = arg.default
    return out, problems


def args_from_signature(fn: Callable[..., object], *, keyword_only: bool = True, skip: tuple[str, ...] = ()) -> tuple[Arg, ...]:
    """The arguments of ``fn`` as ``Arg``s: keyword-only ones (checks, metrics) or every named one (generators)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ()
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    kinds = (inspect.Parameter.KEYWORD_ONLY,) if keyword_only else (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    out = []
    for p in sig.parameters.values():
        if p.kind not in kinds or p.name in skip:
            continue
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        hint = hints.get(p.name, Any)
        b = _bounds_of(hint)
        out.append(Arg(p.name, hint, default, ge=b.get("ge"), gt=b.get("gt"), le=b.get("le"), lt=b.get("lt")))
    return tuple(out)


def _bounds_of(hint: Any) -> dict[str, float]:
    """The numeric bounds an ``Annotated[float, annotated_types.Interval(ge=0, le=1)]`` (or ``Ge(0)``...) states,
    so listings show them and the conformance test probes them (pydantic enforces them either way)."""
    if typing.get_origin(hint) is not typing.Annotated:
        return {}
    out: dict[str, float] = {}
    for meta in typing.get_args(hint)[1:]:
        for key in ("ge", "gt", "le", "lt"):
            value = getattr(meta, key, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
    return out


def takes_any_keyword(fn: Callable[..., object]) -> bool:
    try:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True, kw_only=True)
class Declaration:
    """What every registered extension states: one line of help, who registered it, the contract version."""

    help: str = ""
    module: str = ""
    contract: int = CONTRACT_VERSION

    def describe(self) -> list[str]:
        """The declared facts, one per line, for ``evalkit list``."""
        lines = []
        inputs = tuple(getattr(self, "inputs", ())) + tuple(getattr(self, "optional", ()))
        if inputs:
            optional = set(getattr(self, "optional", ()))
            lines.append("reads: " + ", ".join(f"{i}" + (" (optional)" if i in optional else "") for i in inputs))
        args = tuple(getattr(self, "args", ())) or tuple(getattr(self, "params", ()))
        if args:
            lines.append(("params: " if hasattr(self, "params") else "args: ") + "; ".join(a.describe() for a in args))
        return lines + self._facts()

    def _facts(self) -> list[str]:
        return []


@dataclass(frozen=True, kw_only=True)
class MeasurementDecl(Declaration):
    """A per-sample number (one float64 per sample), named in ``where:`` expressions."""

    inputs: tuple[InputRef, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CheckDecl(Declaration):
    """A per-sample predicate (one bool per sample); a rate requirement bounds its pass rate."""

    inputs: tuple[InputRef, ...] = ()
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MetricDecl(Declaration):
    """A distribution metric with a one-sided interval."""

    inputs: tuple[InputRef, ...] = ()
    optional: tuple[InputRef, ...] = ()  # read when the spec provides them, never required
    args: tuple[Arg, ...] = ()
    higher_is_better: bool = True
    interval: Interval = Interval("custom", "the metric's own bounds")
    min_n: int = 1
    states: tuple[State, ...] = ()
    # reads the reference's class labels (a bundled dataset, or an .npz with a `labels` array),
    # not only its images: checked at validate, since a folder reference has none
    labelled_reference: bool = False

    def _facts(self) -> list[str]:
        orient = "higher is better" if self.higher_is_better else "lower is better"
        interval = self.interval.name + (f" ({self.interval.words})" if self.interval.words else "")
        states = ", ".join(f"{s.name}: {s.merge}" for s in self.states) or "none"
        return [f"{orient}; interval: {interval}; min N: {self.min_n}", f"state: {states}"]


@dataclass(frozen=True, kw_only=True)
class GeneratorDecl(Declaration):
    """A model under test: its params, classes, output range and weights files."""

    params: tuple[Arg, ...] = ()
    # int: that many classes; None: unconditional; a callable: computed from the validated params
    num_classes: int | None | Callable[[dict[str, Any]], int | None] = None
    image_shape: tuple[int, int, int] | None = None
    output_range: tuple[float, float] | None = (0.0, 1.0)  # None: any values (the spec must check them)
    weights: tuple[str, ...] = ()
    accepts_any_params: bool = False
    # "module:function" that reads the files a subject's params name, at validate and without torch:
    # called as fn(params, spec_folder) -> GeneratorFacts (classes and image shape found there, or problems)
    inspect: str | None = None

    def classes(self, params: dict[str, Any]) -> int | None:
        return self.num_classes(params) if callable(self.num_classes) else self.num_classes

    def _facts(self) -> list[str]:
        classes = "from its params" if callable(self.num_classes) else (self.num_classes or "unconditional")
        if self.inspect is not None:
            classes = "read from the files its params name"  # so are the images' shape
        rng = "any (the spec must check it)" if self.output_range is None else f"[{self.output_range[0]:g}, {self.output_range[1]:g}]"
        out = [f"classes: {classes}; output range: {rng}"
               + (f"; images: {'x'.join(map(str, self.image_shape))}" if self.image_shape else "")]
        return out + ([f"weights: {', '.join(self.weights)}"] if self.weights else [])


@dataclass(frozen=True)
class GeneratorFacts:
    """What a generator's ``inspect`` found in the files its params name, before anything is built."""

    num_classes: int | None = None
    image_shape: tuple[int, int, int] | None = None
    # the params the factory is called with (paths resolved against the spec's folder)
    params: dict[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()  # each names the param (None: the subject) and the fix


# Resize filters, by the name a spec's `resize:` or a feature space's preprocessing gives them.
# "bicubic" and "bilinear" are antialiased (as PIL resizes, and clean-fid and the Hugging Face image
# processors with it); "tf-bilinear" is not (TensorFlow 1.x's resize_bilinear with align_corners=False: no
# half-pixel centres, unlike torch's; the TF1 Inception graph's resize, as torch-fidelity reproduces it);
# "none": the network takes the images as given.
RESIZE_FILTERS = ("bicubic", "bilinear", "tf-bilinear", "nearest", "area", "none")
_RESIZE_ALIASES = {"bicubic-antialias": "bicubic", "bilinear-antialias": "bilinear"}


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    """What a feature space does to evalkit images ((N, C, H, W) floats in [0, 1]) before its network.

    Declared once per feature space and recorded in the report beside its name and weights digest,
    because the same images give different FIDs under different resizing and quantisation: two
    results are comparable only when these facts agree (``compare`` and ``--baseline`` check them).
    """

    size: tuple[int, int] | None = None  # (H, W) the network sees; None: any size
    resize: str = "none"  # one of RESIZE_FILTERS (aliases: bicubic-antialias -> bicubic)
    channels: int | None = None  # 3: grey replicated to RGB; 1: RGB to BT.601 luminance; None: as given
    value_range: tuple[float, float] = (0.0, 1.0)  # the range the network is fed
    quantize: bool = False  # rounded to the 256 levels of uint8 first (what tools reading PNGs see)
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # per-channel (mean, std) on [0, 1] values

    def __post_init__(self) -> None:
        name = _RESIZE_ALIASES.get(self.resize, self.resize)
        if name not in RESIZE_FILTERS:
            raise ValueError(f"resize filter {self.resize!r} is not one of {', '.join(RESIZE_FILTERS)}")
        object.__setattr__(self, "resize", name)
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or None, got {self.channels!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able facts, as the report records them."""
        return {"size": list(self.size) if self.size else None, "resize": self.resize, "channels": self.channels,
                "value_range": list(self.value_range), "quantize": "uint8" if self.quantize else None,
                "normalize": [list(self.normalize[0]), list(self.normalize[1])] if self.normalize else None}

    def describe(self) -> str:
        parts = [f"{self.size[0]}x{self.size[1]} by {self.resize}" if self.size else "any size"]
        if self.channels:
            parts.append({3: "RGB (grey replicated)", 1: "grey (RGB as luminance)"}[self.channels])
        parts.append(f"values in [{self.value_range[0]:g}, {self.value_range[1]:g}]")
        if self.quantize:
            parts.append("uint8-quantised")
        if self.normalize:
            parts.append("mean/std normalised")
        return ", ".join(parts)


@dataclass(frozen=True, kw_only=True)
class FeatureDecl(Declaration):
    """A feature extractor: its dimension, classes (when it also classifies), input shape, weights,
    its declared preprocessing, and whether it reads weights the user holds (``feature_weights:``)."""

    dim: int | None = None
    num_classes: int | None = None
    input_shape: tuple[int, int, int] | None = None
    weights: tuple[str, ...] = ()
    preprocessing: Preprocessing | None = None
    reads_weights: bool = False

    def _facts(self) -> list[str]:
        shape = "x".join(map(str, self.input_shape)) if self.input_shape else "any"
        dim = self.dim or ("from the weights' config" if self.reads_weights else "from the image shape")
        out = [f"dim: {dim}; classes: {self.num_classes or 'none (no logits)'}; images: {shape}"]
        if self.preprocessing is not None:
            out.append(f"preprocessing: {self.preprocessing.describe()}")
        if self.reads_weights:
            out.append("weights: yours, from `feature_weights:` (see its help)")
        return out + ([f"weights: {', '.join(self.weights)}"] if self.weights else [])


@dataclass(frozen=True, kw_only=True)
class DatasetDecl(Declaration):
    """A dataset: its splits with their sizes, classes and image shape."""

    splits: dict[str, int] = field(default_factory=dict)
    num_classes: int | None = None
    image_shape: tuple[int, int, int] | None = None

    def _facts(self) -> list[str]:
        splits = ", ".join(f"{k} ({v})" for k, v in self.splits.items()) or "unknown"
        return [f"splits: {splits}; classes: {self.num_classes or 'none'}"]


class Beside(str, Enum):
    """What a report format reads beside the report record, loaded into its ``ReportView``."""

    SAMPLES = "samples"  # the sample store (samples/), written before any format
    BASELINE = "baseline"  # the baseline report the run was compared with, when it can still be read

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class FormatDecl(Declaration):
    """A report format: one file of the report folder, rendered from the run's ``ReportView``.

    ``file`` is its name in a finished run's folder; ``partial_file`` its name in an
    interrupted run's (None: not written for interrupted runs, whose verdicts are not
    final); ``needs`` what it reads beside the record. The ``record`` format is the report
    itself: written by every run whatever formats are asked, and never rendered again
    from itself by ``evalkit render``.
    """

    file: str = ""
    partial_file: str | None = None
    needs: tuple[Beside, ...] = ()
    record: bool = False

    def _facts(self) -> list[str]:
        lines = [f"file: {self.file}" + (f" ({self.partial_file} for an interrupted run)" if self.partial_file
                                         else " (not written for an interrupted run)")]
        if self.needs:
            lines.append("reads beside the report: " + ", ".join(map(str, self.needs)))
        if self.record:
            lines.append("the record itself: always written, the source of every other format")
        return lines


def default_states(inputs: tuple[InputRef, ...]) -> tuple[State, ...]:
    """The cat-state a metric folds for each per-sample input it requires. An optional input
    gets none: it is read when the spec provides it, often run-wide (``train_images``), and a
    state the run could not always fill must be declared on purpose."""
    out = []
    for i in inputs:
        if isinstance(i, Measured):
            out.append(State(i.name, i, Merge.CAT))
        elif i in _DEFAULT_STATE:
            out.append(State(_DEFAULT_STATE[i], i, Merge.CAT))
    return tuple(out)


class UndeclaredInput(RunError):
    """A component read an input it did not declare (a bug in that component: exit 3)."""


class TooFewSamples(RunError):
    """A metric was asked for a value at an N below its interval method's minimum."""
