"""comparison.html's difference forests: one per requirement, each pair's interval as the decision used
it (adjusted where the record has adjusted bounds), the zero line, verdict colours."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from evalkit.records.comparison import Comparison, ContenderInfo, Row
from evalkit.report import svg
from evalkit.report.comparison import decision_bounds, forest_plots, to_html

NS = "{http://www.w3.org/2000/svg}"


def _comparison() -> Comparison:
    who = [ContenderInfo(label=x, subject=x, report=f"{x}/report.json", spec_sha256="0" * 64, n=200) for x in "AB"]
    rows = [Row(name="fid", kind="metric", a="A", b="B", value_a=10.0, value_b=14.0, difference=4.0, low=1.5, high=None,
                p_value=0.01, verdict="worse", higher_is_better=False),
            Row(name="ink", kind="rate", a="A", b="B", value_a=0.9, value_b=0.89, difference=-0.01, low=-0.05,
                high=0.03, p_value=0.7, verdict="no significant difference")]
    return Comparison(contenders=who, confidence=0.95, correction="holm", rows=rows, ranking_note="none")


def test_one_forest_per_requirement_coloured_by_verdict_with_a_zero_line():
    plots = forest_plots(_comparison())
    assert len(plots) == 2
    for plot, verdict in zip(plots, ["worse", "no significant difference"]):
        root = ET.fromstring(plot)
        assert [x for x in root.iter(f"{NS}line") if x.get("class") == "zero"]
        (g,) = [g for g in root.iter(f"{NS}g") if g.get("class") == "diff"]
        assert g.get("data-shows") == verdict
        assert {ln.get("stroke") for ln in g.iter(f"{NS}line")} == {svg.COLOURS[verdict]}
    assert len(list(ET.fromstring(plots[0]).iter(f"{NS}path"))) == 1  # fid: no upper bound, an arrow


def test_adjusted_bounds_are_used_when_the_record_has_them():
    row = _comparison().rows[1]
    assert decision_bounds(row) == (-0.05, 0.03, False)
    adjusted = type("AdjustedRow", (), {"adjusted_low": -0.08, "adjusted_high": 0.06, "low": -0.05, "high": 0.03})()
    assert decision_bounds(adjusted) == (-0.08, 0.06, True)


def test_page_holds_the_plots_and_no_script():
    page = to_html(_comparison())
    assert page.count("<svg") == 2 and "<script" not in page
    assert re.search(r"unadjusted interval \[1\.5, inf\]", page)
