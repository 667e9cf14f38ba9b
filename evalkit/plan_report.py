"""`evalkit plan`: the samples each requirement needs for the asked power, before sampling.

The maths lives in ``judge/power.py``; this module reads the spec, asks it, and prints.
"""

from __future__ import annotations


def _visible(text: str) -> str:
    from .report.escape import visible

    return visible(text, keep_newlines=True)


def cmd_plan(args) -> int:
    from .plan import make_plan
    from .spec.load import load_spec

    plan = make_plan(load_spec(args.spec))
    s = plan.spec.sampling
    sequential = bool(s.sequential and not plan.metric_requirements)
    print(_visible(f"{plan.spec.name}: sampling.n = {s.size} per subject; power {args.power:g}"
                   + ("; sequential looks every batch" if sequential else "")))
    # the models' declared class counts; the asked labels come from the spec (a pure function of the seed)
    classes = max([sp.num_classes or 0 for sp in plan.subjects] + [0]) or None
    cache = _fixed_needs_at_once(plan, sequential, args.power)
    for rp in plan.rate_requirements:
        _plan_rate(plan, rp, classes, sequential, args.power, cache)
    if plan.metric_requirements:
        _plan_metrics(plan, s.size, args.power)
    return 0


def _plan_rate(plan, rp, classes: int | None, sequential: bool, power: float, cache: dict | None = None) -> None:
    """The samples a rate requirement needs for ``power``, for true rates around its target.

    Requirements with the same (target, confidence, per_class) share one computation
    (``cache``): the sampling, the looks and the asked labels are the spec's, not theirs.
    """
    from .judge.power import samples_needed

    s, n, target = plan.spec.sampling, plan.spec.sampling.size, float(rp.req.at_least)
    labels_at = None
    rule = "sequential looks, error spending" if sequential else "one look at n"
    if rp.req.per_class:
        if not classes:
            print(f"\n{rp.name}: per class, but no subject has classes; nothing to plan")
            return
        labels_at = _labels_at(s, classes)
        rule += f", Holm over {max(plan.classes_asked(sp) for sp in plan.subjects)} classes (from the model)"
    print("\n" + _visible(f"{rp.name}: rate >= {target:g} at confidence {rp.confidence:g} ({rule})"))
    rates = _rates_around(target)
    key = (target, float(rp.confidence), bool(rp.req.per_class), sequential)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = samples_needed(rates, power, target=target, confidence=rp.confidence,
                                    per_class=bool(rp.req.per_class), sequential=sequential,
                                    batch_size=s.batch_size, labels_at=labels_at,
                                    limit=200_000 if rp.req.per_class else 1_000_000)
    for line in _need_lines(cache[key], target, n, exact_n=not (sequential or rp.req.per_class)):
        print(line)


OFFSETS = (-0.1, -0.05, -0.02, -0.01, 0.01, 0.02, 0.05, 0.1)


def _rates_around(target: float) -> list[float]:
    return [p for p in (round(target + off, 4) for off in OFFSETS) if 0 <= p <= 1 and p != target]


def _fixed_needs_at_once(plan, sequential: bool, power: float) -> dict:
    """Every one-look requirement's table in one vectorised search (keys as ``_plan_rate``'s cache)."""
    from .judge.power import fixed_needs

    if sequential:
        return {}
    keys = sorted({(float(rp.req.at_least), float(rp.confidence), False, False)
                   for rp in plan.rate_requirements if not rp.req.per_class})
    rows = [(p, key[0], key[1]) for key in keys for p in _rates_around(key[0])]
    needs = iter(fixed_needs(rows, power))
    return {key: [next(needs) for _ in _rates_around(key[0])] for key in keys}


