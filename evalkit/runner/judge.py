"""A subject's final state -> its requirement results (rates judged by counts, metrics computed)."""

from __future__ import annotations

import torch

from .._errors import DataError, SubjectError, present
from ..judge.verdicts import judge_metric, judge_rate
from ..metrics.influence import metric_influence
from ..metrics.metric import MetricInputs
from ..observe.sanity import overrule
from ..plan import SubjectPlan
from ..progress import task
from ..records.model import MetricResult, RequirementResult, SubjectResult
from .context import RunContext
from .faults import kill_point
from .looks import SEQUENTIAL_NOTE
from .references import labelled_images
from .state import SubjectState


def judge_rates(ctx: RunContext, state: SubjectState, look_conf: dict[int, float] | None) -> list[RequirementResult]:
    out = []
    for rp, rs in zip(ctx.plan.rate_requirements, state.rates):
        conf = rp.confidence if look_conf is None else look_conf[rp.index]
        r = judge_rate(rp.name, rs.passed, rs.n, float(present(rp.req.at_least, f"at_least of {rp.name!r}")), conf, undefined=rs.undefined,
                       per_class={c: (v[0], v[1]) for c, v in rs.per_class.items()} if rp.req.per_class else None,
                       correction=None if look_conf is None else SEQUENTIAL_NOTE, anytime=ctx.spec.sampling.anytime)
        r.failing = rs.failing
        if rs.undefined:
            r.message = ((r.message + "; ") if r.message else "") + f"{rs.undefined} samples undefined (counted as failing)"
        out.append(r)
    return out


def metric_inputs(ctx: RunContext, sp: SubjectPlan, state: SubjectState, shape: tuple) -> MetricInputs:
    """What the metrics read: the subject's declared states, the reference's features, shared work."""
    spec, plan = ctx.spec, ctx.plan
    # each state's rows sorted by sample index, once (a cat and a sort of up to N x d rows)
    states = {name: rs.value() for name, rs in state.rows.items()}
    filled = {name: states[name] for name, rs in state.rows.items() if len(rs)}
    none = (None, None)
    fake, _ = filled.get("features", none)
    if fake is None:
        raise SubjectError(f"subject {sp.name!r}: no finite samples to compute metrics on")
    pred, _ = filled.get("predicted", none)
    asked, _ = filled.get("asked", none)
    nn_ratio, _ = filled.get("nn_ratio", none)
    real, moments = _reference_side(ctx, sp, shape, fake.shape[1])
    inputs = MetricInputs(sp.name, real, fake, pred, asked, None, nn_ratio, seed=spec.sampling.seed,
                          requests=[(present(rp.req.metric, f"the metric of {rp.name!r}"), dict(rp.args)) for rp in plan.metric_requirements],
                          shared=ctx.refs.reference_work, real_moments=moments)
    inputs.measured = {name: filled[name][0] for name in plan.measured_inputs if name in filled}
    inputs.states = states
    if "images" in filled:
        _image_inputs(inputs, spec, filled["images"], filled.get("asked", none))
    if inputs.predicted is not None and inputs.asked is not None:
        inputs.num_classes = _num_classes(ctx, inputs, shape)
    return inputs


def _reference_side(ctx: RunContext, sp: SubjectPlan, shape: tuple, dim: int):
    """(reference features, None), or (None, imported (mu, sigma)), or (None, None) when no metric reads them."""
    if "real" not in ctx.plan.needs:
        return None, None
    moments = ctx.refs.imported_moments(shape)
    real = ctx.refs.real_features(shape) if moments is None else None
    if real is not None and real.shape[1] != dim:
        raise DataError(f"feature dimensions differ: reference {real.shape[1]}, subject {sp.name!r} {dim}")
    return real, moments


def _image_inputs(inputs: MetricInputs, spec, images: tuple, asked: tuple) -> None:
    """The generated images with their asked labels, and the labelled real and training images."""
    inputs.images, image_idx = images
    # the asked labels of the same (finite) rows: both states are sorted by sample index
    inputs.image_labels = asked[0][torch.isin(asked[1], image_idx)] if asked[0] is not None else None
    inputs.real_images = lambda: labelled_images(spec, spec.reference, "reference")
    inputs.train_images = (lambda: labelled_images(spec, spec.training, "training")) if spec.training else None


