"""The trend plot: log axis beyond 1.5 orders of magnitude, one mark per run, the change marked."""

from evalkit.history.plots import trend_plot, uses_log_axis
from evalkit.history.points import points_of
from evalkit.history.trends import pages_of
from tests.history.test_points import _report


def test_log_axis_only_beyond_one_and_a_half_orders():
    assert uses_log_axis([3.0, 300.0]) and not uses_log_axis([3.0, 90.0]) and not uses_log_axis([0.0, 500.0])


def test_one_mark_per_run_and_text_escaped():
    pts = [p for i in range(3) for p in points_of(_report(seed=i, name="<b>"), f"r{i}", "x")]
    (page,) = pages_of(pts)
    svg = trend_plot(page.series[0])
    assert svg.count('<g class="run">') == 3 and "<script" not in svg
