"""Hostile cases: baselines (and any report read back) are untrusted input.

Issue 12: a baseline with ``passed > n`` or ``n = -2`` crashed after sampling with no
report; one that is a list, has a missing or an extra field, or is 200k levels deep gave
a traceback. Now each is refused before the first sample (exit 2) with the file and the
field named, and a report of the same schema version carrying fields a newer evalkit
added is read, its unknown fields ignored.
"""

from __future__ import annotations

import copy
import json

import pytest

from evalkit.records.reading import read_report
from evalkit.records.reading import ReportFileError

from .conftest import TINY_SPEC


@pytest.fixture(scope="module")
def good_report(tmp_path_factory) -> dict:
    """A real report of the tiny spec, as JSON (made once for the module)."""
    import evalkit

    d = tmp_path_factory.mktemp("base")
    (d / "spec.yaml").write_text(TINY_SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE", str(d / "cache"))
        evalkit.run(d / "spec.yaml", out=d / "out")
    return json.loads((d / "out" / "report.json").read_text())


def _write(tmp_path, data, name="report.json"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def _refused(tmp_path, data, *needles):
    p = _write(tmp_path, data)
    with pytest.raises(ReportFileError) as err:
        read_report(p)
    text = str(err.value)
    assert str(p) in text
    for n in needles:
        assert n in text, (n, text)
    return text


def test_good_report_reads_back(good_report, tmp_path):
    rep = read_report(_write(tmp_path, good_report))
    assert rep.subjects[0].requirements[0].passed == good_report["subjects"][0]["requirements"][0]["passed"]


def test_passed_above_n(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    r = bad["subjects"][0]["requirements"][0]
    r["passed"] = r["n"] + 5
    _refused(tmp_path, bad, "subjects[0].requirements[0].passed", f"{r['passed']} passed of n = {r['n']}")


def test_negative_n(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    bad["subjects"][0]["requirements"][0]["n"] = -2
    _refused(tmp_path, bad, "subjects[0].requirements[0].n: -2 is negative")


def test_rate_outside_unit_interval(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    bad["subjects"][0]["requirements"][0]["lower"] = 1.5
    _refused(tmp_path, bad, "requirements[0].lower: 1.5 is a rate")


def test_a_list_instead_of_an_object(tmp_path):
    _refused(tmp_path, [1, 2, 3], "a report is a JSON object", "array")


@pytest.mark.parametrize("text", ["", "{", "null", '"report"', "\x00\x01binary"])
def test_not_a_report_at_all(tmp_path, text):
    _refused(tmp_path, text)


def test_binary_bytes(tmp_path):
    p = tmp_path / "report.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ReportFileError, match="not UTF-8"):
        read_report(p)


def test_missing_field_is_named(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    del bad["subjects"][0]["requirements"][0]["verdict"]
    _refused(tmp_path, bad, "subjects[0].requirements[0].verdict", "field required")


def test_mistyped_field_is_named(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    bad["subjects"][0]["n"] = "many"
    _refused(tmp_path, bad, "subjects[0].n", "'many'")


def test_subjects_an_object_instead_of_a_list(good_report, tmp_path):
    bad = copy.deepcopy(good_report)
    bad["subjects"] = {"a": 1}
    _refused(tmp_path, bad, "subjects")


def test_fields_of_a_newer_evalkit_are_ignored(good_report, tmp_path, caplog):
    newer = copy.deepcopy(good_report)
    newer["provenance"] = {"signed": True}
    newer["subjects"][0]["energy_joules"] = 12.5
    newer["subjects"][0]["requirements"][0]["effect_size"] = 0.1
    rep = read_report(_write(tmp_path, newer))
    assert rep.subjects[0].n == good_report["subjects"][0]["n"]
    assert "energy_joules" in caplog.text and "requirements[0].effect_size" in caplog.text


def test_other_major_schema_version_is_refused(good_report, tmp_path):
    bad = dict(good_report, schema_version=2)
    _refused(tmp_path, bad, "schema_version: 2")


def test_schema_version_of_the_wrong_type(good_report, tmp_path):
    _refused(tmp_path, dict(good_report, schema_version=[1]), "schema_version: [1]", "reads major version 1 only")


def test_nan_is_refused(good_report, tmp_path):
    text = json.dumps(good_report).replace('"seed": 1', '"seed": 1, "x": NaN', 1)
    _refused(tmp_path, text, "NaN")


def test_200k_levels_deep(tmp_path):
    _refused(tmp_path, "[" * 200_000 + "]" * 200_000, "nested", "levels deep")


def test_deep_inside_a_valid_report(good_report, tmp_path):
    text = json.dumps(dict(good_report, spec={"a": "__DEEP__"})).replace('"__DEEP__"', "[" * 5000 + "]" * 5000)
    _refused(tmp_path, text, "levels deep")


def test_brackets_inside_strings_do_not_count(good_report, tmp_path):
    ok = copy.deepcopy(good_report)
    ok["name"] = "[" * 500 + '\\"{' * 100
    assert read_report(_write(tmp_path, ok)).name == ok["name"]


# ---------------------------------------------------------------- through the CLI: before the first sample


@pytest.mark.parametrize("case", ["passed>n", "n=-2", "list", "deep", "missing"])
def test_cli_refuses_a_bad_baseline_before_sampling(hostile, good_report, case):
    bad = copy.deepcopy(good_report)
    req = bad["subjects"][0]["requirements"][0]
    if case == "passed>n":
        req["passed"] = req["n"] + 1
    elif case == "n=-2":
        req["n"] = -2
    elif case == "missing":
        del bad["subjects"][0]["name"]
    text = {"list": "[]", "deep": "[" * 200_000 + "]" * 200_000}.get(case) or json.dumps(bad)
    base = hostile.file("base/report.json", text)
    spec = hostile.spec()
    r = hostile.run("run", spec, "--out", "out", "--baseline", base, code=2, allow=())
    assert f"--baseline {base}" in r.err
    assert not (hostile.work / "out").exists()  # nothing sampled, nothing written


def test_cli_reads_a_newer_baseline(hostile, good_report):
    newer = copy.deepcopy(good_report)
    newer["subjects"][0]["requirements"][0]["effect_size"] = 0.3
    base = hostile.file("base/report.json", json.dumps(newer))
    r = hostile.run("run", hostile.spec(), "--out", "out", "--baseline", base, "--quiet", code=0)
    assert "effect_size" in r.err  # the warning names what was ignored
