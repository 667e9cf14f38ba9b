"""The where: grammar: semantics by hand, hostile input never crashes or runs code."""


import pytest
import torch
from hypothesis import given, settings, strategies as st

from evalkit.spec.expr import ExprError, parse_expression

NAMES = {"ink", "mean", "label", "predicted", "confidence"}


def parse(text):
    return parse_expression(text, known=lambda n: n in NAMES, suggest=lambda n: None)


ENV = {
    "ink": torch.tensor([0.01, 0.1, 0.5, 0.9]),
    "mean": torch.tensor([0.0, 0.2, 0.4, 0.0]),
    "label": torch.tensor([1, 2, 3, 4]),
    "predicted": torch.tensor([1, 0, 3, 4]),
    "confidence": torch.tensor([0.9, 0.5, 0.2, 0.99]),
}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0.05 < ink < 0.7", [False, True, True, False]),
        ("ink > 0.05 and ink < 0.7", [False, True, True, False]),
        ("not (ink > 0.05)", [True, False, False, False]),
        ("label == predicted", [True, False, True, True]),
        ("label in [1, 4]", [True, False, False, True]),
        ("label not in [1, 4]", [False, True, True, False]),
        ("abs(ink - 0.5) <= 0.4 or confidence >= 0.99", [False, True, True, True]),
        ("min(ink, mean) * 2 + 1 > 1.1", [False, True, True, False]),
        ("max(ink, mean, 0.3) == 0.3", [True, True, False, False]),
        ("-ink < -0.4", [False, False, True, True]),
        ("label % 2 == 0", [False, True, False, True]),
        ("true", [True, True, True, True]),
    ],
)
def test_semantics_by_hand(text, expected):
    ok, undefined = parse(text).evaluate(ENV)
    assert ok.expand(4).tolist() == expected
    assert not bool(undefined.any())


def test_division_by_zero_is_undefined_and_fails():
    ok, undefined = parse("ink / mean > 0").evaluate(ENV)
    assert undefined.tolist() == [True, False, False, True]
    assert ok.tolist() == [False, True, True, False]


@pytest.mark.parametrize(
    "text,col,fragment",
    [
        ("ink >", 6, "expected a number"),
        ("inq > 0", 1, "unknown measurement 'inq'"),
        ("ink > 0 an mean < 1", 9, "unexpected 'an'"),
        ("sqrt(ink) > 0", 1, "unknown function 'sqrt'"),
        ("ink > 0 ; import os", 9, "unexpected character ';'"),
        ("__import__('os')", 12, "unexpected character"),
        ("(ink > 0", 9, "expected ')'"),
        ("abs(ink, mean) > 0", 1, "abs() takes 1 argument(s), got 2"),
        ("", 1, "empty expression"),
    ],
)
def test_errors_name_the_column(text, col, fragment):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.column == col, str(info.value)
    assert fragment in str(info.value)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ExprError):
        parse("(" * 5000 + "ink" + ")" * 5000)
    with pytest.raises(ExprError):
        parse("not " * 5000 + "ink")
    with pytest.raises(ExprError):
        parse("-" * 5000 + "ink")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_any_text_parses_or_raises_expr_error(text):
    try:
        expr = parse(text)
    except ExprError:
        return
    ok, undefined = expr.evaluate(ENV)
    assert ok.dtype == torch.bool


tokens = st.sampled_from(list(NAMES) + ["and", "or", "not", "in", "(", ")", "[", "]", ",", "<", "<=", "==", "!=",
                                         "+", "-", "*", "/", "%", "abs", "min", "max", "0", "1.5", "1e308", "true"])


@settings(max_examples=500, deadline=None)
@given(st.lists(tokens, max_size=25))
def test_fuzz_token_soup(parts):
    text = " ".join(parts)
    try:
        expr = parse(text)
    except ExprError:
        return
    ok, undefined = expr.evaluate(ENV)
    assert ok.shape in (torch.Size([]), torch.Size([4]))


# The documented limit (docs/spec-validation.md, README): 100 levels of brackets, 100 operators on a path.
DEPTH_CASES = [  # (expression of k levels, levels at which it stops parsing)
    ("brackets", lambda k: "(" * k + "ink > 0" + ")" * k),
    ("calls", lambda k: "abs(" * (k - 1) + "ink" + ")" * (k - 1) + " >= 0"),  # k - 1 calls + the comparison
    ("not", lambda k: "not " * (k - 1) + "ink > 0"),
    ("signs", lambda k: "-" * (k - 1) + "ink < 1"),
    ("chain", lambda k: "ink" + " + 1" * (k - 1) + " > 0"),
]


@pytest.mark.parametrize("kind,make", DEPTH_CASES, ids=[c[0] for c in DEPTH_CASES])
def test_depth_limit_is_the_documented_100(kind, make):
    expr = parse(make(100))  # at the limit: parses and evaluates (no RecursionError anywhere)
    ok, undefined = expr.evaluate({"ink": torch.tensor([0.5, 0.0])})
    assert ok.dtype == torch.bool and not undefined.any()
    with pytest.raises(ExprError, match="more than 100 levels"):
        parse(make(101))
