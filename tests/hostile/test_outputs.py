"""Every file evalkit writes is valid for its reader, whatever the names and messages hold.

JUnit XML is parsed by ``xml.etree`` and ``junitparser``; report.json by a strict
JSON parser (no NaN/Infinity); report.md is checked for raw HTML and broken table
rows; the terminal table for raw control characters. Names hold every C0 control
character, Markdown/HTML syntax, and an exception message carries ANSI colours.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import xml.etree.ElementTree as ET

import pytest

from evalkit.report.escape import md_block, md_code, md_text, strict_json, visible, xml_text
from tests.hostile.trust_support import Sandbox, assert_clean

C0 = "".join(chr(i) for i in range(32))
# YAML double-quoted escapes can spell every C0 character
C0_YAML = "".join(f"\\x{i:02x}" for i in range(32))
MD_NASTY = "<script>alert(1)</script> | pipe `tick` *star* [link](http://x) # \\n"

GEN = """\
import torch


class Broken:
    image_shape = (1, 28, 28)
    num_classes = None

    def __init__(self, device=None, checkpoint=None):
        pass

    def sample(self, n, *, labels=None, generator=None):
        raise RuntimeError("\\x1b[31mboom\\x1b[0m in red, then a bell \\x07 and a NUL \\x00")
"""

SPEC = """\
version: 1
name: "outputs {tag}"
reference: {{dataset: fashion-mnist, split: test, range: [0, 200]}}
features: pixels
classifier: null
subjects:
  - model: dataset
    name: "c0 {c0}"
    params: {{range: [5000, 5100]}}
  - model: dataset
    name: {md}
    params: {{range: [6000, 6100]}}
  - model: {module}:Broken
    name: "ansi \\x1b[1mbold\\x1b[0m"
sampling: {{n: 40, batch_size: 20, seed: 1, labels: uniform}}
report: {{formats: [json, markdown, junit]}}
requirements:
  - {{name: "req {c0}", where: "ink < 0", at_least: 0.5}}
  - {{name: {md}, check: in_range, at_least: 0.5}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    box = Sandbox(tmp_path_factory.mktemp("outputs"))
    module = f"broken_{uuid.uuid4().hex[:8]}"
    (box.work / f"{module}.py").write_text(GEN)
    spec = box.write("spec.yaml", SPEC.format(tag=C0_YAML, c0=C0_YAML, md=json.dumps(MD_NASTY), module=module))
    res = box.evalkit("run", str(spec), "--out", "out", "--junit", "junit-cli.xml")
    assert_clean(res, 3)
    return box, res


def test_junit_parses_with_every_control_character(run):
    box, _ = run
    for path in (box.work / "out" / "junit.xml", box.work / "junit-cli.xml"):
        root = ET.parse(path).getroot()
        names = [tc.get("name") for tc in root.iter("testcase")]
        suites = [ts.get("name") for ts in root.iter("testsuite")]
        assert any(n.startswith("req ") for n in names)
        assert any(s.startswith("c0 ") for s in suites)
        error = next(e.get("message") for e in root.iter("error"))
        assert "boom in red" in error and "\x1b" not in error and "[31m" not in error
        assert "\\x07" in error  # shown, not dropped silently
        # a second, independent reader
        junitparser = pytest.importorskip("junitparser")
        xml = junitparser.JUnitXml.fromfile(str(path))
        assert sum(1 for suite in xml for _ in suite) == 5  # 2 requirements x 2 subjects + the broken run


def test_report_json_is_strict(run):
    box, _ = run
    text = (box.work / "out" / "report.json").read_text()

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    data = json.loads(text, parse_constant=refuse)
    assert data["subjects"][0]["name"] == "c0 " + C0  # the names themselves survive intact in JSON


def test_markdown_shows_names_literally(run):
    box, _ = run
    md = (box.work / "out" / "report.md").read_text()
    # fenced code blocks are shown literally by every Markdown renderer; outside them no raw HTML may remain
    prose = "".join(part for i, part in enumerate(re.split(r"^```+.*$", md, flags=re.M)) if i % 2 == 0)
    assert "<script>" not in prose and "&lt;script&gt;" in prose
    assert not any(ch in md for ch in C0 if ch != "\n")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    header = md.split("## Verdicts", 1)[1].split("\n\n", 2)[1].splitlines()
    widths = {_cells(line) for line in header}
    assert widths == {4}, header  # requirement + 3 subjects: no name added or removed a column
    assert all(_cells(line) >= 2 for line in table)


def _cells(line: str) -> int:
    """Columns in a Markdown table row (pipes escaped with a backslash do not count)."""
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        count += line[i] == "|"
        i += 1
    return count - 1


def test_terminal_shows_control_characters(run):
    _, res = run
    assert "\x1b" not in res.text and "\x07" not in res.text and "\x00" not in res.text
    assert "c0 \\x00\\x01" in res.out
    assert "boom in red" in res.text


def test_strict_json_round_trips_non_finite_metrics(tmp_path):
    from evalkit.records.model import Report
    from evalkit.records.reading import read_report
    from evalkit.report.folder import write_report

    base = json.loads(json.dumps(strict_json({"a": [math.nan, math.inf, -math.inf, 1.5]})))
    assert base == {"a": ["NaN", "Infinity", "-Infinity", 1.5]}
    report = Report.model_validate({
        "name": "nan", "spec": {"x": math.nan}, "spec_sha256": "0" * 64, "started": "now", "seed": 0,
        "environment": {"python": "3", "platform": "p", "torch": "t", "evalkit": "e", "device": "cpu"},
        "subjects": [{"name": "s", "metrics": [{"name": "fid", "value": math.nan, "lower": -math.inf, "upper": math.inf,
                                                "confidence": 0.95, "method": "m", "n": 3}]}],
    })
    write_report(report, tmp_path, ["json"])
    json.loads((tmp_path / "report.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    written = json.loads((tmp_path / "report.json").read_text())["subjects"][0]["metrics"][0]
    assert (written["value"], written["lower"], written["upper"]) == ("NaN", "-Infinity", "Infinity")
    # reading it back as a baseline is refused by name (a non-finite metric cannot be compared), never a crash
    from evalkit._errors import EvalkitError

    with pytest.raises(EvalkitError, match="finite"):
        read_report(tmp_path)


@pytest.mark.parametrize("text", [C0, MD_NASTY, "a\u202eb", "x\x1b[31my"])
def test_escapes(text):
    for out in (visible(text), md_text(text), md_code(text)):
        assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c == "\u202e" for c in out)
    ET.fromstring(f"<a b={json.dumps('')}>" + xml_text(text).replace("&", "&amp;").replace("<", "&lt;") + "</a>")
    assert "<" not in md_text(text) and "|" not in md_text(text).replace("\\|", "")
    block = md_block("evalkit reproduce 'a```b'")
    assert block.startswith("````") and block.endswith("````")
