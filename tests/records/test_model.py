"""The report schema is MAJOR.MINOR: a reader takes any MINOR of its MAJOR and refuses another MAJOR."""

import json

import pytest

from evalkit._errors import DataError
from evalkit.records.model import REPORT_SCHEMA_VERSION, schema_major
from evalkit.records.reading import read_report

MINIMAL = {
    "name": "x", "spec": {}, "spec_sha256": "0" * 64, "started": "2026-11-25T00:00:00+00:00", "seed": 0,
    "environment": {"python": "3.11", "platform": "linux", "torch": "2", "evalkit": "0.1.0", "device": "cpu"},
    "subjects": [{"name": "s", "n": 5, "requirements": [{"name": "r", "kind": "rate", "verdict": "PASS", "confidence": 0.95}]}],
}


def write(tmp_path, **fields):
    p = tmp_path / "report.json"
    p.write_text(json.dumps({**MINIMAL, **fields}))
    return p


def test_version_is_major_minor():
    major, minor = REPORT_SCHEMA_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()
    assert schema_major("1.7") == 1 and schema_major(1) == 1 and schema_major("x") is None and schema_major(True) is None


def test_a_later_minor_with_unknown_fields_reads(tmp_path):
    data = dict(MINIMAL)
    data["subjects"] = [dict(MINIMAL["subjects"][0], a_field_from_1_9={"x": 1})]
    p = tmp_path / "report.json"
    p.write_text(json.dumps({**data, "schema_version": "1.9", "new_top_level": [1, 2]}))
    r = read_report(p)
    assert r.schema_version == "1.9" and r.subjects[0].n == 5


def test_the_unversioned_layout_reads_as_1_0(tmp_path):
    assert read_report(write(tmp_path, schema_version=1)).schema_version == "1.0"


@pytest.mark.parametrize("version", ["2.0", 2, "0.3", None, "abc"])
def test_another_major_is_refused_by_name(tmp_path, version):
    with pytest.raises(DataError) as e:
        read_report(write(tmp_path, schema_version=version))
    msg = str(e.value)
    assert "report.json" in msg and repr(version) in msg and "reads major version 1 only" in msg
