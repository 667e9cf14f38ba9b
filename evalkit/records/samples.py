"""The sample store: what a run saw of every sample, kept beside its report.

``compare`` and ``render`` read it, so neither has to sample again. One record per
subject, in the run's one persisted format
(``evalkit.store``: a ``.safetensors`` file whose header carries JSON metadata; never
pickle, written atomically).

The runner makes each subject's record when the subject ends (``sample_record``) and
``write_report`` writes them with the rest of the report folder, so they share its
guarantees (fresh folder, manifest, fallback folder on a write error).

Layout (``LAYOUT_VERSION`` 3; layout 2 stores, which hold no influences, are read too)
---------------------------------------------------------------------------------------

``<report folder>/samples/<slug>.safetensors`` with ``kind="samples"``, where ``slug``
is :func:`subject_file_name` of the subject's name (a file-name-safe form plus 8 hex
digits of the name's SHA-256, so no name can point outside the folder and two names
never share a file). :func:`samples_path` gives the path.

Tensors; ``n`` = samples observed, rows in ascending sample index:

==================  ==================  ================================================
key                 dtype, shape        what
==================  ==================  ================================================
``index``           int64 (n,)          global sample index (``evalkit reproduce`` redraws it)
``asked``           int64 (n,)          the class asked of the generator; absent when unconditional
``passed``          bool (R, n)         row r: the sample passed rate requirement ``meta.requirements[r]``
``undefined``       bool (R, n)         row r: its ``where:`` expression was undefined (counted as failing)
``m.<name>``        float32 (n,)        per-sample measurement ``<name>`` (``meta.measurements``)
``features``        float16 (n_f, d)    feature vectors (``meta.features``), finite samples only
``features_index``  int64 (n_f,)        sample index of each feature row
``influence.<m>``   float32 (n,)        each sample's influence on metric result ``<m>`` (``meta.influences``);
                                        NaN for samples without features (non-finite)
``grid``            uint8 (G, C, h, w)  thumbnails of the sample grid (see below)
``grid_index``      int64 (G,)          sample index of each grid cell
``grid_label``      int64 (G,)          asked class of each cell (-1 when unconditional)
``failing``         uint8 (F, C, h, w)  thumbnails of the failing examples named in report.json
``failing_index``   int64 (F,)          sample index of each failing thumbnail
==================  ==================  ================================================

Absent keys mean "not measured in this run": no features when the spec asks for no
metric or training set, no grid or failing thumbnails when nothing was observed.
``features`` falls back to float32 (``meta.features.dtype``) where float16 would
overflow. Thumbnails are the samples as drawn, clamped to [0, 1] and scaled to 0..255,
area-averaged down so the longer side is at most ``THUMB_SIDE`` pixels.

The grid is fixed by the spec, never by chance: for a class-conditional subject, one
row per asked class holding the first ``GRID_COLUMNS`` sample indices asked for that
class; otherwise the first ``GRID_ROWS * GRID_COLUMNS`` indices. Sample i is the same
image in two runs with the same seed, so two runs show the same cells.

Metadata (JSON): ``layout``, ``subject`` (the exact name), ``n``, ``requirements`` (rate
requirement names, the rows of ``passed``), ``measurements`` (names), ``features``
(``{"space", "dim", "dtype"}`` or null), ``thumbnail`` (``{"max_side", "source_shape"}``),
``grid`` (``{"columns", "rows", "rule"}``), ``evalkit`` (version that wrote it); since
layout 2: ``seed`` (of the run that drew the samples) and ``seal``
(``evalkit._seal``: the content digest and an HMAC under the user's cache key); since
layout 3: ``influences`` (the metric result names with an ``influence.<name>`` tensor, as
``report.json``'s ``subjects[i].metrics[j].name``). The report beside the store records the
digest (``subjects[i].samples_sha256``).

Influences (layout 3): for each metric result with a first-order influence function
(``evalkit.metrics.influence``: FID, KID, precision, recall, density, coverage, Vendi),
the generated sample's influence on the value, centred over the samples with features, so
that var(value) ~ var(influence) / n and two runs of the same samples (same seeds and
labels) have a paired standard error of B - A of sd(infl_B - infl_A) / sqrt(n). Computed at
run time, while the reference features are in memory: ``evalkit compare`` reads them
(``stored_influence``), so a paired FID needs no local feature cache.

Reading (``read_samples``) believes a record only when it is intact and belongs to the
report beside it: its digest equals the report's ``samples_sha256`` (any machine), or,
for a report that records none, its HMAC verifies under this user's key; and it agrees
with the report (subject, n, seed, each rate requirement's pass count),
holds unique sample indices and features of the width it declares. Layout 1 (no seal)
cannot be verified and is not believed: ``compare`` then falls back to ``report.json``
alone with a warning, ``render`` refuses (exit 2, naming the file).

Size: about n * (8 + 8 + 2R + 4M + 2d) bytes plus thumbnails; the README states the
measured size at n = 10,000.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from .. import registry
from .._version import __version__
from .._errors import DataError, SavedStateError
from .._seal import check_seal, content_digest, make_seal

if TYPE_CHECKING:
    from ..observation import Observation
    from ..spec.expr import Expression
    from ..spec.model import Spec
    from .model import Report

LAYOUT_VERSION = 3  # 2: seed, spec_sha256 and a seal (digest + HMAC); the report records the digest; 3: influences
READS_LAYOUTS = (2, 3)  # layout 1 carries no seal and is not believed
INFLUENCE_PREFIX = "influence."
KIND = "samples"
SEAL_BINDING = "evalkit-samples"
THUMB_SIDE = 64
GRID_COLUMNS = 8
GRID_ROWS = 4  # unconditional subjects: GRID_ROWS x GRID_COLUMNS first samples
FOLDER = "samples"
CLASSIFIER_MEASUREMENTS = ("predicted", "confidence")


class RatePlanLike(Protocol):
    """What the store reads of a rate requirement's plan (``evalkit.plan.RequirementPlan``)."""

    @property
    def name(self) -> str: ...
    @property
    def expr(self) -> Expression | None: ...


