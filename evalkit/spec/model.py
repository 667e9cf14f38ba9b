"""The spec, version 1, as pydantic v2 models.

Unknown keys are errors everywhere (``extra="forbid"``): a typo must never be
silently ignored. Names of checks, metrics, models and measurements, and the
arguments of checks and metrics, are checked here against the registries'
declarations (no implementation is imported, so no torch); what needs more than
one field or the files on disk is checked by ``plan.validate``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .. import registry

DEFAULT_CONFIDENCE = 0.95

# Bounds on everything a spec can size, so a typo or a hostile file is refused at
# validate time instead of reaching an allocator (n: 10**12 once asked for 8.8 TB).
MAX_SAMPLES = 10**8  # per subject
MAX_BATCH = 100_000  # samples observed (and blocks drawn) at once
MAX_CLASSES = 100_000  # class indices in labels: are below this
MAX_SEED = 2**63 - 1  # seeds are int64 for torch; larger ones would alias modulo 2**64
MAX_RANGE = 10**9  # dataset slice bounds


class FieldProblem(ValueError):
    """A validator's error that belongs to a field below the one validated (``path`` relative to it),
    so the loader marks that field's line and column, not the parent's."""

    def __init__(self, message: str, path: tuple = ()):
        super().__init__(message)
        self.path = path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _registries_ready(cls, data: Any) -> Any:
        # Names are checked against the registries, so fill them before any validator runs.
        registry.load_plugins()
        return data


class Reference(_Strict):
    """Real images that distribution metrics compare against."""

    dataset: str | None = Field(None, description="A registered dataset, e.g. 'fashion-mnist'.")
    split: str = Field("test", description="Split of the dataset ('test' ships with evalkit; 'train' needs the Debian package).")
    range: tuple[int, int] | None = Field(None, description="Half-open [start, stop) slice of the split, e.g. [0, 5000].")

    @field_validator("range")
    @classmethod
    def _range_bounded(cls, v):
        if v is not None and not (0 <= v[0] < v[1] <= MAX_RANGE):
            raise ValueError(f"range must be [start, stop) with 0 <= start < stop <= {MAX_RANGE}, got {list(v)}")
        return v
    path: str | None = Field(None, description="A folder of PNG/JPEG images or an .npz file, relative to the spec's folder.")
    format: Literal["folder", "npz"] | None = Field(None, description="Format of `path`; inferred from it when omitted.")
    # left out of the canonical form when unset, so a reference reads as it did before the field existed
    # (--baseline and compare compare the reference entries of two reports' specs)
    statistics: str | None = Field(None, exclude_if=lambda v: v is None,
                                   description="FID reference statistics from another tool: an .npz of `mu` (d,) "
                                   "and `sigma` (d, d), relative to the spec's folder; only `fid` can use them.")

    @model_validator(mode="after")
    def _one_source(self) -> "Reference":
        if sum(x is not None for x in (self.dataset, self.path, self.statistics)) != 1:
            raise ValueError("give exactly one of `dataset:` (a registered dataset), `path:` (a folder or .npz of images) "
                             "or `statistics:` (an .npz of FID's mu and sigma)")
        if self.statistics is not None and self.format is not None:
            raise ValueError("`format:` describes `path:` images; `statistics:` is always an .npz of mu and sigma")
        if self.statistics is not None and (self.range is not None or self.split != "test"):
            raise ValueError("`range:` and `split:` select dataset images; imported `statistics:` are moments already "
                             "computed over a fixed set, so they cannot be sliced: drop range/split")
        if self.dataset is not None and self.dataset not in registry.datasets:
            raise ValueError(registry.datasets.unknown_message(self.dataset))
        if self.range is not None and not (0 <= self.range[0] < self.range[1]):
            raise ValueError(f"range must be [start, stop) with 0 <= start < stop, got {list(self.range)}")
        if self.dataset is not None:
            _check_split(self.dataset, self.split, self.range)
        return self


class Subject(_Strict):
    """One row of the audit: a model with its settings, or a folder/.npz of generated images."""

    model: str | None = Field(None, description="A registered generator name, or 'module:attribute' of user code.")
    path: str | None = Field(None, description="A folder of images or an .npz of already generated samples.")
    format: Literal["folder", "npz"] | None = Field(None, description="Format of `path`; inferred when omitted.")
    name: str | None = Field(None, description="Display name in reports; defaults to the model and its params.")
    checkpoint: str | None = Field(None, description="Weights file handed to a user generator (a .safetensors path).")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the generator (e.g. steps, guidance).")
    time_limit: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False,
                                     description="Seconds this subject may take to build and sample; past it, it breaks (exit 3).")

    @model_validator(mode="after")
    def _one_source(self) -> "Subject":
        if (self.model is None) == (self.path is None):
            raise ValueError("give exactly one of `model:` (a generator) or `path:` (images on disk)")
        if self.model is not None and not registry.is_reference(self.model) and self.model not in registry.generators:
            raise ValueError(registry.generators.unknown_message(self.model))
        return self

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        base = self.model or Path(self.path or "").name or str(self.path)
        if self.params:
            base += "(" + ", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"
        return base


class Sampling(_Strict):
    """How many samples to draw, in which batches, from which seed, with which labels."""

    n: int | None = Field(None, gt=0, le=MAX_SAMPLES, description="Samples per subject (default 1000, or the sum of per-class counts).")
    batch_size: int = Field(250, gt=0, le=MAX_BATCH, description="Samples observed at once (default 250, or n when smaller); "
                            "changes neither the samples nor any number in the report.")
    block_size: int = Field(50, gt=0, le=MAX_BATCH, description="Latents are drawn in blocks seeded by (seed, block index); changing it changes the samples.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Base seed; sample i depends only on (seed, i).")
    labels: Literal["uniform", "stratified"] | list[int] | dict[int, int] = Field(
        "uniform", description="'uniform' (classes drawn i.i.d. uniform, from (seed, index)), 'stratified' (classes "
        "in exact turn: a balanced mix, which shifts metrics against an i.i.d. reference), a list of classes used "
        "in turn, or per-class counts."
    )
    sequential: bool = Field(False, description="Stop a subject as soon as every requirement is decided.")
    anytime: bool = Field(False, description="Judge rate requirements on confidence sequences, valid at every n at "
                          "once, so a finished run may be topped up (`evalkit run SPEC --resume OUT --n LARGER`) "
                          "without losing the verdicts' confidence; metric requirements are unchanged.")
    time_limit: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False,
                                     description="Seconds each subject may take to build and sample; past it, it breaks (exit 3).")

    @field_validator("labels")
    @classmethod
    def _class_indices(cls, labels):
        classes = list(labels) if isinstance(labels, (dict, list)) else []
        bad = next((c for c in classes if not 0 <= c < MAX_CLASSES), None)
        if bad is not None:
            raise ValueError(f"class {bad} is not a class index: labels are in 0..{MAX_CLASSES - 1}")
        if len(classes) > MAX_CLASSES:
            raise ValueError(f"labels lists {len(classes)} classes; at most {MAX_CLASSES}")
        return labels

    @model_validator(mode="after")
    def _sizes(self) -> "Sampling":
        if isinstance(self.labels, dict):
            if sum(self.labels.values()) > MAX_SAMPLES:
                raise ValueError(f"per-class counts add up to {sum(self.labels.values())}; at most {MAX_SAMPLES} samples per subject")
            if any(c < 0 for c in self.labels.values()):
                raise ValueError("per-class counts must be >= 0")
            total = sum(self.labels.values())
            if total <= 0:
                raise ValueError("per-class counts add up to 0 samples")
            if self.n is not None and self.n != total:
                raise ValueError(f"n is {self.n} but the per-class counts add up to {total}; drop n or make them agree")
            self.n = total
        elif isinstance(self.labels, list) and not self.labels:
            raise ValueError("labels list is empty")
        if self.anytime and self.sequential:
            raise ValueError("anytime: true and sequential: true: give one. sequential spends the error over looks "
                             "planned up to n; anytime's bounds hold at every n already, so top the run up with "
                             "`evalkit run SPEC --resume OUT --n LARGER` instead of sequential looks")
        if self.n is None:
            self.n = 1000
        if "batch_size" not in self.model_fields_set:
            self.batch_size = min(self.batch_size, self.n)  # the default never exceeds a small n
        if self.batch_size > self.n:
            raise ValueError(f"batch_size ({self.batch_size}) is larger than n ({self.n}); use batch_size <= n")
        return self

    @property
    def size(self) -> int:
        assert self.n is not None  # set by the validator
        return self.n


class Requirement(_Strict):
    """One thing the samples must satisfy: a per-sample rate, or a distribution metric bound."""

    name: str | None = Field(None, description="Readable name shown in reports.")
    check: str | None = Field(None, description="A registered per-sample check; the requirement bounds its pass rate.")
    where: str | None = Field(None, description="A boolean expression over per-sample measurements, e.g. '0.05 < ink < 0.7'.")
    metric: str | None = Field(None, description="A registered distribution metric, e.g. fid, precision, recall.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments of the check or metric.")
    at_least: float | None = Field(None, description="Lower bound: a rate in [0, 1], or a metric value.")
    at_most: float | None = Field(None, description="Upper bound (metrics only).")
    confidence: float | None = Field(None, gt=0, lt=1, description="Confidence of the verdict; defaults to the spec's.")
    per_class: bool = Field(False, description="Judge the rate for each asked class (Holm-corrected).")

    @model_validator(mode="after")
    def _kind(self) -> "Requirement":
        for bound in ("at_least", "at_most"):
            value = getattr(self, bound)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{bound} must be a finite number, got {value}")
        kinds = [k for k in ("check", "where", "metric") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of `check:`, `where:` or `metric:`" + (f" (got {', '.join(kinds)})" if kinds else ""))
        self._bounds_fit_kind()
        for reg, name in ((registry.checks, self.check), (registry.metrics, self.metric)):
            if name is not None:
                if name not in reg:
                    raise ValueError(reg.unknown_message(name))
                _, problems = reg.get(name).validate_args(self.args)
                if problems:
                    key = problems[0].key
                    raise FieldProblem("; ".join(map(str, problems)),
                                       ("args", key) if key is not None and key in self.args else ())
        if self.where is not None:
            from .expr import parse_expression

            parse_expression(self.where)  # raises ValueError naming the column (names and types)
        return self

    def _bounds_fit_kind(self) -> None:
        if self.kind == "rate":
            if self.at_most is not None:
                raise ValueError("a rate requirement takes `at_least` (the share of samples that must pass), not `at_most`")
            if self.at_least is None:
                raise ValueError("a rate requirement needs `at_least`, the share of samples that must pass, in [0, 1]")
            if not 0.0 <= self.at_least <= 1.0:
                raise ValueError(f"at_least is a rate here and must lie in [0, 1], got {self.at_least}")
        elif self.at_least is None and self.at_most is None:
            raise ValueError("a metric requirement needs `at_least` or `at_most`")
        elif self.per_class:
            raise ValueError("per_class applies to rate requirements (check: / where:), not to metrics")

    @property
    def kind(self) -> Literal["rate", "metric"]:
        return "metric" if self.metric is not None else "rate"

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.check:
            return self.check + (f"({', '.join(f'{k}={v}' for k, v in self.args.items())})" if self.args else "")
        return self.where or str(self.metric)


def _check_split(dataset: str, split: str, rng: tuple[int, int] | None) -> None:
    """A dataset's split must be declared, and a range must lie inside it."""
    decl = registry.datasets.get(dataset).decl
    if decl.splits and split not in decl.splits:
        raise ValueError(f"dataset {dataset!r} has no split {split!r} (splits: {', '.join(decl.splits)})")
    size = decl.splits.get(split)
    if rng is not None and size is not None and rng[1] > size:
        raise ValueError(f"range {list(rng)} runs past the {size} images of {dataset} {split}; use stop <= {size}")


