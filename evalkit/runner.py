"""The runner: spec -> plan -> (sample -> observe) per subject -> judge -> report.

Batches flow once: each is observed (features, classifier outputs, per-sample
checks) and folded into mergeable state, then dropped. Under ``torchrun`` each
process takes every world_size-th batch and the states are merged at the end, so
the report is the same as a single-process run's.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import __version__, registry
from ._errors import DataError, EvalkitError, RunError, SpecError, SubjectError, UsageError
from .cache import cached_tensor
from .data.images import open_images
from .judge import stats
from .judge.verdicts import judge_metric, judge_rate
from .metrics.states import FeatureState, MomentState
from .metrics.suite import MetricInputs
from .observe.context import Observation
from .observe.features import Extractor, make_extractor
from .observe.indexes import DuplicateIndex, MemorizationIndex
from .plan import Plan, RequirementPlan, SubjectPlan, make_plan
from .report.model import Environment, FailingExample, MetricResult, Report, RequirementResult, SubjectResult
from .sample.sources import GeneratorSource, ImageSource, asked_labels
from .spec.load import load_spec
from .spec.model import Reference, Spec

log = logging.getLogger(__name__)
FEATURE_BATCH = 500


def pick_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and _dist()[1] > 1:
        return torch.device("cuda", torch.cuda.current_device())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {device!r}; use auto, cpu or cuda[:N]") from None


def init_distributed(device: str) -> None:
    """Join the process group that ``torchrun`` describes in the environment (once)."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")


def _dist() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ---------------------------------------------------------------- reference data


def _open_reference(spec: Spec, ref: Reference, what: str):
    if ref.dataset is not None:
        data = registry.datasets.get(ref.dataset).obj(split=ref.split, range=ref.range)
        return data, f"{ref.dataset}:{ref.split}" + (f"[{ref.range[0]}:{ref.range[1]}]" if ref.range else ""), data.digest
    path = spec.resolve_path(ref.path or "")
    data = open_images(path, ref.format)
    data.check_all()
    if ref.range:
        raise SpecError(f"{spec.where(what, 'range')}: {what}.range applies to datasets only")
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
    else:
        for f in data.files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return data, str(path), h.hexdigest()


def _features_of(data, extractor: Extractor, device: torch.device) -> Tensor:
    out = []
    with torch.no_grad():
        for s in range(0, len(data), FEATURE_BATCH):
            x = data.slice(s, min(len(data), s + FEATURE_BATCH)).to(device)
            out.append(extractor.features(x).cpu())
    feats = torch.cat(out)
    bad = ~torch.isfinite(feats).all(1)
    if bad.any():
        raise DataError(f"reference features hold NaN/Inf in {int(bad.sum())} of {len(feats)} rows")
    return feats


# ---------------------------------------------------------------- per-subject state


@dataclass
class RateState:
    passed: int = 0
    n: int = 0
    undefined: int = 0
    per_class: dict[int, list[int]] = field(default_factory=dict)  # class -> [passed, n]
    failing: list[FailingExample] = field(default_factory=list)

    def merge(self, o: "RateState", keep: int) -> "RateState":
        pc = {c: list(v) for c, v in self.per_class.items()}
        for c, (k, n) in o.per_class.items():
            pc.setdefault(c, [0, 0])
            pc[c][0] += k
            pc[c][1] += n
        failing = sorted(self.failing + o.failing, key=lambda f: f.index)[:keep]
        return RateState(self.passed + o.passed, self.n + o.n, self.undefined + o.undefined, pc, failing)


@dataclass
class SubjectState:
    rates: list[RateState]
    features: FeatureState = field(default_factory=FeatureState)
    predicted: FeatureState = field(default_factory=FeatureState)
    asked: FeatureState = field(default_factory=FeatureState)
    memo: FeatureState = field(default_factory=FeatureState)
    images: FeatureState = field(default_factory=FeatureState)  # uint8, only for metrics that train on samples
    labels: FeatureState = field(default_factory=FeatureState)
    n: int = 0
    nonfinite: int = 0

    def merge(self, o: "SubjectState", keep: int) -> "SubjectState":
        return SubjectState(
            [a.merge(b, keep) for a, b in zip(self.rates, o.rates)],
            self.features.merge(o.features), self.predicted.merge(o.predicted), self.asked.merge(o.asked),
            self.memo.merge(o.memo), self.images.merge(o.images), self.labels.merge(o.labels),
            self.n + o.n, self.nonfinite + o.nonfinite,
        )


