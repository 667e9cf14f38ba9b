"""contract.py: the facts of the extension contract, each against a value worked out here."""

from __future__ import annotations

import math
from typing import Annotated, Any

import annotated_types
import pytest

from evalkit import contract as C
from evalkit._errors import EXIT_BROKEN, RunError


def test_every_input_names_who_provides_it():
    # a plugin author reads these words in `evalkit list`: none may be missing or empty
    assert {i.value for i in C.Input} == {"images", "features", "classifier", "labels", "training", "real", "history"}
    assert all(i.provider for i in C.Input)
    assert str(C.Input.REFERENCE) == "real" and "reference:" in C.Input.REFERENCE.provider
    assert C.Input("labels") is C.Input.LABELS  # a str enum: declared by name in YAML-ish code too


def test_a_measured_input_is_a_value_naming_its_measurement():
    assert C.measured("ink") == C.Measured("ink") and hash(C.measured("ink")) == hash(C.Measured("ink"))
    assert str(C.measured("ink")) == "measurement 'ink'"
    assert str(C.Merge.CAT) == "cat" and str(C.Merge.SUM) == "sum"


@pytest.mark.parametrize("confidence,minimum", [
    (0.95, 20),  # 1 / 0.05
    (0.99, 100),  # 1 / 0.01
    (0.9, 10),  # 1 / 0.1 is 10.000000000000002 in floats: still 10
    (0.8, 5),
    (0.5, 2),  # never below 2 resamples
    (0.1, 2),
    (0.975, 40),
])
def test_bootstrap_minimum_is_one_over_one_minus_c(confidence, minimum):
    assert C.bootstrap_minimum(confidence) == minimum
    # the definition: B (1 - c) >= 1 with B the fewest such, floored at 2
    assert minimum == max(2, min(b for b in range(1, 10_000) if b * (1 - confidence) >= 1 - 1e-9))


def test_arg_converts_to_its_type_and_states_its_bounds():
    k = C.Arg("k", int, 3, ge=1)
    assert k.validate("5", "metric 'x'") == 5 and isinstance(k.validate(5.0, "m"), int)
    assert not k.required and C.Arg("x").required
    assert k.describe() == "k: int = 3 (>= 1)"
    assert C.Arg("t", float, C.REQUIRED, gt=0, lt=1).describe() == "t: float (> 0 and < 1)"
    with pytest.raises(ValueError, match=r"metric 'x' argument 'k' must be >= 1, got 0"):
        k.validate(0, "metric 'x'")
    with pytest.raises(ValueError, match=r"metric 'x' argument 'k' must be int, got 'many'"):
        k.validate("many", "metric 'x'")


def test_a_nan_never_passes_a_bound():
    # nan compares False with everything: a naive `not v >= b` check would let it through one way or the other
    with pytest.raises(ValueError, match="must be <= 1, got nan"):
        C.Arg("p", float, 0.5, le=1).validate(math.nan, "check 'c'")
    assert math.isnan(C.Arg("free", float, 0.5).validate(math.nan, "check 'c'"))  # no bound: nothing to refuse


def test_an_annotated_bound_reads_in_the_house_words():
    hint = Annotated[float, annotated_types.Interval(ge=0, le=1)]
    arg = C.Arg("share", hint, 0.5, ge=0, le=1)
    assert arg.type_name() == "float"
    with pytest.raises(ValueError, match=r"argument 'share' must be <= 1, got 2"):
        arg.validate(2, "check 'c'")


def test_validate_args_fills_defaults_and_lists_every_mistake():
    declared = (C.Arg("k", int, 3, ge=1), C.Arg("mode", str), C.Arg("scale", float, 1.0))
    out, problems = C.validate_args("metric 'm'", declared, {"scael": 2.0, "k": 0})
    assert out == {"scale": 1.0}  # k was wrong, mode missing: only the default is filled in
    texts = [p.message for p in problems]
    assert texts == [
        "metric 'm' has no argument 'scael'; did you mean 'scale'? (arguments: k, mode, scale)",
        "metric 'm' argument 'k' must be >= 1, got 0",
        "metric 'm' needs argument 'mode' (mode: str)",
    ]
    assert [p.key for p in problems] == ["scael", "k", None]
    ok, none = C.validate_args("metric 'm'", declared, {"mode": "a"})
    assert ok == {"mode": "a", "k": 3, "scale": 1.0} and none == []