class PlanLike(Protocol):
    """What the store reads of a plan (``evalkit.plan.Plan``, a layer above records)."""

    @property
    def spec(self) -> Spec: ...
    @property
    def rate_requirements(self) -> Sequence[RatePlanLike]: ...


def subject_file_name(name: str) -> str:
    """A file name for a subject: safe characters only, unique per name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "subject"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}.safetensors"


def samples_path(report_dir: str | Path, subject: str) -> Path:
    """Where a report folder keeps the sample record of ``subject``."""
    return Path(report_dir) / FOLDER / subject_file_name(subject)


def thumbnails(images: Tensor) -> Tensor:
    """uint8 (B, C, h, w) on the CPU: clamped to [0, 1], area-averaged to <= THUMB_SIDE."""
    x = images.detach().float()
    x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)
    h, w = x.shape[-2:]
    scale = THUMB_SIDE / max(h, w)
    if scale < 1:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = torch.nn.functional.adaptive_avg_pool2d(x, size)
    return (x * 255).round().to(torch.uint8).cpu()


@dataclass
class SampleLog:
    """Per-sample rows of one subject, gathered batch by batch (mergeable across processes).

    ``requirements`` are the rate requirement names in plan order; ``measurements`` the
    per-sample measurement names to keep; ``keep`` the failing examples per requirement.
    """

    requirements: list[str]
    measurements: list[str]
    keep: int
    index: list[Tensor] = field(default_factory=list)
    asked: list[Tensor] = field(default_factory=list)
    passed: list[Tensor] = field(default_factory=list)  # (R, b) per batch
    undefined: list[Tensor] = field(default_factory=list)
    measured: dict[str, list[Tensor]] = field(default_factory=dict)
    grid: dict[int, Tensor] = field(default_factory=dict)  # sample index -> thumbnail
    grid_label: dict[int, int] = field(default_factory=dict)
    failing: list[list[int]] = field(default_factory=list)  # per requirement, failing indices kept
    failing_thumbs: dict[int, Tensor] = field(default_factory=dict)
    source_shape: list[int] | None = None

    def __post_init__(self) -> None:
        if not self.failing:
            self.failing = [[] for _ in self.requirements]

    def observe(self, obs: Observation, outcomes: list[tuple[Tensor, Tensor]]) -> None:
        """Fold one batch: ``obs`` an ``Observation``, ``outcomes`` (passed, undefined) per rate requirement."""
        idx = obs.indices.detach().cpu().long()
        self.source_shape = list(obs.images.shape[1:])
        self.index.append(idx)
        if obs.labels is not None:
            self.asked.append(obs.labels.detach().cpu().long())
        if outcomes:
            self.passed.append(torch.stack([ok.cpu().bool() for ok, _ in outcomes]))
            self.undefined.append(torch.stack([u.cpu().bool() for _, u in outcomes]))
        for name in self.measurements:
            if name in CLASSIFIER_MEASUREMENTS and obs.classifier_fn is None:
                continue  # this subject runs no classifier (e.g. no asked labels)
            value = registry.measurements.get(name).obj(obs)
            self.measured.setdefault(name, []).append(torch.as_tensor(value).detach().cpu().float().reshape(-1))
        self._keep_grid(obs, idx)
        self._keep_failing(obs, idx, outcomes)

    def _keep_grid(self, obs: Observation, idx: Tensor) -> None:
        labels = obs.labels.detach().cpu().long() if obs.labels is not None else torch.full_like(idx, -1)
        cap = GRID_COLUMNS if obs.labels is not None else GRID_ROWS * GRID_COLUMNS
        counts: dict[int, int] = {}
        for c in self.grid_label.values():
            counts[c] = counts.get(c, 0) + 1
        take = []
        for i, (s, c) in enumerate(zip(idx.tolist(), labels.tolist())):
            if counts.get(c, 0) < cap:
                counts[c] = counts.get(c, 0) + 1
                take.append((i, s, c))
        if take:
            thumbs = thumbnails(obs.images[[i for i, _, _ in take]])
            for t, (_, s, c) in zip(thumbs, take):
                self.grid[s], self.grid_label[s] = t, c

    def _keep_failing(self, obs: Observation, idx: Tensor, outcomes: list[tuple[Tensor, Tensor]]) -> None:
        want: list[int] = []
        for r, (ok, _) in enumerate(outcomes):
            room = self.keep - len(self.failing[r])
            if room <= 0:
                continue
            rows = torch.nonzero(~ok.cpu().bool()).flatten()[:room].tolist()
            self.failing[r] += [int(idx[i]) for i in rows]
            want += [i for i in rows if int(idx[i]) not in self.failing_thumbs]
        want = sorted(set(want))
        if want:
            for i, t in zip(want, thumbnails(obs.images[want])):
                self.failing_thumbs[int(idx[i])] = t

    def merge(self, other: "SampleLog") -> "SampleLog":
        """The log of both shards' samples (order-free: rows are sorted by index on write)."""
        out = SampleLog(self.requirements, self.measurements, self.keep)
        out.index, out.asked = self.index + other.index, self.asked + other.asked
        out.passed, out.undefined = self.passed + other.passed, self.undefined + other.undefined
        out.measured = _merged_measured(self.measured, other.measured)
        grid, grid_label = {**self.grid, **other.grid}, {**self.grid_label, **other.grid_label}
        cells = set(self._grid_cells(grid_label))  # the kept cells only: memory stays bounded batch after batch
        out.grid = {s: t for s, t in grid.items() if s in cells}
        out.grid_label = {s: c for s, c in grid_label.items() if s in cells}
        out.failing = [sorted(set(a + b))[: self.keep] for a, b in zip(self.failing, other.failing)]
        kept = {i for r in out.failing for i in r}
        out.failing_thumbs = {i: t for i, t in {**self.failing_thumbs, **other.failing_thumbs}.items() if i in kept}
        out.source_shape = self.source_shape or other.source_shape
        return out

    @staticmethod
    def _grid_cells(grid_label: dict[int, int]) -> list[int]:
        """The grid's cells: per class (in class order) its smallest sample indices, up to the cap."""
        cap = GRID_COLUMNS if any(c >= 0 for c in grid_label.values()) else GRID_ROWS * GRID_COLUMNS
        by_class: dict[int, list[int]] = {}
        for s in sorted(grid_label):
            by_class.setdefault(grid_label[s], []).append(s)
        return [s for c in sorted(by_class) for s in by_class[c][:cap]]

    def tensors(self, features: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
        """The record's tensors (see the module docstring), rows sorted by sample index."""
        if not self.index:
            return {"index": torch.zeros(0, dtype=torch.long)}
        idx = torch.cat(self.index)
        order = torch.argsort(idx)
        out: dict[str, Tensor] = {"index": idx[order].contiguous()}
        if self.asked:
            out["asked"] = torch.cat(self.asked)[order].contiguous()
        if self.passed:
            out["passed"] = torch.cat(self.passed, dim=1)[:, order].contiguous()
            out["undefined"] = torch.cat(self.undefined, dim=1)[:, order].contiguous()
        for name, parts in self.measured.items():
            if parts:  # a measurement no batch recorded is absent ("not measured"), never an empty cat
                out[f"m.{name}"] = torch.cat(parts)[order].contiguous()
        out.update(self._grid_tensors())
        kept = sorted({i for r in self.failing for i in r})
        if kept:
            out["failing"] = torch.stack([self.failing_thumbs[i] for i in kept]).contiguous()
            out["failing_index"] = torch.tensor(kept, dtype=torch.long)
        if features is not None and len(features[1]):
            rows, fidx = features
            half = rows.to(torch.float16)
            ok = bool(torch.isfinite(half).all())
            out["features"] = (half if ok else rows.float()).contiguous()
            out["features_index"] = fidx.long().contiguous()
        return out

    def _grid_tensors(self) -> dict[str, Tensor]:
        cells = self._grid_cells(self.grid_label)
        if not cells:
            return {}
        return {"grid": torch.stack([self.grid[s] for s in cells]).contiguous(),
                "grid_index": torch.tensor(cells, dtype=torch.long),
                "grid_label": torch.tensor([self.grid_label[s] for s in cells], dtype=torch.long)}


def _merged_measured(a: dict[str, list[Tensor]], b: dict[str, list[Tensor]]) -> dict[str, list[Tensor]]:
    """Both shards' measured rows, keyed only by what some batch recorded: a measurement the
    observation skipped (the classifier's, when no requirement runs the classifier) must not
    appear as an empty list, which would read as "measured, zero rows" and break the cat."""
    out = {k: a.get(k, []) + b.get(k, []) for k in sorted(set(a) | set(b))}
    return {k: v for k, v in out.items() if v}


def measurement_names(plan: PlanLike) -> list[str]:
    """The measurements worth keeping per sample: those the ``where:`` expressions read,
    plus the classifier's prediction and confidence when a classifier runs."""
    names: set[str] = set()
    for rp in plan.rate_requirements:
        if rp.expr is not None:
            names |= set(rp.expr.names)
    if plan.spec.classifier is not None:
        names |= set(CLASSIFIER_MEASUREMENTS)
    return sorted(names)


def log_to_record(log: SampleLog, prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The log as (tensors, meta) for the run's journal: every row it holds, exactly (unlike
    ``sample_record``, which is the compact form written beside the report)."""
    t: dict[str, Tensor] = {}

    def put(name: str, parts: list[Tensor], dim: int = 0) -> None:
        if parts:
            t[f"{prefix}.{name}"] = torch.cat(parts, dim=dim).contiguous()

    put("index", log.index)
    put("asked", log.asked)
    put("passed", log.passed, 1)
    put("undefined", log.undefined, 1)
    for name, parts in log.measured.items():
        put(f"m.{name}", parts)
    for name, thumbs in (("grid", log.grid), ("failing_thumbs", log.failing_thumbs)):
        if thumbs:
            keys = sorted(thumbs)
            t[f"{prefix}.{name}"] = torch.stack([thumbs[k] for k in keys]).contiguous()
            t[f"{prefix}.{name}_index"] = torch.tensor(keys, dtype=torch.long)
    meta = {"requirements": log.requirements, "measurements": log.measurements, "keep": log.keep,
            "failing": log.failing, "source_shape": log.source_shape, "measured": sorted(log.measured),
            "grid_label": [[s, c] for s, c in sorted(log.grid_label.items())]}
    return t, meta


def log_from_record(t: dict[str, Tensor], meta: dict[str, Any], prefix: str) -> SampleLog:
    """The log ``log_to_record`` saved."""
    log = SampleLog(list(meta["requirements"]), list(meta["measurements"]), int(meta["keep"]))

    def get(name: str) -> list[Tensor]:
        return [t[f"{prefix}.{name}"]] if f"{prefix}.{name}" in t else []

    log.index, log.asked, log.passed, log.undefined = get("index"), get("asked"), get("passed"), get("undefined")
    log.measured = {str(m): rows for m in meta["measured"] if (rows := get(f"m.{m}"))}
    for name in ("grid", "failing_thumbs"):
        if f"{prefix}.{name}" in t:
            keys = t[f"{prefix}.{name}_index"].tolist()
            setattr(log, name, dict(zip(keys, t[f"{prefix}.{name}"].unbind(0))))
    log.grid_label = {int(s): int(c) for s, c in meta["grid_label"]}
    log.failing = [[int(i) for i in r] for r in meta["failing"]]
    log.source_shape = meta["source_shape"]
    return log


def new_log(plan: PlanLike) -> SampleLog:
    """An empty log for one subject of ``plan``."""
    return SampleLog([rp.name for rp in plan.rate_requirements], measurement_names(plan), plan.spec.report.failing_examples)


def influence_rows(index: Tensor, influence: Tensor, rows_index: Tensor) -> Tensor:
    """float32 (n,) aligned with ``index``: ``influence[r]`` at the sample ``rows_index[r]``,
    NaN at samples without a row (no finite features, so no part in the metric).

    >>> influence_rows(torch.tensor([0, 1, 2]), torch.tensor([0.5, -0.5]), torch.tensor([2, 0]))
    tensor([-0.5000,     nan,  0.5000])
    """
    out = torch.full((len(index),), float("nan"), dtype=torch.float32)
    pos = torch.searchsorted(index, rows_index.long())
    out[pos] = influence.to(torch.float32)
    return out


def sample_record(subject: str, log: SampleLog, features: tuple[Tensor, Tensor] | None = None,
                  feature_space: str | None = None, *, seed: int | None = None,
                  influences: dict[str, tuple[Tensor, Tensor]] | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The subject's record, (tensors, meta), made when the subject ends: compact (float16
    features, uint8 thumbnails), so the run can drop the subject's full state. Sealed:
    ``meta["seal"]["sha256"]`` is the digest the report records (``samples_sha256``).
    ``influences``: metric result name -> (per-row influence, the rows' sample indices)."""
    tensors = log.tensors(features)
    for name, (infl, rows_index) in sorted((influences or {}).items()):
        tensors[INFLUENCE_PREFIX + name] = influence_rows(tensors["index"], infl, rows_index).contiguous()
    feats = tensors.get("features")
    meta: dict[str, Any] = {
        "layout": LAYOUT_VERSION, "subject": subject, "n": int(len(tensors["index"])),
        "requirements": list(log.requirements), "measurements": list(log.measured),
        "features": None if feats is None else {"space": feature_space, "dim": int(feats.shape[1]),
                                                 "dtype": str(feats.dtype).replace("torch.", "")},
        "thumbnail": {"max_side": THUMB_SIDE, "source_shape": log.source_shape},
        "grid": {"columns": GRID_COLUMNS, "rows": GRID_ROWS,
                 "rule": "first indices asked for each class (all indices when unconditional)"},
        "evalkit": __version__, "seed": seed, "influences": sorted(influences or {}),
    }
    meta["seal"] = make_seal(content_digest(meta, tensors), SEAL_BINDING)
    return tensors, meta


def write_records(report_dir: str | Path, records: dict[str, tuple[dict[str, Tensor], dict[str, Any]]]) -> list[Path]:
    """Write every subject's record (atomically) under ``report_dir/samples/``; return the paths."""
    from ..store import save_record

    paths = []
    for subject, (tensors, meta) in records.items():
        path = samples_path(report_dir, subject)
        save_record(path, tensors, meta, kind=KIND)
        paths.append(path)
    return paths


@dataclass
class SampleRecord:
    """A subject's sample record, read back and checked."""

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, Tensor]

    @property
    def n(self) -> int:
        return int(self.meta["n"])

    def passed(self, requirement: str) -> Tensor | None:
        """Per-sample pass/fail of a rate requirement (by name), or None if not recorded."""
        try:
            r = self.meta["requirements"].index(requirement)
        except ValueError:
            return None
        return self.tensors["passed"][r] if "passed" in self.tensors else None

    def thumbs(self, which: str) -> dict[int, Tensor]:
        """Sample index -> thumbnail, for ``which`` = "grid" or "failing"."""
        if which not in self.tensors:
            return {}
        return dict(zip(self.tensors[f"{which}_index"].tolist(), self.tensors[which]))


