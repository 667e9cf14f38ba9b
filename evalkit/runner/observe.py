"""One batch in, per-requirement outcomes and declared inputs folded into the subject's state.

``observe_batch`` is the fold's step. It screens the batch's values, builds the
``Observation`` (features and classifier outputs computed lazily, once), turns every
rate requirement into per-sample booleans and adds them to its ``RateState``, then
folds every per-sample state the metrics declare (``state.declared_states``: features,
predictions, memorization ratios, images, measurements, a plugin's own) by its merge rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import registry
from .._errors import SpecError, SubjectError, present
from ..observe.context import Observation
from ..observe.features import in_fixed_rows
from ..observe.indexes import DuplicateIndex
from ..plan import RequirementPlan
from ..records.model import FailingExample
from ..sample.sources import Batch
from ..contract import Input, Measured, State
from ..metrics.states import new_row_state
from .context import RunContext
from .state import RateState, SubjectState


@dataclass
class Screened:
    """A batch's images after the value screen."""

    images: Tensor  # non-finite values replaced, so extractors can run
    finite_rows: Tensor  # (B,) bool on the CPU: the sample holds no NaN/Inf
    nonfinite: int


def screen_values(ctx: RunContext, batch: Batch) -> Screened:
    """Stop on non-finite samples unless the spec measures them (a ``finite`` check)."""
    raw = batch.images
    finite_rows = torch.isfinite(raw).flatten(1).all(1)
    nonfinite = int((~finite_rows).sum())
    if nonfinite and not any(r.req.check == "finite" for r in ctx.plan.requirements):
        raise SubjectError(
            f"{nonfinite} of {len(raw)} samples in the batch starting at sample {int(batch.indices[0])} hold NaN/Inf; "
            "add a `check: finite` requirement to measure the rate instead of stopping"
        )
    images = torch.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0) if nonfinite else raw
    return Screened(images, finite_rows.cpu(), nonfinite)


def _models_used(ctx: RunContext, has_labels: bool) -> tuple[bool, bool]:
    """(features extractor used, classifier used) by a subject's observation."""
    spec, need_feats = ctx.spec, ctx.needs_features
    # The classifier also runs for class statistics when that pass is made anyway.
    use_cls = spec.classifier is not None and (
        "classifier" in ctx.plan.needs or (has_labels and need_feats and spec.classifier == spec.features))
    return need_feats, use_cls


def model_digests(ctx: RunContext, shape: tuple, has_labels: bool) -> dict[str, str | None]:
    """The digests of the feature extractor and classifier the subject's observation uses (None: not used),
    for the journal: ``--resume`` after either changed is refused."""
    need_feats, use_cls = _models_used(ctx, has_labels)
    return {"features": ctx.refs.extractor(ctx.spec.features, shape).digest if need_feats else None,
            "classifier": ctx.refs.extractor(present(ctx.spec.classifier, "the classifier"), shape).digest if use_cls else None}


def batch_models(ctx: RunContext, shape: tuple, has_labels: bool):
    """Per-batch (features, logits) functions; one forward pass serves both when one
    extractor is both the feature space and the classifier (the default)."""
    spec = ctx.spec
    need_feats, use_cls = _models_used(ctx, has_labels)
    fx = ctx.refs.extractor(spec.features, shape) if need_feats else None
    cx = ctx.refs.extractor(present(spec.classifier, "the classifier"), shape) if use_cls else None
    memo: dict[str, tuple] = {}

    def both(x):
        if fx is not None and fx is cx:
            return fx.features_and_logits(x)
        return (fx.features(x) if fx is not None else None, cx.features_and_logits(x)[1] if cx is not None else None)

    def forward(x):
        if "v" not in memo:
            memo["v"] = in_fixed_rows(both, x)  # so batch_size changes no number (in_fixed_rows says why)
            if cx is not None and memo["v"][1] is None:
                raise SpecError(f"classifier {spec.classifier!r} gives no class logits; name a classifier extractor")
        return memo["v"]

    feats_fn = (lambda x: (forward(x)[0], None)) if fx is not None else None
    classifier_fn = (lambda x: forward(x)[1]) if cx is not None else None
    return feats_fn, classifier_fn


def rate_outcome(rp: RequirementPlan, obs: Observation, screened: Screened) -> tuple[Tensor, Tensor]:
    """(passed, undefined) per sample of the batch for one rate requirement."""
    b = len(obs)
    undefined = torch.zeros(b, dtype=torch.bool)
    if rp.check is not None:
        ok = rp.check.call(obs, rp.args).cpu().bool()
    else:
        expr = present(rp.expr, f"the where: expression of {rp.name!r}")  # a rate requirement has a check or one
        values = {name: registry.measurements.get(name).call(obs).cpu() for name in expr.names}
        ok, undefined = expr.evaluate(values)
        undefined = undefined.expand(b) if undefined.ndim == 0 else undefined
        ok = ok.expand(b) if ok.ndim == 0 else ok
    if screened.nonfinite and rp.req.check != "finite":
        ok = ok & screened.finite_rows  # a non-finite sample fails every check but `finite`
    return ok, undefined


def fold_rate(rs: RateState, ok: Tensor, undefined: Tensor, labels: Tensor | None) -> None:
    rs.passed += int(ok.sum())
    rs.n += len(ok)
    rs.undefined += int(undefined.sum())
    if labels is not None:
        lab = labels.cpu()
        for c in lab.unique().tolist():
            m = lab == c
            cur = rs.per_class.setdefault(int(c), [0, 0])
            cur[0] += int(ok[m].sum())
            cur[1] += int(m.sum())


