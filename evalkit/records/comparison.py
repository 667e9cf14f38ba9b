"""The comparison record: what ``evalkit compare`` writes to comparison.json (schema version 1).

``compare.table`` builds it; ``report.comparison`` renders it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .model import Record


COMPARISON_SCHEMA_VERSION = 1


RowVerdict = Literal["better", "worse", "no significant difference", "not tested"]


class ContenderInfo(Record):
    """One compared subject and where it came from."""

    label: str = Field(description="How the tables name it.")
    subject: str
    report: str = Field(description="The report.json it was read from.")
    spec_sha256: str
    n: int


class Row(Record):
    """Contender ``b`` against contender ``a`` on one requirement or metric."""

    name: str = Field(description="The requirement (rates) or metric name.")
    kind: Literal["rate", "metric"]
    a: str
    b: str
    value_a: float | None
    value_b: float | None
    n_a: int | None = None
    n_b: int | None = None
    difference: float | None = Field(None, description="value_b - value_a.")
    low: float | None = Field(None, description="One-sided lower confidence bound of the difference (not adjusted).")
    high: float | None = Field(None, description="One-sided upper confidence bound of the difference (not adjusted).")
    p_value: float | None = Field(None, description="Holm-adjusted p-value behind the verdict.")
    adjusted_low: float | None = Field(None, description="Lower bound at the confidence this row's Holm step decided at "
                                       "(1 - alpha*p/p_adj): beyond 0 exactly when the verdict says so.")
    adjusted_high: float | None = Field(None, description="Upper bound, likewise.")
    verdict: RowVerdict = Field(description="b against a: better, worse, no significant difference.")
    paired: bool = False
    higher_is_better: bool = True
    method: str = ""
    note: str | None = None


class Comparison(Record):
    """What ``evalkit compare`` writes to comparison.json."""

    schema_version: int = COMPARISON_SCHEMA_VERSION
    contenders: list[ContenderInfo]
    confidence: float
    correction: str
    comparable: bool = True
    not_comparable: list[str] = Field(default_factory=list, description="Why the reports are not comparable (--force).")
    rows: list[Row]
    ranking: list[str] | None = Field(None, description="Best first; present only where significant differences order every pair.")
    ranking_note: str
    notes: list[str] = Field(default_factory=list)