def read_samples(report_dir: str | Path, subject: str, report: Report | None = None) -> SampleRecord | None:
    """The subject's record, None when the report has none; ``SavedStateError`` (exit 2) naming
    the file when it is bad, or does not verify against ``report`` (the ``Report`` beside it)."""
    from ..store import load_record

    path = samples_path(report_dir, subject)
    if not path.exists():
        return None
    try:
        tensors, meta = load_record(path, kind=KIND)
    except DataError as exc:
        raise SavedStateError(str(exc)) from None
    why = _header_problem(tensors, meta, subject) or _seal_problem(tensors, meta, report, subject) \
        or _tensor_problem(tensors, meta) or (_report_problem(tensors, meta, report, subject) if report else None)
    if why:
        raise SavedStateError(f"{path}: not a valid sample record of this report ({why}); re-run the spec to rebuild it")
    return SampleRecord(path, meta, tensors)


def _header_problem(t: dict[str, Tensor], meta: dict[str, Any], subject: str) -> str | None:
    if not isinstance(meta, dict) or meta.get("layout") not in READS_LAYOUTS:
        layout = meta.get("layout") if isinstance(meta, dict) else None
        return (f"field 'layout': {str(layout)[:20]!r}, this evalkit reads {' and '.join(map(str, READS_LAYOUTS))} "
                "(layout 1 carries no seal)")
    if meta.get("subject") != subject:
        return f"field 'subject': it holds subject {str(meta.get('subject'))[:80]!r}, not {subject!r}"
    n, reqs = meta.get("n"), meta.get("requirements")
    if type(n) is not int or not isinstance(reqs, list) or "index" not in t or tuple(t["index"].shape) != (n,):
        return "field 'n' or 'index' does not match"
    return None


