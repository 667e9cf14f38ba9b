"""``evalkit.Evaluator``: a spec's verdicts and metrics on a model in training, every K steps.

    ev = evalkit.Evaluator("audit.yaml")          # validated once; references built on first use
    for step in range(steps):
        ...                                        # one optimiser step
        if step % 500 == 0:
            result = ev.evaluate(model, step=step)  # an ``Evaluation``: verdicts, bounds, metric intervals

It runs the engine of ``evalkit run``: ``runner.orchestrate.run_subjects`` samples, observes
and judges each subject with the very code of a run, and ``assemble_report`` makes the same
``Report``. So a model gives the numbers ``evalkit run`` reports for the same spec and seeds.
What an Evaluator keeps between calls is what does not change while the model trains: the
validated plan, the feature extractors, the reference features and the training index
(``runner.references.References``, built on first use and reused).

Which subjects the model fills: the spec's placeholders (``model: evalkit:in_training``) if
it has any, else every subject naming a user generator (``module:attribute``, the spec
``evalkit run`` runs on the finished model). Registered generators and image folders are
not the model and are left out. A subject's ``params`` (and ``checkpoint``) go to a model
given as a factory; a model given as a generator object is already built and takes none.

The streaming form (``update`` / ``compute`` / ``reset``, as in torchmetrics) folds images
the loop already has through the same per-batch step (``runner.loop.fold_step``) and judges
them with the same ``judge_subject``, at the fixed n added (no sequential looks).

The model is sampled where it is (evalkit never moves a model in training), in eval mode
and under ``torch.no_grad``; every module's training flag is put back afterwards. Time
limits of the spec do not apply: the model lives in the caller's process, which evalkit
neither forks nor signals. One process evaluates: under torchrun, call it on one rank.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

import torch
from torch import Tensor, nn

from . import registry
from ._errors import EXIT_BROKEN, SpecError, SubjectError, UsageError, present
from ._io import confined
from .boundary import forget_warnings
from .history.index import history_path, index_run
from .observe.indexes import DuplicateIndex
from .observe.output_range import allowed_range
from .outfolder import RunOutputs, output_problems, take_lock, write_folder
from .placeholder import REFERENCE, in_training
from .plan import Plan, SubjectPlan, make_plan
from .preflight import check_run
from .records.model import MetricResult, Report, RequirementResult, SubjectResult
from .report.folder import check_formats, write_report
from .runner.context import RunContext
from .runner.environment import pick_device
from .runner.judge import judge_subject
from .runner.loop import BatchReader, check_needs, fold_step
from .runner.orchestrate import assemble_report, run_subjects
from .runner.references import References
from .runner.state import SubjectState, new_state
from .sample.sources import Batch
from .spec.load import load_spec, parse_spec
from .spec.model import Spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: the step of the training loop it was made at (when given) and the
    ``Report`` that ``evalkit run`` would return, with its typed per-requirement verdicts
    (``RequirementResult``: bounds, confidence) and metric values (``MetricResult``: intervals)."""

    report: Report
    step: int | None = None

    @property
    def subjects(self) -> list[SubjectResult]:
        return self.report.subjects

    @property
    def passed(self) -> bool:
        """Every requirement of every subject PASSed (INCONCLUSIVE does not pass)."""
        return all(r.verdict == "PASS" for s in self.subjects for r in s.requirements)

    @property
    def written_to(self) -> Path | None:
        """The report folder (``evaluate(model, out=DIR)``), or None."""
        return self.report.written_to

    def _subject(self, subject: str | None) -> SubjectResult:
        if subject is not None:
            return self.report.subject(subject)
        if len(self.subjects) != 1:
            raise UsageError(f"this evaluation has {len(self.subjects)} subjects "
                             f"({', '.join(s.name for s in self.subjects)}); name one with subject=")
        return self.subjects[0]

    def requirement(self, name: str, subject: str | None = None) -> RequirementResult:
        """The result of requirement ``name`` (its ``name:`` or label) for ``subject`` (default: the only one)."""
        sub = self._subject(subject)
        for r in sub.requirements:
            if r.name == name:
                return r
        raise UsageError(f"subject {sub.name!r} has no requirement {name!r} (requirements: "
                         f"{', '.join(r.name for r in sub.requirements) or 'none'})")

    def metric(self, name: str, subject: str | None = None) -> MetricResult:
        """The value and interval of metric ``name``: the registered name (``fid``) or, where one
        metric is computed with several arguments, the readable one (``recall(k=4)``)."""
        sub = self._subject(subject)
        found = [m for m in sub.metrics if name in (m.name, m.registered)]
        if len(found) == 1:
            return found[0]
        names = ", ".join(m.name for m in sub.metrics) or "none"
        why = "is computed with several arguments; give the readable name" if found else "is not among"
        raise UsageError(f"subject {sub.name!r}: metric {name!r} {why} (metrics: {names})")


