"""Hypothesis strategies that draw valid evalkit specs from the registries' own declarations.

Nothing here lists a check, measurement, metric, generator or extractor by name:
each is read from ``evalkit.registry`` (its inputs, its arguments with their types,
defaults and bounds, a metric's orientation and minimum N, a generator's image shape
and class count), so a newly registered one joins the drawn specs without an edit.
What the declarations cannot say is stated here once, as a fact about a *world*
(an image shape with the data files, user code and classifier that fit it):

* the grey world is 1x28x28: the Fashion-MNIST reference, the bundled zoo and replay,
  a conditional and an unconditional user generator, a PNG folder and an ``.npz``;
* the RGB world is 3x8x8: an RGB reference ``.npz`` (with labels) or folder written
  by the test, a conditional and an unconditional user generator, a folder and an
  ``.npz``, and a user classifier (``spec_language_models:square_classifier``);
* the wide RGB world is 3x12x20 (not square, wider than MAX_DIM in pixels): the same
  parts from ``usergen.ColourBars`` / ``usergen.Noise`` and ``usergen:bar_classifier``.

A spec is valid by construction: a requirement is drawn only when the subjects and
the spec provide every input it reads (labels only when every subject is conditional,
a classifier whenever something reads one, a training set for memorization), with
arguments inside their declared bounds, n at least every drawn metric's minimum N.
Costs are kept small where the declaration leaves them open: a generator's integer
parameters are drawn at their lower bound + 0..2 (DDPM at <= 3 steps), and unbounded
numbers near their default.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from evalkit import registry as R
from evalkit.contract import bootstrap_minimum
from evalkit.registry import REQUIRED, Input, Measured

CONFIDENCES = (0.8, 0.9, 0.95, 0.99)  # drawn for the spec and for single requirements

FORMATS = [e.name for e in R.formats.declared() if e.decl.module == "evalkit._builtins"]  # built-ins only
GREY = (1, 28, 28)
RGB = (3, 8, 8)
RGB_WIDE = (3, 12, 20)
SAVED = 80  # images in each saved subject: above every drawn n
REF_N = 200  # reference images
OPS = ("<", "<=", ">", ">=")
CONSTANTS = (-1.0, 0.0, 0.02, 0.05, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0, 2.0, 10.0)
RATE_BOUND = st.floats(0.05, 0.95).map(lambda v: round(v, 3))
N_RANGE = (20, 60)
MAX_DIM = 256  # feature width at which a drawn metric stays cheap
ALWAYS = {Input.IMAGES, Input.HISTORY, Input.FEATURES}


# ---------------------------------------------------------------- files the worlds read


@dataclass
class Assets:
    """Image files written once per test module: saved subjects and the RGB reference."""

    root: Path
    grey_folder: Path = field(init=False)
    grey_npz: Path = field(init=False)
    rgb_folder: Path = field(init=False)
    rgb_npz: Path = field(init=False)
    rgb_ref_npz: Path = field(init=False)
    rgb_ref_folder: Path = field(init=False)
    rgb_train_npz: Path = field(init=False)
    wide_folder: Path = field(init=False)
    wide_npz: Path = field(init=False)
    wide_ref_npz: Path = field(init=False)
    wide_ref_folder: Path = field(init=False)
    wide_train_npz: Path = field(init=False)


def _write_folder(folder: Path, images: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        arr = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
        pil = Image.fromarray(arr[0], "L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")
        pil.save(folder / f"{i:04d}.png")


def write_assets(root: Path) -> Assets:
    """Grey saved subjects from real Fashion-MNIST images; RGB ones (and the RGB reference) painted."""
    from evalkit.data.datasets import fashion_mnist
    from spec_language_models import rgb_images

    a = Assets(Path(root))
    grey = fashion_mnist("test").slice(6000, 6000 + SAVED).numpy()
    a.grey_folder, a.grey_npz = a.root / "grey-png", a.root / "grey.npz"
    _write_folder(a.grey_folder, grey)
    np.savez(a.grey_npz, images=grey)
    a.rgb_folder, a.rgb_npz, a.rgb_ref_npz, a.rgb_ref_folder, a.rgb_train_npz = _write_world(
        a.root, "rgb", rgb_images(SAVED, seed=1).numpy(), _labelled_rgb(REF_N, seed=2), _labelled_rgb(REF_N, seed=3))
    a.wide_folder, a.wide_npz, a.wide_ref_npz, a.wide_ref_folder, a.wide_train_npz = _write_world(
        a.root, "wide", _bars(SAVED, seed=11)[0], _bars(REF_N, seed=12), _bars(REF_N, seed=13))
    return a


def _write_world(root: Path, name: str, saved: np.ndarray, ref: tuple[np.ndarray, np.ndarray],
                 train: tuple[np.ndarray, np.ndarray]) -> tuple[Path, Path, Path, Path, Path]:
    """One world's files: its saved samples as PNGs and .npz, a labelled reference as .npz and PNGs,
    a labelled training .npz (folder, npz, ref_npz, ref_folder, train_npz)."""
    folder, npz, ref_npz, ref_folder, train_npz = (root / f"{name}-png", root / f"{name}.npz", root / f"{name}-ref.npz",
                                                   root / f"{name}-ref-png", root / f"{name}-train.npz")
    _write_folder(folder, saved)
    np.savez(npz, images=saved)
    np.savez(ref_npz, images=ref[0], labels=ref[1])
    _write_folder(ref_folder, ref[0])
    np.savez(train_npz, images=train[0], labels=train[1])
    return folder, npz, ref_npz, ref_folder, train_npz


def _bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import torch
    from usergen import COLOURS, ColourBars

    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(COLOURS), (n,), generator=g)
    return ColourBars(*RGB_WIDE[1:]).sample(n, labels=labels, generator=g).numpy(), labels.numpy().astype(np.int64)


def _labelled_rgb(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from spec_language_models import RGB_CLASSES, _paint

    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, RGB_CLASSES, (n,), generator=g)
    return _paint(labels, g).numpy(), labels.numpy().astype(np.int64)


# ---------------------------------------------------------------- worlds


@dataclass
class SubjectKind:
    """One way to name a subject: its spec entry (params drawn later) and its class count."""

    entry: dict
    classes: int | None
    params: tuple = ()  # declared Args whose values are drawn (generators)


@dataclass
class World:
    name: str
    shape: tuple
    subjects: list[SubjectKind]
    references: list[dict]
    trainings: list[dict]
    classifiers: list[str]
    features: list[str]


def _generator_shape(entry) -> tuple | None:
    decl = entry.decl
    if decl.image_shape is not None:
        return tuple(decl.image_shape)
    data_param = next((a for a in entry.args if a.name == "dataset" and isinstance(a.default, str)), None)
    if data_param is not None and data_param.default in R.datasets:
        return tuple(R.datasets.get(data_param.default).decl.image_shape)
    return None


def _generator_classes(entry) -> int | None:
    k = entry.decl.num_classes
    return k({}) if callable(k) else k


def registered_subjects(shape: tuple) -> list[SubjectKind]:
    """Every registered generator whose declared (or dataset's) image shape is ``shape``."""
    out = []
    for entry in R.generators:
        if _generator_shape(entry) == tuple(shape):
            out.append(SubjectKind({"model": entry.name}, _generator_classes(entry), entry.args))
    return out


def _datasets_of(shape: tuple, split_wanted: str) -> list[dict]:
    out = []
    for entry in R.datasets:
        splits = entry.decl.splits or {}
        if tuple(entry.decl.image_shape or ()) == tuple(shape) and split_wanted in splits:
            out.append({"dataset": entry.name, "split": split_wanted, "range": [0, REF_N]})
    return out


def _classifiers_of(shape: tuple) -> list[str]:
    return [e.name for e in R.features if e.decl.num_classes and tuple(e.decl.input_shape or ()) == tuple(shape)]


def _features_of(shape: tuple) -> list[str]:
    # a feature space that reads weights the user holds (inception-fid) has none here: nothing downloads
    return [e.name for e in R.features if not e.decl.reads_weights
            and (e.decl.input_shape is None or tuple(e.decl.input_shape) == tuple(shape))]


def worlds(a: Assets) -> list[World]:
    grey = World(
        "grey", GREY,
        registered_subjects(GREY) + [
            SubjectKind({"model": "usergen:Striped"}, 10),
            SubjectKind({"model": "spec_language_models:GreyBlobs"}, None, (R.Arg("level", float, 0.9, ge=0.3, le=1.0),)),
            SubjectKind({"path": str(a.grey_folder)}, None),
            SubjectKind({"path": str(a.grey_npz)}, None),
        ],
        _datasets_of(GREY, "test") + [{"path": str(a.grey_npz)}],
        _datasets_of(GREY, "train"),
        _classifiers_of(GREY),
        _features_of(GREY),
    )
    rgb = World(
        "rgb", RGB,
        registered_subjects(RGB) + [
            SubjectKind({"model": "spec_language_models:RGBSquares"}, 4),
            SubjectKind({"model": "usergen:Blobs", "params": {"size": RGB[1]}}, None),
            SubjectKind({"path": str(a.rgb_folder)}, None),
            SubjectKind({"path": str(a.rgb_npz)}, None),
        ],
        [{"path": str(a.rgb_ref_npz)}, {"path": str(a.rgb_ref_folder)}],
        [{"path": str(a.rgb_train_npz)}],
        _classifiers_of(RGB) + ["spec_language_models:square_classifier"],
        _features_of(RGB),
    )
    wide = World(
        "rgb-wide", RGB_WIDE,
        registered_subjects(RGB_WIDE) + [
            SubjectKind({"model": "usergen:ColourBars", "params": {"height": RGB_WIDE[1], "width": RGB_WIDE[2]}}, 4),
            SubjectKind({"model": "usergen:Noise", "params": {"height": RGB_WIDE[1], "width": RGB_WIDE[2]}}, None),
            SubjectKind({"path": str(a.wide_folder)}, None),
            SubjectKind({"path": str(a.wide_npz)}, None),
        ],
        [{"path": str(a.wide_ref_npz)}, {"path": str(a.wide_ref_folder)}],
        [{"path": str(a.wide_train_npz)}],
        _classifiers_of(RGB_WIDE) + ["usergen:bar_classifier"],
        _features_of(RGB_WIDE),
    )
    return [grey, rgb, wide]


# ---------------------------------------------------------------- arguments, from their declarations


def _lower(arg) -> float | None:
    if arg.ge is not None:
        return arg.ge
    return None if arg.gt is None else arg.gt


def _upper(arg) -> float | None:
    if arg.le is not None:
        return arg.le
    return None if arg.lt is None else arg.lt


def _int_values(arg, cheap: bool) -> st.SearchStrategy:
    lo = _lower(arg)
    lo = int(math.floor(lo)) + (1 if arg.gt is not None else 0) if lo is not None else min(0, int(arg.default or 0))
    hi = _upper(arg)
    top = lo + 2
    if hi is not None:
        top = min(top, int(math.ceil(hi)) - (1 if arg.lt is not None else 0))
    values = st.integers(lo, max(lo, top))
    default_ok = isinstance(arg.default, int) and not cheap and (hi is None or arg.default <= hi)
    return st.one_of(values, st.just(arg.default)) if default_ok else values


def _float_values(arg) -> st.SearchStrategy:
    default = float(arg.default) if isinstance(arg.default, (int, float)) else 0.0
    lo, hi = _lower(arg), _upper(arg)
    lo = default - 0.5 * abs(default) - 0.5 if lo is None else lo
    hi = default + 0.5 * abs(default) + 0.5 if hi is None else hi
    return st.floats(lo, hi, exclude_min=arg.gt is not None, exclude_max=arg.lt is not None,
                     allow_nan=False, allow_infinity=False).map(lambda v: float(f"{v:.4g}"))


def _bare_type(t):
    if typing.get_origin(t) is typing.Annotated:
        return typing.get_args(t)[0]
    return t


def arg_values(arg, cheap: bool = False) -> st.SearchStrategy | None:
    """Values of one declared argument inside its declared type and bounds; None: only its default."""
    t = _bare_type(arg.type)
    if t is bool:
        return st.booleans()
    if t is int:
        return _int_values(arg, cheap)
    if t is float:
        return _float_values(arg)
    return None  # a string, list or union: what is valid is not declared, so the default stands


def drawable(arg) -> bool:
    return not (arg.default is REQUIRED and arg_values(arg) is None)


@st.composite
def args_of(draw, declared: tuple, cheap: bool = False) -> dict:
    """A drawn ``args:`` / ``params:`` mapping: each declared argument given (drawn) or left at its default."""
    out = {}
    for arg in declared:
        values = arg_values(arg, cheap)
        if values is None:
            continue
        if arg.default is REQUIRED or draw(st.booleans()):
            out[arg.name] = draw(values)
    return out


# ---------------------------------------------------------------- what a spec provides


def inputs_of(entry) -> set:
    """The ``Input``s an entry needs, its measurements resolved to what they read."""
    need = set()
    for i in entry.inputs:
        if isinstance(i, Measured):
            need |= inputs_of(R.measurements.get(i.name))
        else:
            need.add(Input(i))
    return need


def usable(entries, available: set) -> list:
    return [e for e in entries if inputs_of(e) <= available and all(drawable(a) for a in e.args)
            and getattr(getattr(e.decl, "interval", None), "name", "") != "retired"]


# ---------------------------------------------------------------- where: expressions


def _atom(draw, names: list[str]) -> str:
    m = draw(st.sampled_from(names))
    c = draw(st.sampled_from(CONSTANTS))
    shape = draw(st.integers(0, 4))
    if shape == 0:
        return f"{m} {draw(st.sampled_from(OPS))} {c}"
    if shape == 1:
        lo, hi = sorted((c, draw(st.sampled_from(CONSTANTS))))
        return f"{lo} < {m} < {hi}"
    if shape == 2:
        return f"abs({m} - {c}) {draw(st.sampled_from(OPS))} {draw(st.sampled_from(CONSTANTS))}"
    other = draw(st.sampled_from(names))
    fn = draw(st.sampled_from(("min", "max", "+", "*")))
    lhs = f"{fn}({m}, {other})" if fn in ("min", "max") else f"{m} {fn} {other}"
    return f"{lhs} {draw(st.sampled_from(OPS))} {c}"


def _label_atom(draw, names: list[str], classes: int) -> str | None:
    if "label" not in names:
        return None
    if "predicted" in names and draw(st.booleans()):
        return "label == predicted"
    picked = sorted(draw(st.sets(st.integers(0, classes - 1), min_size=1, max_size=3)))
    return f"label in [{', '.join(map(str, picked))}]"


@st.composite
def where_expressions(draw, names: list[str], classes: int | None, depth: int = 2) -> str:
    """A boolean expression over the named measurements: comparisons, chains, and/or/not, arithmetic."""
    label = _label_atom(draw, names, classes) if classes and draw(st.booleans()) else None
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return label or _atom(draw, names)
    left = draw(where_expressions(names, classes, depth - 1))
    right = label or draw(where_expressions(names, classes, depth - 1))
    how = draw(st.sampled_from(("and", "or", "not")))
    return f"not ({left})" if how == "not" else f"({left}) {how} ({right})"


# ---------------------------------------------------------------- requirements


@dataclass
class Context:
    available: set
    classes: int | None  # the class count every subject shares (None: some subject is unconditional)
    sequential: bool


def _rate_fields(draw, ctx: Context) -> dict:
    req = {"at_least": draw(RATE_BOUND)}
    if ctx.classes and draw(st.booleans()):
        req["per_class"] = True
    return req


def _check_requirement(draw, ctx: Context) -> dict | None:
    entries = usable(R.checks, ctx.available)
    if not entries:
        return None
    e = draw(st.sampled_from(entries))
    req = {"check": e.name}
    args = draw(args_of(e.args))
    if args:
        req["args"] = args
    return {**req, **_rate_fields(draw, ctx)}


def _where_requirement(draw, ctx: Context) -> dict | None:
    names = [e.name for e in usable(R.measurements, ctx.available)]
    if not names:
        return None
    return {"where": draw(where_expressions(names, ctx.classes)), **_rate_fields(draw, ctx)}


def _metric_requirement(draw, ctx: Context) -> dict | None:
    entries = [e for e in usable(R.metrics, ctx.available)
               if not e.decl.labelled_reference or LABELLED_REFERENCE in ctx.available]
    if not entries:
        return None
    e = draw(st.sampled_from(entries))
    req = {"metric": e.name}
    args = draw(args_of(e.args))
    if e.decl.interval.name == "bootstrap" and "bootstrap" in args:
        # a bootstrap bound needs B (1 - c) >= 1 at its confidence (refused at validate otherwise);
        # drawn for the highest confidence a requirement can be given here
        args["bootstrap"] = max(args["bootstrap"], bootstrap_minimum(max(CONFIDENCES)))
    if args:
        req["args"] = args
    bound = draw(st.sampled_from((0.05, 0.3, 0.6, 0.9, 2.0, 50.0, 500.0)))
    req["at_least" if e.decl.higher_is_better else "at_most"] = bound
    return req


KINDS = (_check_requirement, _where_requirement, _metric_requirement)


@st.composite
def requirements(draw, ctx: Context) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        req = draw(st.sampled_from(KINDS))(draw, ctx)
        if req is None:
            continue
        if draw(st.booleans()):
            req["confidence"] = draw(st.sampled_from(CONFIDENCES))
        out.append({"name": f"r{i}", **req})
    if not out:  # every world has a check on the images themselves
        out.append({"name": "r-finite", **_check_requirement(draw, Context(set(ALWAYS), None, ctx.sequential))})
    return out


def reads(reqs: list[dict], what: Input) -> bool:
    """Whether a drawn requirement reads ``what`` (its check, metric or a measurement it names)."""
    for r in reqs:
        if "check" in r and what in inputs_of(R.checks.get(r["check"])):
            return True
        if "metric" in r and what in inputs_of(R.metrics.get(r["metric"])):
            return True
        if "where" in r and any(what in inputs_of(m) for m in R.measurements if _names(r["where"], m.name)):
            return True
    return False


def _names(expr: str, name: str) -> bool:
    import re

    return re.search(rf"\b{re.escape(name)}\b", expr) is not None


def min_n(reqs: list[dict]) -> int:
    return max([R.metrics.get(r["metric"]).decl.min_n for r in reqs if "metric" in r] + [1])


# ---------------------------------------------------------------- subjects, sampling, the spec


@st.composite
def subject_entries(draw, world: World) -> list[tuple[dict, int | None]]:
    kinds = draw(st.lists(st.sampled_from(world.subjects), min_size=1, max_size=3))
    out = []
    for i, kind in enumerate(kinds):
        entry = dict(kind.entry)
        params = {**entry.get("params", {}), **draw(args_of(kind.params, cheap=True))}
        if params:
            entry["params"] = params
        entry["name"] = f"s{i}"  # names must differ: the same kind may be drawn twice
        out.append((entry, kind.classes))
    return out


@st.composite
def labels_modes(draw, classes: int | None, n: int):
    """(labels, n): uniform, stratified, or (every subject conditional) a list of classes or per-class counts."""
    modes = ["uniform", "stratified"] + (["list", "dict"] if classes else [])
    mode = draw(st.sampled_from(modes))
    if mode in ("uniform", "stratified"):
        return mode, n
    picked = sorted(draw(st.sets(st.integers(0, classes - 1), min_size=2, max_size=min(4, classes))))
    if mode == "list":
        return picked, n
    counts = {k: draw(st.integers(6, 15)) for k in picked}
    return counts, sum(counts.values())


@dataclass
class Drawn:
    """A drawn spec and how to run it: two batch sizes (the report must not depend on it), baseline or not."""

    world: str
    spec: dict
    batch_sizes: tuple[int, int]
    baseline: bool

    def yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True)

    def outline(self) -> dict:
        """What the spec exercises, in a line: for the longer profile's table."""
        s = self.spec
        subjects = [x.get("model") or Path(x["path"]).name for x in s["subjects"]]
        reqs = [r.get("check") or r.get("metric") or "where" for r in s["requirements"]]
        return {"world": self.world, "subjects": subjects, "requirements": reqs, "n": s["sampling"].get("n"),
                "batch_sizes": list(self.batch_sizes), "sequential": bool(s["sampling"].get("sequential")),
                "formats": s["report"]["formats"], "baseline": self.baseline}


