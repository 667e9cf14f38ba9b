"""The plots' scales and colours: a log axis where values span orders of magnitude, colours that mean
the verdict, and the difference forest's zero line, tolerance band and unbounded sides."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from evalkit.report import svg

NS = "{http://www.w3.org/2000/svg}"


def _ticks(drawing: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(drawing).iter(f"{NS}text") if t.get("class") == "tick"]


def test_fid_spanning_orders_of_magnitude_gets_a_log_axis_that_separates_the_small_values():
    rows = [svg.ForestRow(n, v, v * 0.9, v * 1.1, "PASS") for n, v in (("a", 1.8), ("b", 23.0), ("c", 1413.0))]
    d = svg.forest("fid", rows, at_most=50)
    assert "log scale" in d and _ticks(d) == ["10", "100", "1,000"]
    # the dots of 1.8 and 23 lie far apart: on a log axis by log10(23/1.8) of the decade width
    xs = [float(c.get("cx")) for c in ET.fromstring(d).iter(f"{NS}circle")]
    lo, hi = 1.8 * 0.9 / 10 ** 0.1, 1413 * 1.1 * 10 ** 0.1
    width = (560 - 16) - (200 + 10)
    expect = width * math.log10(23 / 1.8) / math.log10(hi / lo)
    assert abs((xs[1] - xs[0]) - expect) < 0.2


def test_values_within_one_order_stay_linear():
    rows = [svg.ForestRow("a", 10.0, 9.0, 11.0, "PASS"), svg.ForestRow("b", 20.0, 18.0, 22.0, "FAIL")]
    d = svg.forest("fid", rows, at_most=30)
    assert "log scale" not in d
    assert not svg.wants_log([0.0, 10.0, 1000.0])  # a zero: no log axis


def test_log_ticks_are_powers_of_ten_and_their_2_and_5_multiples():
    assert svg.log_ticks(1.5, 400) == [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
    assert svg.log_ticks(0.01, 1e6) == [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0]


def test_scatter_colours_mean_the_verdict_not_a_palette_place():
    pts = [svg.Point("worst", 0.1, 0.05, 0.2, 0.1, 0.05, 0.2, verdict="FAIL"),
           svg.Point("best", 0.9, 0.85, 0.95, 0.9, 0.85, 0.95, verdict="PASS"),
           svg.Point("unjudged", 0.5, 0.4, 0.6, 0.5, 0.4, 0.6)]
    root = ET.fromstring(svg.scatter("pr", pts, x_caption="recall", y_caption="precision"))
    fills = [c.get("fill") for c in root.iter(f"{NS}circle")]
    # point then legend marker, per subject
    assert fills[0] == fills[1] == svg.COLOURS["FAIL"]
    assert fills[2] == fills[3] == svg.COLOURS["PASS"]
    assert fills[4] == fills[5] == svg.NEUTRAL
    assert [g.get("data-shows") for g in root.iter(f"{NS}g") if g.get("class") == "legend"] == ["FAIL", "PASS", "not judged"]


def test_difference_forest_has_zero_line_band_and_arrows_for_unbounded_sides():
    rows = [svg.DiffRow("fid: B vs A", 2.0, 0.5, None, "worse", adjusted=True),
            svg.DiffRow("ink: B vs A", -0.01, -0.03, 0.01, "no significant difference")]
    d = svg.differences("differences", rows, band=(-1.0, 0.0))
    root = ET.fromstring(d)
    zero = [x for x in root.iter(f"{NS}line") if x.get("class") == "zero"]
    band = [x for x in root.iter(f"{NS}rect") if x.get("class") == "tolerance"]
    assert len(zero) == 1 and len(band) == 1
    assert abs(float(band[0].get("x")) + float(band[0].get("width")) - float(zero[0].get("x1"))) < 0.2  # band ends at zero
    groups = [g for g in root.iter(f"{NS}g") if g.get("class") == "diff"]
    assert [g.get("data-shows") for g in groups] == ["worse", "no significant difference"]
    assert len(list(groups[0].iter(f"{NS}path"))) == 1 and not list(groups[1].iter(f"{NS}path"))
    assert "adjusted interval" in d and re.search(r"unadjusted interval", d)