# ---------------------------------------------------------------- the run


class Runner:
    """Runs one plan; ``run()`` returns the Report (files are written by ``evalkit.run``)."""

    def __init__(self, plan: Plan, device: torch.device, *, progress: bool = False, cache: bool = True):
        self.plan, self.spec, self.device = plan, plan.spec, device
        self.progress, self.cache = progress, cache
        self.rank, self.world = _dist()
        self._extractors: dict[tuple, Extractor] = {}
        self._real: dict[tuple, Tensor] = {}
        self._memo: dict[tuple, MemorizationIndex] = {}
        self._reference_work: dict = {}  # work on the reference alone, shared by every subject
        self.reference_info: dict[str, Any] | None = None
        self.interrupted = False

    # ---- shared resources, built lazily per image shape
    def extractor(self, name: str, shape: tuple) -> Extractor:
        key = (name, shape)
        if key not in self._extractors:
            self._extractors[key] = make_extractor(name, shape, self.device, self.spec.base_dir)
        return self._extractors[key]

    def real_features(self, shape: tuple) -> Tensor:
        if shape not in self._real:
            data, desc, digest = _open_reference(self.spec, self.spec.reference, "reference")
            if tuple(data.image_shape) != tuple(shape):
                raise DataError(
                    f"reference images are {'x'.join(map(str, data.image_shape))} but the subject's are "
                    f"{'x'.join(map(str, shape))}; metrics compare images of one shape"
                )
            ex = self.extractor(self.spec.features, shape)
            feats = cached_tensor([digest, ex.digest, __version__],
                                  lambda: _features_of(data, ex, self.device), self.cache)
            self._real[shape] = feats
            self.reference_info = {"source": desc, "n": len(feats), "sha256": digest, "features": ex.name,
                                   "feature_dim": int(feats.shape[1]), "extractor_digest": ex.digest}
        return self._real[shape]

    def memorization(self, shape: tuple) -> MemorizationIndex:
        if shape not in self._memo:
            data, desc, digest = _open_reference(self.spec, self.spec.training, "training")
            ex = self.extractor(self.spec.features, shape)
            feats = cached_tensor(["train", digest, ex.digest, __version__],
                                  lambda: _features_of(data, ex, self.device), self.cache)
            nn = cached_tensor(["train-nn", digest, ex.digest, __version__],
                               lambda: MemorizationIndex(feats).train_nn, self.cache)
            self._memo[shape] = MemorizationIndex(feats, nn)
        return self._memo[shape]

    # ---- one subject
    def build_source(self, sp: SubjectPlan):
        s = self.spec.sampling
        if sp.images_path is not None:
            imgs = open_images(sp.images_path, sp.spec.format)
            imgs.check_all()
            return ImageSource(sp.name, imgs, s.size, self.device), None
        ckpt = str(self.spec.resolve_path(sp.spec.checkpoint)) if sp.spec.checkpoint else None
        try:
            gen = sp.factory(device=self.device, checkpoint=ckpt, **sp.spec.params)
        except EvalkitError:
            raise
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{self.spec.where('subjects', sp.index)}: subject {sp.name!r}: {exc}") from None
        except Exception as exc:
            raise SubjectError(f"subject {sp.name!r}: building the generator raised {type(exc).__name__}: {exc}") from exc
        for attr in ("image_shape", "num_classes", "sample"):
            if not hasattr(gen, attr):
                raise SubjectError(f"subject {sp.name!r}: the generator has no {attr!r} (see the Generator protocol)")
        shape = tuple(gen.image_shape)
        if len(shape) != 3 or any(not isinstance(v, int) or v <= 0 for v in shape):
            raise SubjectError(f"subject {sp.name!r}: image_shape must be (C, H, W) positive ints, got {gen.image_shape!r}")
        if gen.num_classes is None and s.labels != "uniform":
            raise SpecError(
                f"{self.spec.where('sampling', 'labels')}: sampling.labels asks for classes, but subject {sp.name!r} "
                "is unconditional (num_classes is None); remove `labels:` or use a class-conditional model"
            )
        labels = asked_labels(s, gen.num_classes)
        weights = getattr(gen, "weights_file", None)
        return GeneratorSource(sp.name, gen, s.size, labels, s.seed, s.block_size, self.device), weights

    def check_needs(self, sp: SubjectPlan, source) -> None:
        for rp in self.plan.requirements:
            if "labels" in rp.needs and source.labels is None:
                what = "per_class" if rp.req.per_class else f"{rp.name!r}"
                raise SpecError(
                    f"{self.spec.where('requirements', rp.index)}: {what} needs asked labels, "
                    f"but subject {sp.name!r} is unconditional (no classes)"
                )

    def observe(self, batch, state: SubjectState, history: DuplicateIndex, shape: tuple) -> None:
        spec, plan = self.spec, self.plan
        raw = batch.images
        finite_rows = torch.isfinite(raw).flatten(1).all(1)
        nonfinite = int((~finite_rows).sum())
        if nonfinite:
            has_finite_check = any(r.req.check == "finite" for r in plan.requirements)
            if not has_finite_check:
                raise SubjectError(
                    f"{nonfinite} of {len(raw)} samples in the batch starting at sample {int(batch.indices[0])} hold NaN/Inf; "
                    "add a `check: finite` requirement to measure the rate instead of stopping"
                )
            state.nonfinite += nonfinite
        images = torch.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0) if nonfinite else raw
        need_feats = bool(plan.metric_requirements) or "training" in plan.needs
        feats_fn, classifier_fn = self._batch_models(shape, need_feats, batch.labels is not None)
        obs = Observation(images, raw, batch.labels, batch.indices, feats_fn, classifier_fn,
                          self.memorization(shape) if "training" in plan.needs else None, history)
        keep = spec.report.failing_examples
        for rp, rs in zip(plan.rate_requirements, state.rates):
            undefined = torch.zeros(len(images), dtype=torch.bool)
            if rp.check is not None:
                ok = rp.check(obs, **rp.req.args).cpu().bool()
            else:
                values = {name: registry.measurements.get(name).obj(obs).cpu() for name in rp.expr.names}
                ok, undefined = rp.expr.evaluate(values)
                undefined = undefined.expand(len(images)) if undefined.ndim == 0 else undefined
                ok = ok.expand(len(images)) if ok.ndim == 0 else ok
            if nonfinite and rp.req.check != "finite":
                ok = ok & finite_rows.cpu()
            rs.passed += int(ok.sum())
            rs.n += len(ok)
            rs.undefined += int(undefined.sum())
            if batch.labels is not None:
                lab = batch.labels.cpu()
                for c in lab.unique().tolist():
                    m = lab == c
                    cur = rs.per_class.setdefault(int(c), [0, 0])
                    cur[0] += int(ok[m].sum())
                    cur[1] += int(m.sum())
            if len(rs.failing) < keep and not bool(ok.all()):
                names = sorted(rp.expr.names) if rp.expr is not None else []
                if obs.classifier_fn is not None:
                    names += [n for n in ("predicted", "confidence") if n not in names]
                measured = {n: registry.measurements.get(n).obj(obs) for n in names}
                for i in torch.nonzero(~ok).flatten()[: keep - len(rs.failing)].tolist():
                    vals = {n: float(v[i]) for n, v in measured.items()}
                    rs.failing.append(FailingExample(index=int(batch.indices[i]),
                                                     label=None if batch.labels is None else int(batch.labels[i]),
                                                     values=vals))
        if need_feats:
            f = obs.features
            ok_rows = finite_rows.cpu()
            bad = ~torch.isfinite(f).all(1) & ok_rows
            if bad.any():
                raise SubjectError(f"features of {int(bad.sum())} samples hold NaN/Inf (extractor {spec.features!r})")
            state.features.update(f[ok_rows], batch.indices[ok_rows.to(batch.indices.device)])
            if "training" in plan.needs:
                state.memo.update(obs.memo[0][ok_rows], batch.indices[ok_rows])
        if "images" in plan.needs and batch.labels is not None:
            ok_rows = finite_rows.cpu()
            q = (images[ok_rows.to(images.device)].clamp(0, 1) * 255).round().to(torch.uint8)
            state.images.update(q, batch.indices[ok_rows])
            state.labels.update(batch.labels.cpu()[ok_rows], batch.indices[ok_rows])
        if obs.classifier_fn is not None and batch.labels is not None:
            state.predicted.update(obs.probs.argmax(1), batch.indices)
            state.asked.update(batch.labels.cpu(), batch.indices)
        state.n += len(images)

    def _batch_models(self, shape: tuple, need_feats: bool, has_labels: bool):
        """Per-batch (features, logits) functions; one forward pass serves both when one
        extractor is both the feature space and the classifier (the default)."""
        spec = self.spec
        # The classifier also runs for class statistics when that pass is made anyway.
        use_cls = spec.classifier is not None and (
            "classifier" in self.plan.needs or (has_labels and need_feats and spec.classifier == spec.features))
        fx = self.extractor(spec.features, shape) if need_feats else None
        cx = self.extractor(spec.classifier, shape) if use_cls else None
        memo: dict[str, tuple] = {}

        def forward(x):
            if "v" not in memo:
                if fx is not None and fx is cx:
                    memo["v"] = fx.features_and_logits(x)
                else:
                    f = fx.features(x) if fx is not None else None
                    logits = cx.features_and_logits(x)[1] if cx is not None else None
                    memo["v"] = (f, logits)
                if cx is not None and memo["v"][1] is None:
                    raise SpecError(f"classifier {spec.classifier!r} gives no class logits; name a classifier extractor")
            return memo["v"]

        feats_fn = (lambda x: (forward(x)[0], None)) if fx is not None else None
        classifier_fn = (lambda x: forward(x)[1]) if cx is not None else None
        return feats_fn, classifier_fn

    def run_subject(self, sp: SubjectPlan) -> SubjectResult:
        res = SubjectResult(name=sp.name, model=sp.spec.model, path=sp.spec.path, params=dict(sp.spec.params),
                            n_planned=self.spec.sampling.size)
        t0 = time.monotonic()
        state = SubjectState([RateState() for _ in self.plan.rate_requirements])
        try:
            source, weights = self.build_source(sp)
            res.image_shape = list(source.image_shape)
            if weights is not None:
                res.weights_sha256 = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
            self.check_needs(sp, source)
            shape = tuple(source.image_shape)
            if "real" in self.plan.needs:
                self.real_features(shape)  # fail fast on a bad reference, before sampling
            if "training" in self.plan.needs:
                self.memorization(shape)  # built once, outside the timed sampling loop
            history = DuplicateIndex()
            t_loop = time.monotonic()
            self._sample_loop(sp, source, state, history, shape, res)
            loop_s = time.monotonic() - t_loop
            res.samples_per_second = round(state.n / loop_s, 2) if loop_s > 0 and state.n else None
            self._finish(sp, state, res, shape)
        except KeyboardInterrupt:
            res.status, res.error = "interrupted", "interrupted by the user (Ctrl-C)"
            self.interrupted = True
        except SpecError as exc:
            res.status, res.error = "broken", str(exc)
            res.requirements = []
            self.spec_problem = True
        except Exception as exc:  # user code may raise anything; the other subjects still run
            res.status, res.error = "broken", str(exc) if isinstance(exc, EvalkitError) else f"{type(exc).__name__}: {exc}"
            log.debug("subject %s broke", sp.name, exc_info=True)
        if res.status != "ok" or not res.n:
            res.n, res.nonfinite = state.n, state.nonfinite
        res.seconds = round(time.monotonic() - t0, 3)
        return res

    def _sample_loop(self, sp, source, state, history, shape, res) -> None:
        s = self.spec.sampling
        bs = s.batch_size
        sequential = s.sequential and not self.plan.metric_requirements and self.world == 1 and self.plan.rate_requirements
        total_batches = -(-source.n // bs)
        look_conf = None
        if sequential:
            fracs = [min(1.0, (j + 1) * bs / source.n) for j in range(total_batches)]
            look_conf = {rp.index: stats.look_confidences(rp.confidence, fracs) for rp in self.plan.rate_requirements}
        bar = None
        if self.progress and self.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=source.n, desc=sp.name, unit="img", leave=False, dynamic_ncols=True)
        try:
            for j, batch in self._my_batches(source, bs):
                self.observe(batch, state, history, shape)
                if bar is not None:
                    bar.update(len(batch.indices) * self.world)
                if sequential and j + 1 < total_batches:
                    decided = all(
                        _decided_at(rs, rp, look_conf[rp.index][j]) for rp, rs in zip(self.plan.rate_requirements, state.rates)
                    )
                    if decided:
                        res.stopped_early = True
                        break
        finally:
            if bar is not None:
                bar.close()
        if not sequential:
            self._look_conf = None
        elif res.stopped_early:
            self._look_conf = {k: v[j] for k, v in look_conf.items()}
        else:
            # the last look may use all the error the earlier looks did not spend
            self._look_conf = {rp.index: 1 - ((1 - rp.confidence) - sum(1 - c for c in look_conf[rp.index][:-1]))
                               for rp in self.plan.rate_requirements}

    def _my_batches(self, source, bs: int):
        """(batch number, batch) pairs this process observes: all of them, or every world-th."""
        if self.world == 1:
            yield from enumerate(source.batches(bs))
            return
        for j in range(self.rank, -(-source.n // bs), self.world):
            start, stop = j * bs, min(source.n, (j + 1) * bs)
            yield j, next(iter(source.batches(stop - start, start, stop)))

    def _finish(self, sp, state: SubjectState, res: SubjectResult, shape) -> SubjectState:
        keep = self.spec.report.failing_examples
        if self.world > 1:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, state)
            state = gathered[0]
            for other in gathered[1:]:
                state = state.merge(other, keep)
            # history of no_duplicate is per process: only within-shard near-copies are seen
        res.n, res.nonfinite = state.n, state.nonfinite
        seq_note = None
        for rp, rs in zip(self.plan.rate_requirements, state.rates):
            conf = rp.confidence
            if self._look_conf is not None:
                conf = self._look_conf[rp.index]
                seq_note = "O'Brien-Fleming-type error spending over sequential looks"
            r = judge_rate(rp.name, rs.passed, rs.n, float(rp.req.at_least), conf, undefined=rs.undefined,
                           per_class={c: tuple(v) for c, v in rs.per_class.items()} if rp.req.per_class else None,
                           correction=seq_note)
            r.failing = rs.failing
            if rs.undefined:
                r.message = ((r.message + "; ") if r.message else "") + f"{rs.undefined} samples undefined (counted as failing)"
            res.requirements.append(r)
        if self.plan.metric_requirements:
            self._metrics(sp, state, res, shape)
        # keep the spec's order of requirements in the report
        order = {rp.name: rp.index for rp in self.plan.requirements}
        res.requirements.sort(key=lambda r: order.get(r.name, 0))
        return state

    def _metrics(self, sp, state: SubjectState, res: SubjectResult, shape) -> None:
        fake, _ = state.features.value()
        if len(fake) == 0:
            raise SubjectError(f"subject {sp.name!r}: no finite samples to compute metrics on")
        pred, _ = state.predicted.value()
        asked, _ = state.asked.value()
        memo, _ = state.memo.value()
        real = self.real_features(shape) if "real" in self.plan.needs else None
        if real is not None and real.shape[1] != fake.shape[1]:
            raise DataError(f"feature dimensions differ: reference {real.shape[1]}, subject {sp.name!r} {fake.shape[1]}")
        inputs = MetricInputs(sp.name, real, fake, pred if len(pred) else None, asked if len(asked) else None,
                              10 if len(pred) else None, memo if len(memo) else None, seed=self.spec.sampling.seed,
                              requests=[(rp.req.metric, dict(rp.req.args)) for rp in self.plan.metric_requirements],
                              shared=self._reference_work)
        if "images" in self.plan.needs:
            imgs, _ = state.images.value()
            labs, _ = state.labels.value()
            inputs.images, inputs.image_labels = imgs, labs
            inputs.real_images = lambda: _labelled_images(self.spec, self.spec.reference, "reference")
            inputs.train_images = (lambda: _labelled_images(self.spec, self.spec.training, "training")) if self.spec.training else None
        if inputs.predicted is not None and inputs.num_classes is not None:
            inputs.num_classes = max(int(inputs.predicted.max()), int(inputs.asked.max())) + 1
            cx = self._extractors.get((self.spec.classifier, shape))
            if cx is not None and cx.num_classes:
                inputs.num_classes = cx.num_classes
        seen: dict[tuple, MetricResult] = {}
        for rp in self.plan.metric_requirements:
            key = (rp.req.metric, tuple(sorted(rp.req.args.items())), rp.confidence)
            if key not in seen:
                try:
                    mv = rp.metric.obj().compute(inputs, rp.confidence, **rp.req.args)
                except DataError as exc:  # e.g. too few samples for the metric's interval: say which requirement
                    raise DataError(f"{self.spec.where('requirements', rp.index)}: requirement {rp.name!r}: {exc}") from None
                seen[key] = MetricResult(name=rp.req.metric + _argtag(rp.req.args), value=mv.value, lower=mv.low, upper=mv.high,
                                         confidence=rp.confidence, method=mv.method, n=mv.n, n_reference=mv.n_reference,
                                         note=mv.note, extra=mv.extra)
            res.requirements.append(judge_metric(rp.name, seen[key], rp.req.at_least, rp.req.at_most))
        res.metrics = list(seen.values())


def _labelled_images(spec: Spec, ref: Reference, what: str) -> tuple[Tensor, Tensor]:
    data, _, _ = _open_reference(spec, ref, what)
    if data.labels is None:
        raise DataError(f"{what} images carry no labels; metric 'cas' needs labelled real images")
    return data.slice(0, len(data)), data.labels


def _argtag(args: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in sorted(args.items())) + ")" if args else ""


def _decided_at(rs: RateState, rp: RequirementPlan, conf: float) -> bool:
    if rp.req.per_class:
        return all(stats.decide_rate(k, n, rp.req.at_least, 1 - (1 - conf) / max(1, len(rs.per_class))) != "INCONCLUSIVE"
                   for k, n in rs.per_class.values())
    return stats.decide_rate(rs.passed, rs.n, rp.req.at_least, conf) != "INCONCLUSIVE"


def environment(device: torch.device) -> Environment:
    from importlib.metadata import PackageNotFoundError, version

    pkgs = {}
    for p in ("numpy", "scipy", "pydantic", "safetensors", "torchmetrics", "pyyaml"):
        try:
            pkgs[p] = version(p)
        except PackageNotFoundError:
            pass
    dev = str(device)
    if device.type == "cuda":
        dev += f" ({torch.cuda.get_device_name(device)})"
    return Environment(python=sys.version.split()[0], platform=platform.platform(), torch=torch.__version__,
                       evalkit=__version__, device=dev, packages=pkgs, world_size=_dist()[1])


def exit_code_of(report: Report, strict: bool = False) -> int:
    """0 all pass; 1 a requirement failed/regressed (or inconclusive under strict); 2 spec problem; 3 broken."""
    subs = report.subjects
    if report.interrupted:
        return 130
    if any(s.status == "broken" and s.error and _is_spec_problem(s.error) for s in subs):
        return 2
    if any(s.status == "broken" for s in subs):
        return 3
    verdicts = [r.verdict for s in subs for r in s.requirements]
    if "FAIL" in verdicts or any(s.regressions for s in subs):
        return 1
    if strict and "INCONCLUSIVE" in verdicts:
        return 1
    return 0


def _is_spec_problem(message: str) -> bool:
    return message.startswith("[spec] ")


def execute(spec: Spec, *, device: str = "auto", n: int | None = None, progress: bool = False,
            cache: bool = True, strict: bool = False) -> Report:
    """Plan and run ``spec``; return the Report (nothing written)."""
    plan = make_plan(spec, n_override=n)
    init_distributed(device)
    dev = pick_device(device)
    runner = Runner(plan, dev, progress=progress, cache=cache)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    subjects: list[SubjectResult] = []
    for sp in plan.subjects:
        runner.spec_problem = False
        r = runner.run_subject(sp)
        if runner.spec_problem and r.error:
            r.error = "[spec] " + r.error
        subjects.append(r)
        if runner.interrupted:
            break
    report = Report(
        name=plan.spec.name, spec=plan.spec.canonical(), spec_sha256=plan.spec.digest(), spec_path=plan.spec.source,
        started=started, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), seed=plan.spec.sampling.seed,
        environment=environment(dev), reference=runner.reference_info, features=plan.spec.features, subjects=subjects,
        interrupted=runner.interrupted,
    )
    for note in plan.notes:
        log.warning(note)
    report.exit_code = exit_code_of(report, strict)
    return report