# (block, field, default) of fields added to the spec language after 1.0: see Spec.canonical
_LATER_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("sampling", "anytime", False), ("regression", "equivalent", {}), ("regression", "non_inferior", {}),
)


class Regression(_Strict):
    """Baseline comparison: how much worse than the baseline a number may get before it counts."""

    tolerance: dict[str, float] = Field(default_factory=dict, description="Per requirement name or metric: allowed worsening.")
    equivalent: dict[str, float] = Field(default_factory=dict, description="Per requirement name or metric: the margin M "
                                         "within which the run must equal the baseline (TOST: PASS when the whole "
                                         "adjusted interval of the difference lies within +-M).")
    non_inferior: dict[str, float] = Field(default_factory=dict, description="Per requirement name or metric: the margin "
                                           "M by which the run may be worse than the baseline (PASS when the adjusted "
                                           "bound on the loss is within M).")

    @field_validator("tolerance")
    @classmethod
    def _finite(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"tolerance of {k!r} must be a finite number >= 0, got {x}")
        return v

    @field_validator("equivalent", "non_inferior")
    @classmethod
    def _margins(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not math.isfinite(x) or x <= 0:
                raise FieldProblem(f"the margin of {k!r} must be a finite number > 0, got {x}", (k,))
        return v

    @model_validator(mode="after")
    def _one_question(self) -> "Regression":
        both = sorted(set(self.equivalent) & set(self.non_inferior))
        if both:
            raise ValueError(f"{both[0]!r} is in both equivalent: and non_inferior:; ask one question of it "
                             "(equivalence implies non-inferiority)")
        return self


class ReportSettings(_Strict):
    """What the run writes."""

    formats: list[str] = Field(
        default_factory=lambda: ["json", "markdown"],
        description="Files written in the report folder: registered report formats (`evalkit list formats`; "
        "a plugin may add one).",
    )
    failing_examples: int = Field(8, ge=0, le=10_000, description="Failing sample indices kept per requirement.")

    @field_validator("formats")
    @classmethod
    def _registered(cls, v: list[str]) -> list[str]:
        for i, name in enumerate(v):
            if name not in registry.formats:
                raise FieldProblem(registry.formats.unknown_message(name), (i,))
        return v


class Spec(_Strict):
    """An evalkit spec, version 1."""

    version: Literal[1] = Field(description="Spec language version; must be 1.")
    name: str = Field(description="Name of the audit; names the report folder.")
    description: str | None = None
    plugins: list[str] = Field(
        default_factory=list,
        description="Python modules imported before the spec is checked (from the spec's folder or the path); "
        "their @evalkit.check / measurement / metric registrations become nameable here.",
    )
    reference: Reference | None = Field(None, description="Real images for distribution metrics.")
    training: Reference | None = Field(None, description="Training images, for memorization checks (nn_distance, not_memorized).")
    features: str = Field("fashion-encoder", description="Feature extractor: registered name, 'module:attribute' or a "
                          "TorchScript file. The default is a label-free encoder, not the classifier, so a model is "
                          "not judged twice by one network.")
    classifier: str | None = Field("fashion-classifier", description="Classifier behind label checks and confidence measurements.")
    features_check: bool = Field(True, description="Check that the feature space tells degenerate images (noise, constant, "
                                 "pixel-shuffled) from the reference before metrics are judged; `off` skips it.")
    feature_weights: str | None = Field(
        None, description="Local weights of a feature space that reads yours (`evalkit list features` says which): a file "
        "or folder, relative to the spec's folder (inception-fid: the .pth file; dinov2 / clip: a save_pretrained folder).")
    resize: Literal["refuse", "bicubic", "bilinear", "nearest", "area"] = Field(
        "refuse", description="What to do with images whose size or channels differ from a network's fixed input "
        "(the classifier's or the feature extractor's): refuse (an error at validate) or resize with this filter "
        "(bicubic and bilinear antialiased, as PIL does; grey replicated to RGB, RGB to BT.601 luminance).")
    subjects: list[Subject] = Field(min_length=1, description="Models or image sets under audit.")
    sampling: Sampling = Field(default_factory=Sampling)
    confidence: float = Field(DEFAULT_CONFIDENCE, gt=0, lt=1, description="Default confidence of every verdict.")
    requirements: list[Requirement] = Field(default_factory=list)
    regression: Regression = Field(default_factory=Regression)
    report: ReportSettings = Field(default_factory=ReportSettings)

    _source: str | None = PrivateAttr(None)
    _marks: dict[tuple, tuple[int, int]] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> "Spec":
        seen: set[str] = set()
        for s in self.subjects:
            if s.display_name in seen:
                raise ValueError(f"two subjects are both named {s.display_name!r}; give one a `name:`")
            seen.add(s.display_name)
        labels = [r.label for r in self.requirements]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"two requirements are both named {sorted(dup)[0]!r}; give one a `name:`")
        return self

    @property
    def source(self) -> str | None:
        """The file this spec was read from, if any."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return Path(self._source).parent if self._source else Path.cwd()

    def resolve_path(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def where(self, *path: Any) -> str:
        """``file:line:col`` of a field path (or of its closest parent with a mark)."""
        from .locations import format_location

        return format_location(self._source, self._marks, tuple(path))

    def confidence_of(self, req: Requirement) -> float:
        return req.confidence if req.confidence is not None else self.confidence

    def canonical(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        # fields added after specs were first digested are left out at their defaults, so the
        # digest (journals, baselines, the history) of a spec that does not use them is unchanged
        for block, key, default in _LATER_FIELDS:
            if isinstance(out.get(block), dict) and out[block].get(key, default) == default:
                out[block].pop(key, None)
        return out

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: equal specs hash equally whatever their YAML layout."""
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()
