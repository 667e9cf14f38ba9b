"""Series grouped by (spec, subject, name), ordered by finish time, one point per run."""

from dataclasses import replace

from evalkit.history.points import points_of
from evalkit.history.trends import pages_of
from tests.history.test_points import _report


def test_points_group_into_one_page_ordered_by_time():
    pts = []
    for i in (2, 0, 1):
        r = _report(seed=i)
        pts += [replace(p, finished=f"2026-12-01T00:0{i}:00") for p in points_of(r, f"run{i}", "x")]
    pts += pts[:2]  # a run indexed twice counts once
    (page,) = pages_of(pts)
    assert [s.name for s in page.series] == ["fid", "right class"]
    assert [p.run_id for p in page.series[0].points] == ["run0", "run1", "run2"]
    assert all(s.test is not None and not s.test.flagged for s in page.series)