def _seal_problem(t: dict[str, Tensor], meta: dict[str, Any], report: Report | None, subject: str) -> str | None:
    """Why the record is not believed: damaged, or neither the report's digest nor this user's HMAC vouches for it."""
    digest = content_digest(meta, t)
    check = check_seal(meta.get("seal"), digest, SEAL_BINDING)
    if not check.intact:
        return f"field 'seal': {check.why}"
    recorded = _recorded_digest(report, subject)
    if recorded is not None:
        return None if recorded == digest else (
            "its digest differs from the samples_sha256 that report.json records for it (edited, or the store of "
            "another run)")
    return None if check.trusted else f"field 'seal': {check.why}, and the report records no digest for it"


def _recorded_digest(report: Report | None, subject: str) -> str | None:
    for s in report.subjects if report is not None else []:
        if s.name == subject:
            return s.samples_sha256
    return None


def _report_problem(t: dict[str, Tensor], meta: dict[str, Any], report: Report, subject: str) -> str | None:
    """Where the record disagrees with the report beside it."""
    sub = next((s for s in report.subjects if s.name == subject), None)
    if sub is None:
        return None
    for key, ours in (("seed", report.seed), ("n", sub.n)):
        if meta.get(key) != ours:
            return f"field {key!r}: {str(meta.get(key))[:70]} in the store, {str(ours)[:70]} in report.json"
    for r in sub.requirements:
        if r.kind == "rate" and r.name in meta["requirements"] and "passed" in t and r.n == meta["n"]:
            k = int(t["passed"][meta["requirements"].index(r.name)].sum())
            if k != r.passed:
                return f"requirement {r.name!r}: {k} passed in the store, {r.passed} in report.json"
    return None


