"""How a comparison with the baseline reads: the verdict word a regression shows, and the
printed comparison (the terminal after a run, and the Markdown report's section).

``compare.regression`` records the outcome on each requirement; this only shows it.
"""

from __future__ import annotations

from ..records.model import BaselineComparison, EquivalenceResult, Report, RequirementResult
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
            lines.append(f"    {c.verdict:<26} {r.name:<32} baseline {short(c.baseline_value):<10} now {short(c.value):<10} "
                         f"diff {signed(c.difference)}{decided(c)}  tolerance {c.tolerance:g}")
            if c.pairing:
                lines.append(f"      {c.pairing}")
            if c.equivalence is not None:
                lines.append("      " + equivalence_line(c.equivalence))
    for why in report.baseline_not_compared:
        lines.append(f"  not compared: {why}")
    correction = getattr(report, "baseline_correction", None)
    if correction:
        lines.append(f"  multiplicity: {correction}")
    if report.equivalence_correction:
        lines.append(f"  multiplicity: {report.equivalence_correction}")
    return lines


def decided(c: BaselineComparison) -> str:
    """The numbers the verdict rests on: the adjusted interval and the Holm-adjusted p-value."""
    if c.adjusted_low is not None and c.adjusted_high is not None:
        interval = f" adjusted [{signed(c.adjusted_low)}, {signed(c.adjusted_high)}]"
    elif c.low is not None and c.high is not None:
        interval = f" [{signed(c.low)}, {signed(c.high)}] (unadjusted)"
    else:
        interval = ""
    return interval + (f" Holm p={c.p_value:.3g}" if c.p_value is not None else "")


def equivalence_line(e: EquivalenceResult) -> str:
    """One equivalence / non-inferiority verdict, with the interval and p-value it rests on."""
    what = f"equivalent within +-{e.margin:g}" if e.test == "equivalent" else f"non-inferior by less than {e.margin:g}"
    interval = f"[{signed(e.low)}, {signed(e.high)}]" if e.low is not None and e.high is not None else "[?, ?]"
    more = f"; about {e.n_to_decide} samples per side would decide" if e.n_to_decide else ""
    return (f"{e.verdict}: {what} (diff {signed(e.difference)}, adjusted {interval}, Holm p={e.p_value:.3g}"
            f"{', paired' if e.paired else ''}){more}")