def _num_classes(ctx: RunContext, inputs: MetricInputs, shape: tuple) -> int:
    """The classifier's class count, else the largest class seen + 1."""
    cx = ctx.refs.extractor(ctx.spec.classifier, shape) if ctx.spec.classifier else None
    if cx is not None and cx.num_classes:
        return cx.num_classes
    predicted, asked = present(inputs.predicted, "the predictions"), present(inputs.asked, "the asked labels")
    return max(int(predicted.max()), int(asked.max())) + 1


Influences = dict[str, tuple[torch.Tensor, torch.Tensor]]  # metric result name -> (influence, sample index)


def _influence(metric: str, inputs: MetricInputs, args: dict, name: str, out: Influences | None) -> None:
    """Keep each generated sample's influence on metric result ``name`` (for the sample store),
    while the reference features are in memory: ``metrics.influence``."""
    if out is None:
        return
    infl = metric_influence(metric, inputs, args)
    if infl is not None:
        out[name] = (torch.from_numpy(infl), inputs.states["features"][1])


def judge_metrics(ctx: RunContext, sp: SubjectPlan, state: SubjectState, shape: tuple,
                  influences: Influences | None = None) -> tuple[list[RequirementResult], list[MetricResult]]:
    """Every metric requirement's result and the metric values; ``influences``, when given, is
    filled with each metric result's per-sample influences (``_influence``)."""
    inputs = metric_inputs(ctx, sp, state, shape)
    seen: dict[tuple, MetricResult] = {}
    results = []
    bar = task(f"{sp.name}: metrics", len(ctx.plan.metric_requirements), "metric", enabled=ctx.progress and ctx.rank == 0)
    for rp in ctx.plan.metric_requirements:
        kill_point("metrics")
        metric = present(rp.req.metric, f"the metric of {rp.name!r}")
        key = (metric, tuple(sorted(rp.req.args.items())), rp.confidence)
        if key not in seen:
            try:
                mv = present(rp.metric, f"the metric of {rp.name!r}").compute(inputs, rp.confidence, rp.args, n=len(inputs.fake), requirement=rp.name)
            except DataError as exc:  # e.g. too few samples for the metric's interval: say which requirement
                raise DataError(f"{ctx.spec.where('requirements', rp.index)}: requirement {rp.name!r}: {exc}") from None
            seen[key] = MetricResult(name=metric + argtag(rp.req.args), metric=metric, args=rp.args,
                                     value=mv.value, lower=mv.low, upper=mv.high,
                                     confidence=rp.confidence, method=mv.method, n=mv.n, n_reference=mv.n_reference,
                                     note=mv.note, extra=mv.extra, upper_holds=getattr(mv, "upper_holds", True),
                                     lower_holds=getattr(mv, "lower_holds", True))
            _influence(metric, inputs, rp.args, seen[key].name, influences)
        results.append(overrule(judge_metric(rp.name, seen[key], rp.req.at_least, rp.req.at_most), ctx.refs.checks.get(shape), metric))
        bar.update(1)
    bar.close()
    return results, list(seen.values())


def judge_subject(ctx: RunContext, sp: SubjectPlan, state: SubjectState, shape: tuple,
                  look_conf: dict[int, float] | None, res: SubjectResult, influences: Influences | None = None) -> None:
    """Fill ``res`` with every requirement's result, in the spec's order, and the metric values
    (and ``influences``, when given, as ``judge_metrics``). The rate results go in first, so a
    subject whose metrics break still reports them."""
    res.requirements = judge_rates(ctx, state, look_conf)
    if ctx.plan.metric_requirements:
        more, res.metrics = judge_metrics(ctx, sp, state, shape, influences)
        res.requirements += more
    order = {rp.name: rp.index for rp in ctx.plan.requirements}
    res.requirements.sort(key=lambda r: order.get(r.name, 0))


def argtag(args: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in sorted(args.items())) + ")" if args else ""