def explaining(rp: RequirementPlan) -> list[str]:
    """For a check, the measurements that read what the check reads beyond the pixels (e.g. the
    nearest-training ratio for ``not_a_training_copy``): shown beside its failing examples."""
    if rp.check is None:
        return []
    reads = {i for i in rp.check.inputs if isinstance(i, Input)} - {Input.IMAGES}
    return sorted(m.name for m in registry.measurements
                  if m.inputs and set(m.inputs) <= reads | {Input.IMAGES} and set(m.inputs) & reads)


def keep_failing(rs: RateState, rp: RequirementPlan, obs: Observation, ok: Tensor, keep: int) -> None:
    """Add the batch's first failing samples, with their measurements, up to ``keep``."""
    if len(rs.failing) >= keep or bool(ok.all()):
        return
    names = sorted(rp.expr.names) if rp.expr is not None else explaining(rp)
    if obs.classifier_fn is not None:
        names += [n for n in ("predicted", "confidence") if n not in names]
    measured = {n: registry.measurements.get(n).call(obs) for n in names}
    for i in torch.nonzero(~ok).flatten()[: keep - len(rs.failing)].tolist():
        rs.failing.append(FailingExample(index=int(obs.indices[i]),
                                         label=None if obs.labels is None else int(obs.labels[i]),
                                         values={n: float(v[i]) for n, v in measured.items()}))


def _finite(obs: Observation, screened: Screened, values: Tensor) -> tuple[Tensor, Tensor]:
    ok = screened.finite_rows
    return values[ok.to(values.device)].detach().cpu(), obs.indices[ok.to(obs.indices.device)].detach().cpu()


def _features(obs: Observation, screened: Screened, extractor: str) -> tuple[Tensor, Tensor]:
    f = obs.features
    bad = ~torch.isfinite(f).all(1) & screened.finite_rows.to(f.device)
    if bad.any():
        raise SubjectError(f"features of {int(bad.sum())} samples hold NaN/Inf (extractor {extractor!r})")
    return _finite(obs, screened, f)


def _images(obs: Observation, screened: Screened) -> tuple[Tensor, Tensor]:
    # uint8, as the images would be saved: 4x smaller than floats, and what a CNN-based metric trains on
    return _finite(obs, screened, (obs.images.clamp(0, 1) * 255).round().to(torch.uint8))


def state_rows(ctx: RunContext, st: State, obs: Observation, screened: Screened) -> tuple[Tensor, Tensor] | None:
    """The batch's rows of declared state ``st``: (values, sample indices), or None when this
    run cannot provide them (no classifier output or no asked labels for an unconditional
    subject, no memorization index for an optional training input). Rows of non-finite samples are left out, except for class predictions and asked
    labels, which every sample has."""
    src = st.source
    if isinstance(src, Measured):
        return _finite(obs, screened, registry.measurements.get(src.name).call(obs))
    if src is Input.FEATURES:
        return _features(obs, screened, ctx.spec.features)
    if src is Input.TRAINING:  # an optional input: the memorization index is built only when required
        return None if obs.training_index is None else _finite(obs, screened, obs.nearest_training.ratio)
    if src is Input.IMAGES:
        return _images(obs, screened)
    if src is Input.CLASSIFIER:
        ready = obs.classifier_fn is not None and obs.labels is not None
        return (obs.probs.argmax(1).cpu(), obs.indices.cpu()) if ready else None
    if src is Input.LABELS:
        return None if obs.labels is None else (obs.labels.cpu(), obs.indices.cpu())
    raise SubjectError(f"state {st.name!r} reads {src}, which no run provides per sample")


def fold_inputs(ctx: RunContext, obs: Observation, screened: Screened, state: SubjectState) -> None:
    """Fold the batch into every per-sample state the plan's metrics declare, by its merge rule."""
    for st in ctx.states.values():
        got = state_rows(ctx, st, obs, screened)
        if got is not None:
            state.rows.setdefault(st.name, new_row_state(st.merge)).update(*got)


def observe_batch(ctx: RunContext, batch: Batch, state: SubjectState, history: DuplicateIndex | None, shape: tuple,
                  room: list[int]) -> None:
    """Fold one batch into ``state`` (the fold's step); ``room[i]``: failing examples requirement i
    may still keep."""
    screened = screen_values(ctx, batch)
    if screened.nonfinite:
        state.nonfinite += screened.nonfinite
    feats_fn, classifier_fn = batch_models(ctx, shape, batch.labels is not None)
    memory = ctx.refs.memorization(shape) if "training" in ctx.plan.needs else None
    obs = Observation(screened.images, batch.images, batch.labels, batch.indices, feats_fn, classifier_fn, memory, history)
    outcomes = []
    for rp, rs, left in zip(ctx.plan.rate_requirements, state.rates, room):
        ok, undefined = rate_outcome(rp, obs, screened)
        outcomes.append((ok, undefined))
        fold_rate(rs, ok, undefined, batch.labels)
        keep_failing(rs, rp, obs, ok, left)
    if state.samples is not None:
        state.samples.observe(obs, outcomes)
    fold_inputs(ctx, obs, screened, state)
    state.n += len(screened.images)
