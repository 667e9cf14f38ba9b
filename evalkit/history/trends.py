"""Series from points: one per (spec, subject, requirement or metric), in run order, with their change-point test.

A *page* is one spec × subject (its ``subject_key``): every requirement and metric of it.
The change-point test and its correction over the page are ``judge.trend``'s; this module
only groups, orders and feeds it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ..judge import trend
from .points import Point


@dataclass(frozen=True)
class Series:
    """One requirement or metric of one subject across runs, oldest first, and its test (None: too few runs)."""

    spec: str
    subject_key: str
    subject: str  # the newest run's display name
    name: str
    kind: str
    points: tuple[Point, ...]
    test: trend.SeriesTest | None = None

    @property
    def change(self) -> Point | None:
        """The first run of the new level, where the test flagged one."""
        return self.points[self.test.split] if self.test is not None and self.test.flagged else None


@dataclass(frozen=True)
class Page:
    """Every series of one spec × subject, tested with family-wise error at most 1 − ``confidence``."""

    spec: str
    subject_key: str
    subject: str
    confidence: float
    series: list[Series] = field(default_factory=list)

    @property
    def flagged(self) -> list[Series]:
        return [s for s in self.series if s.change is not None]


def _usable(p: Point) -> bool:
    if p.value is None:
        return False
    if p.kind == "rate":
        return p.n is not None and p.n > 0 and (p.passed is not None or p.value is not None)
    return True


def group(points: Iterable[Point]) -> dict[tuple[str, str, str], list[Point]]:
    """Points grouped by (spec, subject_key, name), ordered by ``finished`` (then run id); one point per run."""
    groups: dict[tuple[str, str, str], dict[str, Point]] = defaultdict(dict)
    for p in points:
        if _usable(p):
            groups[(p.spec, p.subject_key, p.name)].setdefault(p.run_id, p)  # a run indexed twice counts once
    return {key: sorted(by_run.values(), key=lambda p: (p.finished, p.run_id)) for key, by_run in groups.items()}


def _test(points: list[Point], permutations: int) -> trend.SeriesTest | None:
    if points[0].kind == "rate":
        passed = [p.passed if p.passed is not None else round((p.value or 0.0) * (p.n or 0)) for p in points]
        return trend.change_in_rates(passed, [p.n or 0 for p in points], permutations=permutations)
    return trend.change_in_metric([float(p.value or 0.0) for p in points], [p.lower for p in points],
                                  [p.upper for p in points], [p.confidence for p in points], permutations=permutations)


def pages_of(points: Iterable[Point], *, confidence: float | None = None,
             permutations: int = trend.PERMUTATIONS) -> list[Page]:
    """Every page of ``points``: its series tested and Bonferroni-adjusted over the page.

    ``confidence``: the page's family-wise level; by default the highest confidence among the
    page's points (the strictest any requirement of it asked for)."""
    by_page: dict[tuple[str, str], list[list[Point]]] = defaultdict(list)
    for (spec, key, _name), pts in sorted(group(points).items()):
        by_page[(spec, key)].append(pts)
    pages = []
    for (spec, key), all_series in by_page.items():
        level = confidence if confidence is not None else max(p.confidence for s in all_series for p in s)
        tests = trend.adjust_page([_test(s, permutations) if s[0].kind in ("rate", "metric") else None
                                   for s in all_series], level)
        subject = max((s[-1] for s in all_series), key=lambda p: p.finished).subject
        series = [Series(spec, key, subject, s[0].name, s[0].kind, tuple(s), t) for s, t in zip(all_series, tests)]
        pages.append(Page(spec, key, subject, level, series))
    return pages