def _need_lines(needs, target: float, n: int, exact_n: bool) -> list[str]:
    """The table of one requirement: samples needed, the power there (with its Monte-Carlo error
    when simulated), the verdict the power is of, and whether the spec's n suffices."""
    simulated = any(x.se > 0 for x in needs)
    lines = [f"  {'true rate':>10}  {'samples needed':>15}  {'power there':>16}  verdict"]
    for x in needs:
        if x.n is not None:
            need = str(x.n)
        elif x.beyond is not None:
            need = f"> {x.beyond}*"
        else:
            need = "never"
        there = "" if x.power is None else f"{x.power:.3f}" + (f" ± {2 * x.se:.3f}" if x.se else "")
        flag = "  <= n" if x.n is not None and x.n <= n else ""
        lines.append(f"  {x.rate:>10.4g}  {need:>15}  {there:>16}  {'PASS' if x.rate > target else 'FAIL'}{flag}")
    if not exact_n:
        from .judge.power import GRID_STEP

        lines.append(f"  (n searched in steps of at most {GRID_STEP:.0%}: the size shown reaches the power, "
                     "one up to that step smaller may too)")
    if simulated:
        lines.append("  (power simulated: ± is twice its Monte-Carlo standard error)")
    if any(x.beyond is not None for x in needs):
        lines.append("  (* past the simulation budget of sequential per-class looks: at least that many samples)")
    return lines


def _plan_metrics(plan, n: int, power: float) -> None:
    """Each metric bound tried on real data: the reference against a held-out half of itself."""
    import torch

    from .registry import Input
    from .runner.references import References, open_reference

    real = None
    if plan.spec.reference is not None and plan.spec.reference.statistics is None:  # imported moments: no real data
        data, _, _ = open_reference(plan.spec, plan.spec.reference, "reference")
        real = References(plan.spec, torch.device("cpu")).real_features(tuple(data.image_shape))
    for rp in plan.metric_requirements:
        bound = f"<= {rp.req.at_most:g}" if rp.req.at_most is not None else f">= {rp.req.at_least:g}"
        print("\n" + _visible(f"{rp.name}: {rp.req.metric} {bound} at confidence {rp.confidence:g}, judged at n = {n}"))
        if real is None or set(rp.metric.inputs) - {Input.FEATURES, Input.REFERENCE}:
            print("  (needs more than reference features; not tried on real data)")
            continue
        _plan_metric_on_real(rp, real, n, power)


def _plan_metric_on_real(rp, real, n: int, power: float) -> None:
    """The share of draws in which real data PASSes the bound, for growing N; a warning when out of reach."""
    from .judge.power import metric_reference_power, metric_sizes
    from .metrics.metric import MetricInputs

    draws = 4  # a few draws: a rough power, at a cost of 4 metric evaluations per N

    def interval(ref, fake):
        v = rp.metric.compute(MetricInputs("held-out reference", ref, fake), rp.confidence, rp.args,
                              n=len(fake), requirement=rp.name)
        return v.low, v.high

    print(f"  real data (half the reference against the other half), share PASSing of {draws} draws:")
    reached, at_n = None, None
    for m in metric_sizes(n, len(real) - len(real) // 2):
        try:
            share = metric_reference_power(interval, real, m, at_least=rp.req.at_least, at_most=rp.req.at_most,
                                           draws=draws)
        except Exception as exc:  # too small an N for the metric's method: say so, go on
            print(f"  {m:>8}  cannot be computed ({exc})")
            continue
        print(f"  {m:>8}  {share:.2f}" + ("  <- the spec's n" if m == n else ""))
        at_n = share if m == n else at_n
        reached = m if reached is None and share >= power else reached
        if reached is not None and m >= n:
            break  # larger N only costs time: the question is answered
    if reached is None:
        print(f"  WARNING: even real data does not PASS this bound with power {power:g} at any N tried; "
              "the threshold is out of reach (FID and the k-NN metrics move with N)")
    elif at_n is not None and at_n < power:
        print(f"  WARNING: at the spec's n = {n} even real data PASSes only {at_n:.2f} of the time; "
              f"real data reaches power {power:g} at N = {reached}")
    else:
        print(f"  real data PASSes with power {power:g} from N = {reached}")


def _labels_at(sampling, classes: int):
    from functools import lru_cache

    from .sample.sources import asked_labels

    @lru_cache(maxsize=None)  # the search asks the same sizes for every true rate
    def at(m: int):
        if isinstance(sampling.labels, dict):
            return asked_labels(sampling, classes).numpy()
        return asked_labels(sampling.model_copy(update={"n": m, "batch_size": min(sampling.batch_size, m)}), classes).numpy()

    return at
