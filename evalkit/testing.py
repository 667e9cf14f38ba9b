"""Contract checks a plugin's own test calls: does a component keep what it declares?

``check_metric(name, rows)`` and ``check_per_sample(name, images)`` run a registered
metric, check or measurement the way a run would, and raise ``ContractViolation``
(an ``AssertionError``, so pytest shows it as a failed test) naming the component
and the broken promise. They check, for a metric:

* its declared defaults fill in and an unknown argument is refused;
* it computes from its declared inputs alone (reading anything else raises
  ``UndeclaredInput``) and gives a finite value with ``low <= high``;
* the value never depends on the order its states were merged in: the rows are
  cut into shards at random, each shard folded into the runner's own state for
  its merge rule (cat or sum), the shards merged in a shuffled order, and the
  result must be identical to the whole (to float64 rounding, 1e-12 relative,
  where a sum state adds its parts in another order);
* an N below its declared ``min_n`` is refused with ``TooFewSamples``;
* the baseline comparison reads its declared orientation: a clearly worse run is
  flagged as regressed and a clearly better one is not.

For a check or measurement: one value per sample (bool for a check), the same
values whether the samples come in one batch or in two, and no undeclared read.

The same properties are checked for every built-in by ``tests/test_conformance.py``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch

from . import registry
from .contract import Input, Measured, Merge, TooFewSamples
from .metrics.metric import MetricInputs, MetricValue
from .metrics.states import merge_states, new_row_state

# the MetricInputs field each per-sample input arrives in
_FIELD_OF = {Input.FEATURES: "fake", Input.CLASSIFIER: "predicted", Input.LABELS: "asked",
             Input.TRAINING: "nn_ratio", Input.IMAGES: "images"}


class ContractViolation(AssertionError):
    """A component does not keep a promise its declaration makes."""


def _fail(entry: Any, promise: str) -> ContractViolation:
    return ContractViolation(f"{entry.kind} {entry.name!r} (from {entry.decl.module or '?'}): {promise}")


# ---------------------------------------------------------------- metrics


def metric_inputs(entry: Any, rows: dict[str, torch.Tensor], *, real: torch.Tensor | None = None,
                  num_classes: int | None = None, args: dict | None = None, seed: int = 0,
                  real_images: Any = None, train_images: Any = None) -> MetricInputs:
    """What a run hands the metric: each declared state's rows in the field its input arrives in.
    ``real_images`` / ``train_images``: callables giving (uint8 images, labels), for metrics that train on images."""
    inputs = MetricInputs(entry.name, real if Input.REFERENCE in entry.readable else None, torch.empty(0, 1), seed=seed)
    inputs.real_images = real_images if Input.REFERENCE in entry.readable else None
    inputs.train_images = train_images if Input.TRAINING in entry.readable else None
    for state in entry.decl.states:
        if state.name not in rows:
            continue  # an optional input the test does not provide
        v = rows[state.name]
        # as the runner hands it over: (rows, sample indices) for a cat state, (sum, count) for a sum state
        inputs.states[state.name] = (v.double().sum(0), torch.tensor(len(v))) if state.merge is Merge.SUM \
            else (v, torch.arange(len(v)))
        if state.merge is Merge.SUM:
            continue
        if isinstance(state.source, Measured):
            inputs.measured[state.source.name] = v
        else:
            setattr(inputs, _FIELD_OF[state.source], v)
    if Input.CLASSIFIER in entry.readable:
        inputs.num_classes = num_classes
    if Input.IMAGES in entry.readable and inputs.asked is not None:
        inputs.image_labels = inputs.asked
    inputs.requests = [(entry.name, dict(args or {}))]
    return inputs


def _sample_count(entry: Any, rows: dict[str, torch.Tensor]) -> int:
    missing = [s.name for s in entry.decl.states if s.name not in rows and s.source in entry.inputs]
    if missing:
        raise ValueError(f"rows for metric {entry.name!r} lack its declared state(s) {missing}; "
                         f"give one tensor per state: {[s.name for s in entry.decl.states]}")
    sizes = {len(v) for v in rows.values()}
    if len(sizes) != 1:
        raise ValueError(f"rows for metric {entry.name!r} hold different numbers of samples: {sorted(sizes)}")
    return sizes.pop()


def _merged(rows: dict[str, torch.Tensor], entry: Any, rnd: random.Random, n: int) -> tuple[dict, dict]:
    """The rows cut into random shards, each folded into the run's own state for its merge rule (``metrics.states``),
    merged in a shuffled order: (cat rows, sorted by sample index; (sum, count) of each sum state)."""
    cuts = sorted(rnd.sample(range(1, n), k=min(n - 1, rnd.randint(1, 6))))
    edges = [0, *cuts, n]
    shards = list(zip(edges, edges[1:]))
    rnd.shuffle(shards)
    merge_of = {s.name: s.merge for s in entry.decl.states}
    cat, sums = {}, {}
    for key, v in rows.items():
        merge = merge_of.get(key, Merge.CAT)
        total = new_row_state(merge)
        for a, b in shards:
            part = new_row_state(merge)
            part.update(v[a:b], torch.arange(a, b))
            total = merge_states(total, part)
        if merge is Merge.SUM:
            sums[key] = total.value()
        else:
            cat[key] = total.value()[0]
    return {**rows, **cat}, sums


def _same(got: MetricValue, whole: MetricValue, summed: bool) -> bool:
    """Bit for bit; with a sum state, to float64 rounding (a sum taken in another order differs in the last bits)."""
    pairs = ((got.value, whole.value), (got.low, whole.low), (got.high, whole.high))
    if not summed:
        return all(a == b for a, b in pairs)
    return all(a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) for a, b in pairs)


def check_metric(name: str, rows: dict[str, torch.Tensor], *, args: dict | None = None,
                 real: torch.Tensor | None = None, num_classes: int | None = None,
                 confidence: float = 0.95, trials: int = 5, seed: int = 0,
                 real_images: Any = None, train_images: Any = None) -> MetricValue:
    """Check every declared promise of metric ``name`` on ``rows`` (one tensor per declared state,
    keyed by state name: a ``measured("x")`` input's state is called ``x``); return its value on all rows.
    ``real`` gives reference features, ``num_classes`` the classifier's classes, and ``real_images`` /
    ``train_images`` what metrics that train on images load (see ``metric_inputs``)."""
    entry = registry.metrics.get(name)
    n = _sample_count(entry, rows)
    filled, problems = entry.validate_args(dict(args or {}))
    if problems:
        raise _fail(entry, f"its arguments {args or {}} are refused: {'; '.join(map(str, problems))}")
    _, problems = entry.validate_args({**filled, "no_such_argument_": 1})
    if [p.key for p in problems] != ["no_such_argument_"]:
        raise _fail(entry, "an unknown argument 'no_such_argument_' was not refused")

    def compute(r: dict[str, torch.Tensor], size: int, sums: dict | None = None) -> MetricValue:
        inputs = metric_inputs(entry, r, real=real, num_classes=num_classes, args=filled, seed=seed,
                               real_images=real_images, train_images=train_images)
        inputs.states.update(sums or {})  # the sum states as the shards' merge left them
        return entry.compute(inputs, confidence, filled, n=size, requirement="conformance")

    whole = compute(rows, n)
    if not (math.isfinite(whole.value) and whole.low <= whole.high):
        raise _fail(entry, f"gave value {whole.value} with bounds [{whole.low}, {whole.high}] on {n} samples")
    rnd = random.Random(seed)
    for _ in range(trials if n > 1 else 0):
        merged, sums = _merged(rows, entry, rnd, n)
        got = compute(merged, n, sums)
        if not _same(got, whole, bool(sums)):
            raise _fail(entry, f"merge order changed the result: {got.value} [{got.low}, {got.high}] against "
                               f"{whole.value} [{whole.low}, {whole.high}] from the rows in order")
    _check_min_n(entry)
    _check_orientation(entry, whole)
    return whole


def _check_min_n(entry: Any) -> None:
    below = entry.decl.min_n - 1
    try:
        entry.compute(None, 0.95, {}, n=below, requirement="conformance")
    except TooFewSamples as exc:
        if f"N = {below}" not in str(exc):
            raise _fail(entry, f"refused N = {below} without naming it: {exc}") from None
        return
    raise _fail(entry, f"computed at N = {below}, below its declared min_n = {entry.decl.min_n}")


def _check_orientation(entry: Any, mv: MetricValue) -> None:
    """A run whose value moved far in the declared wrong direction regresses; the other way does not."""
    from .compare.baseline import compare
    from .records.model import Environment, MetricResult, Report, SubjectResult

    width = max(mv.high - mv.low, abs(mv.value), 1.0)

    def report(value: float) -> Report:
        res = MetricResult(name=entry.name, metric=entry.name, value=value, lower=value - width / 10,
                           upper=value + width / 10, confidence=0.95, method=mv.method, n=mv.n)
        env = Environment(python="", platform="", torch="", evalkit="", device="cpu")
        return Report(name="conformance", spec={}, spec_sha256="", started="", seed=0, environment=env,
                      subjects=[SubjectResult(name="s", metrics=[res])])

    sign = 1.0 if entry.decl.higher_is_better else -1.0
    worse, better = mv.value - sign * 10 * width, mv.value + sign * 10 * width
    orient = "higher" if entry.decl.higher_is_better else "lower"
    if compare(report(worse), report(mv.value), {}, "base").subjects[0].regressions != [entry.name]:
        raise _fail(entry, f"the baseline did not flag a clearly worse value ({worse:g} against {mv.value:g}; {orient} is better)")
    if compare(report(better), report(mv.value), {}, "base").subjects[0].regressions:
        raise _fail(entry, f"the baseline flagged a clearly better value ({better:g} against {mv.value:g}; {orient} is better)")


# ---------------------------------------------------------------- checks and measurements


def check_per_sample(name: str, images: torch.Tensor, *, labels: torch.Tensor | None = None,
                     args: dict | None = None) -> torch.Tensor:
    """Check a check or measurement that reads the images (and labels): one value per sample, the
    same in one batch or two, nothing undeclared read. Returns its values on ``images``."""
    from .observation import Observation

    entry = registry.checks.get(name) if name in registry.checks else registry.measurements.get(name)
    provided = {Input.IMAGES} | ({Input.LABELS} if labels is not None else set())
    lacking = [i for i in entry.inputs if i not in provided]
    if lacking:
        raise ValueError(f"{entry.kind} {name!r} reads {', '.join(map(str, lacking))}; check_per_sample provides "
                         "images (and labels) only: test it through a spec run instead")
    filled, problems = entry.validate_args(dict(args or {}))
    if problems:
        raise _fail(entry, f"its arguments {args or {}} are refused: {'; '.join(map(str, problems))}")

    def run(lo: int, hi: int) -> torch.Tensor:
        x = images[lo:hi]
        obs = Observation(x, x.clone(), None if labels is None else labels[lo:hi], torch.arange(lo, hi))
        return entry.call(obs, filled)

    n = len(images)
    whole = run(0, n)
    if tuple(whole.shape) != (n,):
        raise _fail(entry, f"gave shape {tuple(whole.shape)} for {n} samples; one value per sample is ({n},)")
    if entry.kind == "check" and whole.dtype != torch.bool:
        raise _fail(entry, f"gave {whole.dtype}; a check gives one bool per sample")
    if entry.kind == "measurement" and not whole.is_floating_point():
        raise _fail(entry, f"gave {whole.dtype}; a measurement gives one float per sample")
    halves = torch.cat([run(0, n // 2), run(n // 2, n)])
    if not torch.equal(halves.cpu(), whole.cpu()):
        raise _fail(entry, "gave other values when the samples came in two batches: a value must depend on its sample alone")
    return whole


__all__ = ["ContractViolation", "check_metric", "check_per_sample", "metric_inputs"]