def _tensor_problem(t: dict[str, Tensor], meta: dict[str, Any]) -> str | None:
    n, reqs = meta["n"], meta["requirements"]
    shapes = {"asked": (n,), "passed": (len(reqs), n), "undefined": (len(reqs), n)}
    shapes.update({f"m.{m}": (n,) for m in meta.get("measurements") or []})
    why = _influence_problem(t, meta)
    if why:
        return why
    for key, shape in shapes.items():
        if key in t and tuple(t[key].shape) != shape:
            return f"tensor {key!r} has shape {tuple(t[key].shape)}, expected {shape}"
    for a, b in (("grid", "grid_index"), ("grid", "grid_label"), ("failing", "failing_index"), ("features", "features_index")):
        if (a in t) != (b in t) or (a in t and len(t[a]) != len(t[b])):
            return f"tensors {a!r} and {b!r} do not match"
    return _thumb_problem(t) or _index_problem(t) or _feature_problem(t, meta)


def _influence_problem(t: dict[str, Tensor], meta: dict[str, Any]) -> str | None:
    """The influence tensors must be the ones ``meta.influences`` lists, float32 (n,)."""
    n, names = meta["n"], meta.get("influences") or []
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names) \
            or sorted(k[len(INFLUENCE_PREFIX):] for k in t if k.startswith(INFLUENCE_PREFIX)) != sorted(names):
        return "field 'influences' does not list the store's influence tensors"
    for name in names:
        key = INFLUENCE_PREFIX + name
        if t[key].dtype != torch.float32 or tuple(t[key].shape) != (n,):
            return f"tensor {key!r} must be float32 of shape ({n},)"
    return None