class _Modes:
    """Sampling in eval mode: every module's training flag is noted, and put back on the way out
    (flag by flag, so a submodule the loop keeps frozen in eval mode stays so)."""

    def __init__(self) -> None:
        self.saved: list[tuple[nn.Module, bool]] = []

    def enter(self, obj: Any) -> None:
        if isinstance(obj, nn.Module):
            self.saved += [(m, m.training) for m in obj.modules()]
            obj.eval()

    def __enter__(self) -> "_Modes":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for module, was in reversed(self.saved):  # reversed: a module noted twice ends as it was first
            module.training = was
        self.saved.clear()


class _Given:
    """A batch the training loop already has, served as a source to the sampling loop's reader."""

    def __init__(self, batch: Batch | None, labels: Tensor | None = None):
        self.batch, self.labels = batch, labels

    def batches(self, batch_size: int, start: int = 0):
        return iter([present(self.batch, "the given batch")])


@dataclass
class _Stream:
    """What ``update`` has folded so far."""

    state: SubjectState
    history: DuplicateIndex | None
    shape: tuple[int, int, int]
    labelled: bool
    started: str
    seconds: float = 0.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _load(spec: Spec | str | Path) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Path):
        return load_spec(spec)
    if isinstance(spec, str):
        # YAML text has lines (or is one flow mapping); anything else is a file's path
        return parse_spec(spec) if "\n" in spec or spec.lstrip().startswith("{") else load_spec(spec)
    raise UsageError(f"Evaluator(spec): give a spec file's path, its YAML text or an evalkit.Spec, not {type(spec).__name__}")


def _without_time_limits(spec: Spec) -> Spec:
    """The spec as the Evaluator applies it: a time limit would fork the training process or
    signal it, so none applies (the report's spec says so)."""
    if spec.sampling.time_limit is None and all(s.time_limit is None for s in spec.subjects):
        return spec
    log.info("%s: time limits do not apply to evalkit.Evaluator (the model runs in the training process)",
             spec.source or spec.name)
    out = spec.model_copy(deep=True)
    out.sampling.time_limit = None
    for s in out.subjects:
        s.time_limit = None
    return out


def _subject_kind(sp: SubjectPlan) -> str:
    """'placeholder', 'user' (a module:attribute generator), or what else the subject is, in words."""
    if sp.images_path is not None:
        return "an image folder (path:)"
    model = present(sp.spec.model, f"the model of subject {sp.name!r}")
    if not registry.is_reference(model):
        return f"the registered generator {model!r}"
    return "placeholder" if registry.resolve_reference(model) is in_training else "user"


