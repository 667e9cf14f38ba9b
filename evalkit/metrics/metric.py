"""The work metrics share, and what every registered metric reads and returns.

A metric's ``compute(inputs, confidence, /, *, <args>)`` reads a ``MetricInputs`` and
returns a ``MetricValue`` (both defined in ``evalkit.metric_io``, re-exported here); its declaration (inputs, states, arguments, orientation,
interval method, minimum N) lives in ``evalkit._builtins``. Metrics that share work
reach it through ``shared`` (work on the reference alone, once per run) and
``gram_pass`` (the one Gram pass of a subject, for every k-NN metric and KID asked).
"""

from __future__ import annotations

from typing import Any, Callable

from .._builtins import DEFAULT_K
from .._errors import DataError
from ..metric_io import MetricInputs, MetricValue
from . import functional as Fn

__all__ = ["MetricInputs", "MetricValue", "shared", "need_samples", "gram_pass"]


def shared(inputs: MetricInputs, key: tuple, fn: Callable[[], Any]) -> Any:
    """Work on the reference alone, computed once per run when the runner shares a dict."""
    if inputs.shared is None:
        return inputs.cached(key, fn)
    if key not in inputs.shared:
        inputs.shared[key] = fn()
    return inputs.shared[key]


def need_samples(metric: str, n: int, minimum: int, why: str) -> None:
    """Too few generated samples for a metric's interval: one clear error, never a NaN bound."""
    if n < minimum:
        raise DataError(f"metric {metric!r} needs at least {minimum} generated samples ({why}), got N={n}; "
                        f"raise `sampling.n` to {minimum} or more")


def gram_pass(inputs: MetricInputs, name: str, args: dict) -> Fn.Pairwise:
    """The shared Gram pass for this subject, covering every k-NN metric and KID it is asked for."""
    real = inputs.need_real(name)
    real_ks: set[int] = set()
    fake_ks: set[int] = set()
    kid: Fn.KIDConfig | None = None
    for n, a in [(name, args), *inputs.requests]:
        if n in ("precision", "density", "coverage"):
            real_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "recall":
            fake_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "kid" and kid is None:
            kid = Fn.KIDConfig(int(a.get("subsets", 100)), int(a.get("subset_size", 1000)), inputs.seed)
    for label, x, ks in (("reference", real, real_ks), (f"subject {inputs.subject!r}", inputs.fake, fake_ks)):
        if ks and len(x) <= max(ks):
            raise DataError(f"{label}: k-NN metrics need more than k={max(ks)} samples, got {len(x)}")
    if name == "kid" and kid != Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed):
        # a second KID request with other subsets: its own, KID-only pass
        cfg = Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed)
        return inputs.cached(("pairwise", cfg), lambda: Fn.pairwise(real, inputs.fake, kid=cfg))
    key = ("pairwise", frozenset(real_ks), frozenset(fake_ks), kid)

    def run() -> Fn.Pairwise:
        # the reference's own pass depends only on the reference, the ks and the KID draws
        rkey = ("real-pass", id(real), frozenset(real_ks), kid, len(inputs.fake) if kid else None)
        real_pass = shared(inputs, rkey, lambda: Fn.real_self_pass(real, inputs.fake, real_ks=real_ks, kid=kid))
        return Fn.pairwise(real, inputs.fake, real_ks=real_ks, fake_ks=fake_ks, kid=kid, real_pass=real_pass)

    return inputs.cached(key, run)
