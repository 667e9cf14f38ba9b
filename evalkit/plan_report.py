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
    for rp in plan.rate_requirements:
        _plan_rate(plan, rp, classes, sequential, args.power)
    if plan.metric_requirements:
        _plan_metrics(plan, s.size, args.power)
    return 0


def _plan_rate(plan, rp, classes: int | None, sequential: bool, power: float) -> None:
    """The samples a rate requirement needs for ``power``, for true rates around its target."""
    from .judge.power import rule_power, samples_for_power

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
    print(f"  {'true rate':>10}  {'samples needed':>15}  verdict")
    for p in (round(target + off, 4) for off in (-0.1, -0.05, -0.02, -0.01, 0.01, 0.02, 0.05, 0.1)):
        if not 0 <= p <= 1 or p == target:
            continue

        def power_at(m: int, p=p) -> float:
            return rule_power(p, m, target=target, confidence=rp.confidence, per_class=rp.req.per_class,
                              sequential=sequential, batch_size=min(s.batch_size, m), labels_at=labels_at)

        need = samples_for_power(power_at, power, limit=200_000 if rp.req.per_class else 1_000_000)
        flag = "  <= n" if need is not None and need <= n else ""
        print(f"  {p:>10.4g}  {'never' if need is None else str(need):>15}  {'PASS' if p > target else 'FAIL'}{flag}")


def _plan_metrics(plan, n: int, power: float) -> None:
    """Each metric bound tried on real data: the reference against a held-out half of itself."""
    import torch

    from .registry import Input
    from .runner.references import References, open_reference

    real = None
    if plan.spec.reference is not None:
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
    from .metrics.suite import MetricInputs

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
    from .sample.sources import asked_labels

    def at(m: int):
        if isinstance(sampling.labels, dict):
            return asked_labels(sampling, classes).numpy()
        return asked_labels(sampling.model_copy(update={"n": m, "batch_size": min(sampling.batch_size, m)}), classes).numpy()

    return at