def filled_subjects(plan: Plan) -> list[SubjectPlan]:
    """The subjects the model given to ``evaluate`` fills (see the module docstring); a SpecError when none."""
    kinds = {sp.index: _subject_kind(sp) for sp in plan.subjects}
    wanted = "placeholder" if "placeholder" in kinds.values() else "user"
    fill = [sp for sp in plan.subjects if kinds[sp.index] == wanted]
    if not fill:
        what = "; ".join(f"subject {sp.name!r} is {kinds[sp.index]}" for sp in plan.subjects)
        raise SpecError(f"{plan.spec.where('subjects')}: subjects: evalkit.Evaluator samples the model it is given, "
                        f"so the spec needs a subject for it: `model: {REFERENCE}` (a placeholder) or your generator "
                        f"as `model: module:attribute`; {what}")
    left = [sp.name for sp in plan.subjects if sp not in fill]
    if left:
        log.info("evalkit.Evaluator: subjects %s are not the model's and are left out", ", ".join(map(repr, left)))
    return fill


def _takes_device(fn: Callable[..., Any]) -> bool:
    try:
        return "device" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class Evaluator:
    """Evaluate a model every K steps of a training loop against one spec (see the module docstring).

    ``spec``: a path, YAML text or a ``Spec``. ``n`` overrides ``sampling.n`` (as ``--n``),
    ``device`` is where the model lives (``auto``: CUDA when available), ``cache`` keeps the
    reference features on disk for later runs, ``strict`` makes plan warnings errors and
    INCONCLUSIVE a failure of the exit code, ``formats`` are the files ``out=`` writes.
    ``history``: the run history each report folder written with ``out=`` is indexed in, with its
    step (docs/history.md): a path, None for ``$EVALKIT_HISTORY`` or ``history.sqlite`` beside
    the folder, False for none.
    Raises ``SpecError`` for a bad spec (every problem at once) or one with no subject for the model.
    """

    def __init__(self, spec: Spec | str | Path, *, n: int | None = None, device: str = "auto", cache: bool = True,
                 strict: bool = False, progress: bool = False, formats: list[str] | None = None,
                 history: str | Path | bool | None = None):
        applied = _without_time_limits(_load(spec))
        check_run(applied, None, None, n=n, strict=strict, cache=cache)  # the checks of `evalkit run`, all at once
        self.plan = make_plan(applied, n_override=n)
        self.fill = filled_subjects(self.plan)
        self.device = pick_device(device)
        self.strict, self.progress = strict, progress
        self.history = history
        self.formats = list(formats if formats is not None else self.plan.spec.report.formats)
        check_formats(self.formats)
        self.references = References(self.plan.spec, self.device, cache=cache, progress=progress)
        forget_warnings()  # once: a training loop's later evaluations do not repeat a warning
        self._stream: _Stream | None = None
        self._stream_ctx = RunContext(replace(self.plan, subjects=self.fill[:1]), self.device, self.references)

    @property
    def spec(self) -> Spec:
        return self.plan.spec

    # ------------------------------------------------------------ sampling the model

    def evaluate(self, model: Any, step: int | None = None, *, out: str | Path | None = None) -> Evaluation:
        """Sample ``model`` for every subject it fills, run every requirement and metric, and
        return the ``Evaluation``. ``model``: a generator (an ``nn.Module`` or any object with
        ``image_shape``, ``num_classes`` and ``sample(n, *, labels, generator)``), or a factory
        (a callable or class) building one from the subject's ``params``. With ``out``, the
        report folder is written there (new or empty), as ``evalkit run --out`` writes it.
        Raises ``SubjectError`` when the model breaks (after writing the report folder)."""
        out_dir = self._out_folder(out)
        records: dict[str, Any] | None = {} if out_dir is not None else None
        results: list[SubjectResult] = []
        with _Modes() as modes, torch.no_grad():
            subjects = [replace(sp, factory=self._factory(model, sp, modes)) for sp in self.fill]
            modes.enter(model)
            ctx = RunContext(replace(self.plan, subjects=subjects), self.device, self.references,
                             progress=self.progress, sample_sink=records)
            started = _now()
            interrupted = run_subjects(ctx, results)
        report = assemble_report(ctx, results, started, interrupted, self.strict)
        if interrupted:  # the loop stops too, as it would have without evalkit in between
            raise KeyboardInterrupt(f"evaluation interrupted ({interrupted})")
        if out_dir is not None:
            self._write(report, out_dir, records)
            self._index(report, step)  # the folder written here joins the run history, with its step
        broken = [s for s in report.subjects if s.status == "broken"]
        if broken:
            raise SubjectError(broken[0].error or f"subject {broken[0].name!r} broke")
        return Evaluation(report, step)

    def _factory(self, model: Any, sp: SubjectPlan, modes: _Modes) -> Callable[..., Any]:
        """The subject's factory(device=, checkpoint=, **params), as the plan's factories are called."""
        if hasattr(model, "sample") and not inspect.isclass(model):
            if sp.spec.params or sp.spec.checkpoint:
                raise SpecError(f"{self.spec.where('subjects', sp.index)}: subject {sp.name!r} gives params or a "
                                "checkpoint, but the model handed to evaluate() is a generator object, already built: "
                                "pass a factory that builds it from them (a callable or class), or remove them")
            self._check_device(model)

            def given(**_: Any) -> Any:
                return model

            return given
        if isinstance(model, nn.Module) or not callable(model):
            raise UsageError(f"evaluate(model): {type(model).__name__} is not a generator: it needs image_shape, "
                             "num_classes and sample(n, *, labels, generator) (docs/models.md, 'Your own model'), "
                             "or is a factory (a callable or class) returning such an object")

        def build(*, device: torch.device, checkpoint: str | None = None, **params: Any) -> Any:
            kwargs = dict(params, **({"checkpoint": checkpoint} if checkpoint is not None else {}))
            gen = model(**kwargs, **({"device": device} if _takes_device(model) else {}))
            modes.enter(gen)
            self._check_device(gen)
            return gen

        return build

    def _check_device(self, gen: Any) -> None:
        """A model in training is sampled where it lives; a model elsewhere is refused, never moved."""
        if not isinstance(gen, nn.Module):
            return
        dev = self.device
        for t in chain(gen.parameters(), gen.buffers()):
            d = t.device
            if d.type != dev.type or (d.index is not None and dev.index is not None and d.index != dev.index):
                raise UsageError(f"evaluate(model): the model's tensors are on {d}, but this Evaluator samples on {dev}: "
                                 f"make it with Evaluator(spec, device={str(d)!r}) (evalkit never moves a model in training)")

    def _out_folder(self, out: str | Path | None) -> Path | None:
        """The report folder, checked before anything samples (new or empty, writable), made absolute."""
        if out is None:
            return None
        outputs = RunOutputs(Path(out), self.formats, n_subjects=len(self.fill),
                             n_requirements=max(1, len(self.plan.requirements)))
        problems = output_problems(outputs)
        if problems:
            raise SpecError(f"{len(problems)} problem(s) before the evaluation", problems)
        return Path(os.path.realpath(out))

    def _write(self, report: Report, out_dir: Path, records: dict[str, Any] | None) -> None:
        """The report folder, as ``evalkit run`` writes it (a fallback folder and exit 3 on an OSError)."""
        with confined(out_dir):
            fd = take_lock(out_dir, "this evaluation")
            try:
                outcome = write_folder(report.name, out_dir,
                                       lambda folder: write_report(report, folder, self.formats, samples=records))
            finally:
                os.close(fd)
        report.record_outputs(outcome.folder, None, [outcome.error] if outcome.error else [])
        if outcome.error:
            log.warning("%s", outcome.error)
            report.exit_code = EXIT_BROKEN

    def _index(self, report: Report, step: int | None) -> None:
        """Index the folder just written (a database that cannot be written costs a warning, not the evaluation)."""
        folder = report.written_to
        if self.history is False or folder is None or not folder.is_dir():
            return
        option = None if self.history is None or isinstance(self.history, bool) else self.history
        db = history_path(option, out_dir=folder)
        if db is not None:
            index_run(db, folder, step=step)

    # ------------------------------------------------------------ the streaming form

    def update(self, images: Tensor, labels: Tensor | None = None) -> None:
        """Add generated images (B, C, H, W) in [0, 1] the loop already has, with the classes asked
        for them when the model is conditional; they are observed now and judged by ``compute``."""
        t0 = time.monotonic()
        x, lab = self._checked_batch(images, labels)
        ctx, sp = self._stream_ctx, self.fill[0]
        with torch.no_grad():
            st = self._stream if self._stream is not None else self._start_stream(x, lab)
            self._check_fits(st, x, lab)
            batch = Batch(torch.arange(st.state.n, st.state.n + len(x)), x, lab)
            reader = BatchReader(_Given(batch), len(x), sp.name, allowed_range(ctx.plan, sp, None))
            rec = present(fold_step(ctx, reader, 0, st.state, st.history, st.shape, None), "the batch's record")
            st.state = st.state.merge(rec.delta, ctx.keep)
        st.seconds += time.monotonic() - t0

    def compute(self, step: int | None = None) -> Evaluation:
        """The verdicts and metric values over every image added since the last ``reset``."""
        st = self._stream
        if st is None:
            raise UsageError("compute(): no images were added; call update(images) first, or evaluate(model)")
        t0 = time.monotonic()
        ctx, sp = self._stream_ctx, self.fill[0]
        res = SubjectResult(name=sp.name, model=sp.spec.model, path=sp.spec.path, params=dict(sp.spec.params),
                            n_planned=st.state.n, image_shape=list(st.shape), n=st.state.n, nonfinite=st.state.nonfinite)
        with torch.no_grad():
            judge_subject(ctx, sp, st.state, st.shape, None, res)
        res.seconds = round(st.seconds + time.monotonic() - t0, 3)
        return Evaluation(assemble_report(ctx, [res], st.started, None, self.strict), step)

    def reset(self) -> None:
        """Forget the images added (the reference features stay)."""
        self._stream = None

    def _checked_batch(self, images: Any, labels: Any) -> tuple[Tensor, Tensor | None]:
        if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point() or not len(images):
            got = f"shape {tuple(images.shape)}, dtype {images.dtype}" if isinstance(images, Tensor) else type(images).__name__
            raise UsageError(f"update(images): expected a float tensor (B, C, H, W) of B >= 1 images in [0, 1], got {got}")
        if labels is None:
            return images.detach().to(self.device).float(), None
        if not isinstance(labels, Tensor) or labels.is_floating_point() or tuple(labels.shape) != (len(images),):
            got = f"shape {tuple(labels.shape)}, dtype {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
            raise UsageError(f"update(labels=): expected an integer tensor of shape ({len(images)},), the class asked "
                             f"for each image, got {got}")
        return images.detach().to(self.device).float(), labels.detach().to(self.device).long()

    def _start_stream(self, x: Tensor, lab: Tensor | None) -> _Stream:
        ctx, sp = self._stream_ctx, self.fill[0]
        shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        try:
            check_needs(ctx, sp, _Given(None, lab))  # label checks on images without labels: refused now
        except SpecError as exc:
            raise SpecError(f"{exc}: pass the classes asked for the images, update(images, labels=...)") from None
        if "real" in ctx.plan.needs and self.references.imported_moments(shape) is None:
            self.references.real_features(shape)  # a reference of another shape is refused before anything folds
        if "training" in ctx.plan.needs:
            self.references.memorization(shape)
        history = DuplicateIndex() if "history" in ctx.plan.needs else None
        self._stream = _Stream(new_state(ctx.plan), history, shape, lab is not None, _now())
        return self._stream

    @staticmethod
    def _check_fits(st: _Stream, x: Tensor, lab: Tensor | None) -> None:
        if tuple(x.shape[1:]) != st.shape:
            raise UsageError(f"update(images): images of shape {tuple(x.shape[1:])}, but the images added since the "
                             f"last reset() are {st.shape}; one evaluation judges images of one shape")
        if (lab is not None) != st.labelled:
            raise UsageError("update(labels=): give labels with every batch or with none (since the last reset())")


__all__ = ["Evaluation", "Evaluator", "filled_subjects"]
