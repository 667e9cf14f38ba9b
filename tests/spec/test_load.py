"""Spec loading: every bad input gives file:line:col, the field, the fix; never a traceback."""

import json

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from evalkit import SpecError, parse_spec
from evalkit.cli import main

from tests.conftest import BASIC


def problems_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    return info.value.problems


def test_basic_spec_parses():
    spec = parse_spec(BASIC, "s.yaml")
    assert spec.sampling.size == 200
    assert spec.subjects[0].display_name == "dataset(range=[5000, 6000])"
    assert spec.where("sampling", "n") == "s.yaml:9:15"


def test_malformed_yaml_names_line_and_column():
    (p,) = problems_of("version: 1\nname: [unclosed\n")
    assert p.startswith("s.yaml:3:1: not valid YAML")


def test_tab_indentation_is_explained():
    (p,) = problems_of("version: 1\nsampling:\n\tn: 3\n")
    assert "s.yaml:3:1" in p and "tab" in p


def test_empty_file():
    (p,) = problems_of("   \n")
    assert "empty" in p and "version: 1" in p


def test_yaml_bomb_is_refused():
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    prev = "a"
    for i in range(1, 9):
        bomb += f"l{i}: &l{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        prev = f"l{i}"
    (p,) = problems_of(bomb)
    assert "expands to more than" in p


def test_deep_nesting_is_refused():
    (p,) = problems_of("a: " + "[" * 100 + "]" * 100)
    assert "nesting deeper" in p


def test_python_tags_are_refused():
    (p,) = problems_of("version: 1\nname: !!python/object:os.system {}\n")
    assert "s.yaml:2:7" in p and "not allowed" in p


def test_unknown_key_suggests_the_nearest():
    text = BASIC.replace("sampling: {n: 200", "sampling: {nn: 200")
    ps = problems_of(text)
    assert any("sampling.nn: unknown key 'nn'; did you mean 'n'?" in p and p.startswith("s.yaml:9:") for p in ps)


@pytest.mark.parametrize("old,new,expected", [
    # a key inside a list of models (list[Requirement]) and inside an optional model (Regression | None)
    ("check: in_range, at_least: 0.9", "check: in_range, at_leest: 0.9",
     "requirements[0].at_leest: unknown key 'at_leest'; did you mean 'at_least'?"),
    ("sampling: {n: 200", "regression: {tolerence: {}}\nsampling: {n: 200",
     "regression.tolerence: unknown key 'tolerence'; did you mean 'tolerance'?"),
    ("  - model: dataset\n", "  - model: dataset\n    parms: {}\n",
     "subjects[0].parms: unknown key 'parms'; did you mean 'params'?"),
])
def test_unknown_nested_key_suggests_the_nearest_field_of_its_model(old, new, expected):
    text = BASIC.replace(old, new)
    assert text != BASIC
    assert any(expected in p for p in problems_of(text)), problems_of(text)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("check: in_range", "check: in_rnage", "unknown check 'in_rnage'; did you mean 'in_range'?"),
        ("model: dataset", "model: datset", "unknown generator 'datset'; did you mean 'dataset'?"),
        ("n: 200", "n: 0", "greater than 0"),
        ("n: 200", "n: -5", "greater than 0"),
        ("batch_size: 50", "batch_size: 500", "batch_size (500) is larger than n (200)"),
        ("at_least: 0.9}", "at_least: 1.5}", "must lie in [0, 1], got 1.5"),
        ("version: 1", "version: 2", "reads spec version 1, got 2"),
    ],
)
def test_named_mistakes(old, new, expected):
    ps = problems_of(BASIC.replace(old, new, 1))
    assert any(expected in p for p in ps), ps
    assert all(p.startswith("s.yaml:") for p in ps)


def test_misspelled_metric_and_confidence_out_of_range_all_at_once():
    text = BASIC + "  - {metric: fdi, at_most: 3}\n  - {check: finite, at_least: 1, confidence: 1.5}\n"
    ps = problems_of(text)
    assert any("unknown metric 'fdi'; did you mean 'fid'?" in p for p in ps)
    assert any("requirements[3].confidence" in p and "less than 1" in p and "s.yaml:14:" in p for p in ps)


def test_where_syntax_error_names_the_column():
    ps = problems_of(BASIC.replace('"0.02 < ink < 0.8"', '"0.02 < inq < 0.8"'))
    assert any("unknown measurement 'inq'; did you mean 'ink'? (column 8)" in p for p in ps)


def test_check_arguments_are_typed():
    ps = problems_of(BASIC.replace("check: in_range,", "check: in_range, args: {low: zero},"))
    assert any("argument 'low' must be float, got 'zero'" in p for p in ps)
    ps = problems_of(BASIC.replace("check: in_range,", "check: in_range, args: {lo: 0},"))
    assert any("has no argument 'lo'; did you mean 'low'?" in p for p in ps)


def test_cli_validate_exit_codes(write_spec, capsys):
    good = write_spec(BASIC, "good.yaml")
    bad = write_spec(BASIC.replace("check: in_range", "check: label_agrement"), "bad.yaml")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:11:" in err and "did you mean" in err and "Traceback" not in err


def test_schema_is_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Spec" and "subjects" in schema["properties"]


# ---- property: any valid spec round-trips through YAML

names = st.text(alphabet="abcdefghij-_ ", min_size=1, max_size=12).filter(lambda s: s.strip())


@st.composite
def specs(draw):
    n = draw(st.integers(1, 5000))
    req = draw(st.lists(st.sampled_from([
        {"check": "in_range", "at_least": 0.5},
        {"where": "ink > 0.1 and mean < 0.9", "at_least": 0.25},
        {"check": "finite", "at_least": 1.0, "confidence": 0.99},
    ]), max_size=3, unique_by=lambda r: json.dumps(r, sort_keys=True)))
    return {
        "version": 1,
        "name": draw(names),
        "features": "pixels",
        "subjects": [{"model": "dataset", "params": {"split": "test"}}],
        "sampling": {"n": n, "batch_size": draw(st.integers(1, n)), "seed": draw(st.integers(0, 2**31))},
        "confidence": draw(st.floats(0.5, 0.999)),
        "requirements": req,
    }


@settings(max_examples=40, deadline=None)
@given(specs())
def test_any_valid_spec_round_trips(data):
    spec = parse_spec(yaml.safe_dump(data), "s.yaml")
    again = parse_spec(yaml.safe_dump(spec.model_dump(mode="json")), "t.yaml")
    assert again.model_dump() == spec.model_dump()
    assert again.digest() == spec.digest()