def test_a_generator_says_parameter():
    _, [p] = C.validate_args("the generator", (C.Arg("steps", int, 10),), {"step": 3}, "parameter")
    assert p.message == "the generator: unknown parameter 'step'; did you mean 'steps'? (parameters: steps)"


def _metric(x, *, k: Annotated[int, annotated_types.Ge(1)] = 3, name: str = "a", flag=False):
    return x


def _generator(steps: int = 10, *, guidance: float = 1.0, device=None, **rest: Any):
    return steps


def test_args_from_signature_reads_kinds_defaults_and_annotated_bounds():
    k, name, flag = C.args_from_signature(_metric)  # keyword-only: x is the data, not an argument
    assert (k.name, k.default, k.ge, k.type_name()) == ("k", 3, 1, "int")
    assert (name.name, name.type, name.default) == ("name", str, "a")
    assert (flag.type, flag.default) == (Any, False)
    gen = C.args_from_signature(_generator, keyword_only=False, skip=("device",))
    assert [a.name for a in gen] == ["steps", "guidance"]
    assert C.args_from_signature(len) == ()  # positional-only: no arguments a spec could name
    assert C.takes_any_keyword(_generator) and not C.takes_any_keyword(_metric)


def test_default_states_are_one_cat_state_per_per_sample_input():
    states = C.default_states((C.Input.FEATURES, C.Input.REFERENCE, C.measured("ink"), C.Input.LABELS,
                               C.Input.HISTORY))
    # the reference and the history are run-wide: no per-sample state
    assert states == (C.State("features", C.Input.FEATURES, C.Merge.CAT),
                      C.State("ink", C.Measured("ink"), C.Merge.CAT),
                      C.State("asked", C.Input.LABELS, C.Merge.CAT))


def test_a_generator_declaration_computes_classes_from_params():
    fixed = C.GeneratorDecl(num_classes=10)
    computed = C.GeneratorDecl(num_classes=lambda p: p.get("classes"))
    assert fixed.classes({}) == 10 and computed.classes({"classes": 3}) == 3 and C.GeneratorDecl().classes({}) is None
    assert fixed.describe() == ["classes: 10; output range: [0, 1]"]
    assert C.GeneratorDecl(output_range=None, weights=("w.safetensors",), image_shape=(1, 28, 28)).describe() == [
        "classes: unconditional; output range: any (the spec must check it); images: 1x28x28",
        "weights: w.safetensors"]


def test_declarations_describe_their_facts_for_listings():
    metric = C.MetricDecl(inputs=(C.Input.FEATURES,), optional=(C.Input.LABELS,), args=(C.Arg("k", int, 3),),
                          higher_is_better=False, interval=C.Interval("jackknife", "leave-one-out"), min_n=5,
                          states=(C.State("features", C.Input.FEATURES, C.Merge.CAT),))
    assert metric.describe() == [
        "reads: features, labels (optional)",
        "args: k: int = 3",
        "lower is better; interval: jackknife (leave-one-out); min N: 5",
        "state: features: cat",
    ]
    assert C.DatasetDecl(splits={"test": 10000}, num_classes=10).describe() == ["splits: test (10000); classes: 10"]
    assert C.FormatDecl(file="report.md", partial_file="report.partial.md", needs=(C.Beside.SAMPLES,)).describe() == [
        "file: report.md (report.partial.md for an interrupted run)", "reads beside the report: samples"]
    assert C.FormatDecl(file="x.xml").describe() == ["file: x.xml (not written for an interrupted run)"]
    assert C.CheckDecl().contract == C.CONTRACT_VERSION == 1


def test_contract_errors_break_the_subject_not_the_spec():
    # both are a component's failure at run time: exit 3, never the spec's exit 2
    for cls in (C.UndeclaredInput, C.TooFewSamples):
        assert issubclass(cls, RunError) and cls("x").exit_code == EXIT_BROKEN == 3
