"""The page's hand-drawn plots: axis ticks and escaping, checked as properties and by XML parsing."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.report import svg

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(finite, finite)
def test_ticks_cover_the_range_in_round_steps(a, b):
    lo, hi = min(a, b), max(a, b)
    ticks = svg.nice_ticks(lo, hi)
    assert ticks == sorted(ticks) and len(ticks) >= 2
    assert ticks[0] <= lo + 1e-9 * max(1, abs(lo)) and ticks[-1] >= hi - 1e-9 * max(1, abs(hi))
    assert len(ticks) <= 12
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6


def test_plots_are_well_formed_xml_with_names_as_text():
    name = "<script>alert(1)</script> & \"q\""
    rows = [svg.ForestRow(name, 3.0, 2.0, 4.0, "FAIL", baseline=(1.0, 0.5, 1.5)), svg.ForestRow("b", 1.0, 0.9, 1.1, "PASS")]
    drawings = [
        svg.forest(name, rows, at_most=2.5),
        svg.scatter(name, [svg.Point(name, 0.3, 0.2, 0.4, 0.7, 0.6, 0.8)], x_caption="recall", y_caption="precision"),
        svg.trace(name, [(50, 0.9, 0.8, 0.97), (100, 0.91, 0.85, 0.95)], 0.8),
    ]
    for d in drawings:
        root = ET.fromstring(d)  # well-formed: every name escaped
        texts = "".join(root.itertext())
        assert "<script>" in texts  # shown as text...
        assert not root.findall(".//{http://www.w3.org/2000/svg}script")  # ...never as an element


def test_forest_places_values_in_order_on_the_axis():
    ax = svg.Axis(0.0, 10.0, 100.0, 200.0)
    assert [ax(v) for v in (0, 5, 10)] == [100.0, 150.0, 200.0]
    assert ax(-3) == 100.0 and ax(42) == 200.0  # clipped to the plot, never outside the picture