def _common_classes(subjects: list[tuple[dict, int | None]]) -> int | None:
    counts = [k for _, k in subjects]
    return None if any(k is None for k in counts) else min(counts)


LABELLED_REFERENCE = "labelled reference"  # a marker in Context.available: the drawn reference carries labels


def _labelled(reference: dict) -> bool:
    """Whether a drawn reference carries class labels: a bundled dataset, or an .npz with `labels`."""
    if "dataset" in reference:
        return True
    path = Path(reference["path"])
    if path.suffix != ".npz":
        return False
    with np.load(path) as data:
        return "labels" in data.files


def _available(world: World, reference: dict | None, training: dict | None, classes: int | None) -> set:
    avail = set(ALWAYS)
    if reference is not None and _labelled(reference):
        avail.add(LABELLED_REFERENCE)
    if world.classifiers:
        avail.add(Input.CLASSIFIER)
    if reference is not None:
        avail.add(Input.REFERENCE)
    if training is not None:
        avail.add(Input.TRAINING)
    if classes:
        avail.add(Input.LABELS)
    return avail


def _feature_dim(name: str, shape: tuple) -> int:
    dim = R.features.get(name).decl.dim
    return dim if dim else math.prod(shape)  # an extractor declaring no width (pixels) flattens the image


def _affordable_features(world: World, reqs: list[dict]) -> list[str]:
    """The world's extractors; where a metric reads features, those at most MAX_DIM wide (FID is cubic in d)."""
    if not any("metric" in r and Input.FEATURES in inputs_of(R.metrics.get(r["metric"])) for r in reqs):
        return world.features
    return [f for f in world.features if _feature_dim(f, world.shape) <= MAX_DIM] or world.features


