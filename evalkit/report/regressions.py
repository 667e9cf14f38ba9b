"""How a comparison with the baseline reads: the verdict word a regression shows, and the
printed comparison (the terminal after a run, and the Markdown report's section).

``compare.regression`` records the outcome on each requirement; this only shows it.
"""

from __future__ import annotations

from ..records.model import Report, RequirementResult
from .numbers import short, signed


def shown_verdict(r: RequirementResult) -> str:
    """The verdict word every rendering shows: REGRESSED joins the requirement's own verdict."""
    if not r.regressed:
        return r.verdict
    return "REGRESSED" if r.verdict == "PASS" else f"{r.verdict}+REGRESSED"


def baseline_lines(report: Report) -> list[str]:
    """The printed comparison: which subjects and requirements, both values, difference, tolerance, verdict."""
    if not report.baseline:
        return []
    lines = [f"baseline {report.baseline}:"]
    for pair in report.baseline_pairs:
        how = "same name" if pair.matched_by == "name" else "same model"
        lines.append(f"  {pair.subject} vs baseline {pair.baseline_subject!r} ({how}"
                     + (f"; {pair.note}" if pair.note else "") + ")")
        sub = next((s for s in report.subjects if s.name == pair.subject), None)
        for r in (sub.requirements if sub else []):
            c = r.baseline
            if c is None:
                continue
            diff = signed(c.difference)
            interval = f" [{signed(c.low)}, {signed(c.high)}]" if c.low is not None and c.high is not None else ""
            lines.append(f"    {c.verdict:<26} {r.name:<32} baseline {short(c.baseline_value):<10} now {short(c.value):<10} "
                         f"diff {diff}{interval}  tolerance {c.tolerance:g}")
    for why in report.baseline_not_compared:
        lines.append(f"  not compared: {why}")
    correction = getattr(report, "baseline_correction", None)
    if correction:
        lines.append(f"  multiplicity: {correction}")
    return lines