def _thumb_problem(t: dict[str, Tensor]) -> str | None:
    for key in ("grid", "failing"):
        if key in t and (t[key].dtype != torch.uint8 or t[key].ndim != 4):
            return f"tensor {key!r} must be uint8 (N, C, H, W)"
    return None


def _index_problem(t: dict[str, Tensor]) -> str | None:
    idx = t["index"]
    if len(idx) > 1 and not bool((idx[1:] > idx[:-1]).all()):
        return "tensor 'index': sample indices are not unique and ascending"
    return None


def _feature_problem(t: dict[str, Tensor], meta: dict[str, Any]) -> str | None:
    feats, decl = t.get("features"), meta.get("features")
    if feats is None:
        return None
    if feats.ndim != 2 or not isinstance(decl, dict) or decl.get("dim") != feats.shape[1]:
        return f"tensor 'features' of shape {tuple(feats.shape)} does not match field 'features.dim'"
    if feats.dtype not in (torch.float16, torch.float32) or not bool(torch.isfinite(feats).all()):
        return "tensor 'features' must hold finite float16 or float32 values"
    return None


def stored_influence(record_or_store: SampleRecord | tuple[dict[str, Tensor], dict[str, Any]] | dict[str, Tensor],
                     name: str) -> np.ndarray | None:
    """The stored influence of each sample on metric result ``name`` (as report.json's
    ``subjects[i].metrics[j].name``): float64 (n,) aligned with ``index``, NaN where a sample had
    no features; None where the store holds none (layout 2, or a metric without an influence).
    ``record_or_store``: a ``SampleRecord``, a (tensors, meta) pair, or the tensors alone."""
    if isinstance(record_or_store, SampleRecord):
        tensors = record_or_store.tensors
    elif isinstance(record_or_store, tuple):
        tensors = record_or_store[0]
    else:
        tensors = record_or_store
    t = tensors.get(INFLUENCE_PREFIX + name)
    return None if t is None else t.double().numpy()


def read_all(report_dir: str | Path, subjects: list[str], report: Report | None = None) -> dict[str, SampleRecord | None]:
    """Every subject's record (None where there is none); the first bad record raises, naming its file."""
    return {name: read_samples(report_dir, name, report) for name in subjects}