def _optional(draw, choices: list[dict]) -> dict | None:
    return draw(st.sampled_from(choices)) if choices and draw(st.booleans()) else None


def _classifier(draw, world: World, reqs: list[dict]) -> str | None:
    if reads(reqs, Input.CLASSIFIER):
        return draw(st.sampled_from(world.classifiers))
    return draw(st.sampled_from([None] + world.classifiers))


def _sampling(draw, classes: int | None, reqs: list[dict], sequential: bool) -> tuple[dict, tuple[int, int]]:
    n = max(draw(st.integers(*N_RANGE)), min_n(reqs))
    labels, n = draw(labels_modes(classes, n))
    sampling: dict[str, Any] = {"seed": draw(st.integers(0, 2**31 - 1))}
    if not isinstance(labels, dict):
        sampling["n"] = n
    if labels != "uniform" or draw(st.booleans()):
        sampling["labels"] = labels
    if sequential:
        sampling["sequential"] = True
    if draw(st.booleans()):
        sampling["block_size"] = draw(st.integers(1, 64))
    b1 = draw(st.integers(1, n))
    b2 = draw(st.integers(1, n).filter(lambda b: b != b1)) if n > 1 else b1
    return sampling, (b1, b2)


@st.composite
def valid_specs(draw, assets: Assets) -> Drawn:
    """A valid spec over one world, with the batch sizes to run it at and whether to compare to a baseline."""
    world = draw(st.sampled_from(worlds(assets)))
    subjects = draw(subject_entries(world))
    classes = _common_classes(subjects)
    reference, training = _optional(draw, world.references), _optional(draw, world.trainings)
    sequential = draw(st.booleans())
    reqs = draw(requirements(Context(_available(world, reference, training, classes), classes, sequential)))
    spec: dict[str, Any] = {"version": 1, "name": f"drawn-{world.name}"}
    spec["features"] = draw(st.sampled_from(_affordable_features(world, reqs)))
    spec["classifier"] = _classifier(draw, world, reqs)
    for key, value in (("reference", reference), ("training", training)):
        if value is not None:
            spec[key] = value
    spec["subjects"] = [s for s, _ in subjects]
    sampling, sizes = _sampling(draw, classes, reqs, sequential)
    spec["sampling"] = sampling
    if draw(st.booleans()):
        spec["confidence"] = draw(st.sampled_from(CONFIDENCES))
    spec["requirements"] = reqs
    spec["report"] = {"formats": draw(st.lists(st.sampled_from(FORMATS), min_size=1, max_size=len(FORMATS), unique=True))}
    return Drawn(world.name, spec, sizes, draw(st.booleans()))
