"""The ``json``, ``markdown`` and ``junit`` formats: the report record, report.md and junit.xml."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape as _escape, quoteattr as _quoteattr

from ..judge.verdicts import deciding_class
from ..records.model import Report
from .feature_space import feature_space_text
from .escape import md_block, md_cell_code, md_text, shell_command, strict_json, xml_text
from .numbers import bound, number
from .regressions import baseline_lines, shown_verdict
from .view import ReportView


def quoteattr(text: str) -> str:
    """An XML attribute value holding ``text``, with characters XML forbids shown as escapes."""
    return _quoteattr(xml_text(text))


def escape(text: str) -> str:
    return _escape(xml_text(text))


def reproduce_command(report: Report, subject: str) -> str:
    """The shell line regenerating a subject's failing samples; every word is shell-quoted."""
    words = ["evalkit", "reproduce", "REPORT", subject]
    if report.spec_path:
        words += ["--spec", report.spec_path]
    return shell_command(*words)


SYMBOL = {"PASS": "PASS", "FAIL": "**FAIL**", "INCONCLUSIVE": "INCONCLUSIVE", "ERROR": "**ERROR**", "REGRESSED": "**REGRESSED**",
          "FAIL+REGRESSED": "**FAIL+REGRESSED**", "INCONCLUSIVE+REGRESSED": "**INCONCLUSIVE+REGRESSED**"}


def record_json(view: ReportView) -> str:
    """The ``json`` format: the record itself, strict JSON (no NaN or Infinity)."""
    return json.dumps(strict_json(view.report.model_dump(mode="json")), indent=2, allow_nan=False) + "\n"


def markdown(view: ReportView) -> str:
    """The ``markdown`` format: report.md (report.partial.md for an interrupted run)."""
    report = view.report
    lines = [f"# evalkit report: {md_text(report.name)}", ""] + _md_provenance(report) + [""] + _md_verdicts(view)
    for s in report.subjects:
        lines += _md_subject(report, s)
    if report.baseline:
        lines += ["## Against the baseline", "", md_block("\n".join(baseline_lines(report))), ""]
    return "\n".join(lines) + "\n"


def to_markdown(report: Report) -> str:
    return markdown(ReportView(report))


def _md_provenance(report: Report) -> list[str]:
    env = report.environment
    lines = [
        f"- spec: {md_cell_code(report.spec_path or '(in memory)')} (sha256 {md_cell_code(report.spec_sha256[:12])})",
        f"- started {report.started}, finished {report.finished}; seed {report.seed}",
        f"- device {env.device}; evalkit {env.evalkit}, torch {env.torch}, python {env.python}"
        + (f"; {env.world_size} processes" if env.world_size > 1 else ""),
    ]
    if report.reference:
        ref = report.reference
        lines.append(f"- reference: {md_text(ref['source'])} ({ref['n']} images), features {md_cell_code(ref['features'])} (d={ref['feature_dim']})")
        space = feature_space_text(ref)
        if space:
            lines.append(f"- feature space: {md_text(space)}")
    if report.baseline:
        lines.append(f"- baseline: {md_cell_code(report.baseline)}"
                     + (f"; regressions judged by {md_text(report.baseline_correction)}" if report.baseline_correction else ""))
    if report.interrupted:
        lines.append("- **interrupted**: partial results")
    return lines


def _md_verdicts(view: ReportView) -> list[str]:
    """The summary grid: requirements x subjects."""
    report = view.report
    if not view.requirement_names:
        return []
    lines = ["## Verdicts", "", "| requirement | " + " | ".join(md_text(s.name) for s in report.subjects) + " |",
             "|---|" + "---|" * len(report.subjects)]
    for name in view.requirement_names:
        cells = []
        for s in report.subjects:
            r = view.result(s, name)
            cells.append("-" if r is None else f"{SYMBOL[shown_verdict(r)]} {_grid_value(r)}")
        lines.append(f"| {md_text(name)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _grid_value(r) -> str:
    """The value beside a verdict in the grid: a per-class verdict's is its deciding class's rate."""
    c = deciding_class(r) if r.per_class else None
    if c is None or not c.n:
        return number(r.value)
    return f"{number(c.passed / c.n)} (class {c.label})"


def _md_subject(report: Report, s) -> list[str]:
    bits = [f"status **{s.status}**", f"n = {s.n} of {s.n_planned}"]
    if s.stopped_early:
        bits.append("stopped early (sequential: every requirement decided)")
    if s.samples_per_second:
        bits.append(f"{s.samples_per_second:g} samples/s")
    if s.nonfinite:
        bits.append(f"{s.nonfinite} samples with NaN/Inf")
    lines = [f"## {md_text(s.name)}", "", "; ".join(bits)]
    if s.weights_sha256:
        lines.append(f"weights sha256 {md_cell_code(s.weights_sha256[:16])}")
    if s.error:
        lines += ["", f"> {md_text(s.error)}"]
    lines.append("")
    lines += _md_requirements(s) + _md_failing(report, s) + _md_metrics(s)
    if s.regressions:
        lines += ["Regressed against the baseline: " + ", ".join(md_text(x) for x in s.regressions), ""]
    return lines


def _md_requirements(s) -> list[str]:
    if not s.requirements:
        return []
    lines = ["| requirement | verdict | value | bound | interval (one-sided) | n | confidence | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in s.requirements:
        value, interval, n, confidence, decided = _md_shown(r)
        note = md_text("; ".join(x for x in (decided, r.message, r.correction) if x))
        if r.more_samples is not None and not r.message:
            note = (note + "; " if note else "") + f"about {r.more_samples} more samples would decide it"
        lines.append(f"| {md_text(r.name)} | {SYMBOL[shown_verdict(r)]} | {value} | {bound(r)} | {interval} "
                     f"| {n} | {confidence:.4g} | {note} |")
    lines.append("")
    for r in s.requirements:
        if r.per_class:
            level = f" (one-sided, each at confidence {1 - (1 - r.confidence) / len(r.per_class):.4g}, the Bonferroni level)"
            lines += [f"Per class, {md_text(r.name)}{level}:", "", "| class | passed/n | interval | verdict |", "|---|---|---|---|"]
            lines += [f"| {c.label} | {c.passed}/{c.n} | [{number(c.lower)}, {number(c.upper)}] | {SYMBOL[c.verdict]} |"
                      for c in r.per_class]
            lines.append("")
    return lines


def _md_shown(r) -> tuple[str, str, str, float, str | None]:
    """(value, interval, n, confidence, note) of a requirement's row: for a per-class verdict,
    those of the class it rests on (judge.verdicts.deciding_class), the pooled rate as context."""
    c = deciding_class(r) if r.per_class else None
    if c is None:
        value = f"{r.passed}/{r.n} = {number(r.value)}" if r.kind == "rate" else number(r.value)
        return value, f"[{number(r.lower)}, {number(r.upper)}]", str(r.n) if r.n is not None else "-", r.confidence, None
    rate = number(c.passed / c.n) if c.n else "-"
    value = f"class {c.label}: {c.passed}/{c.n} = {rate} (pooled {r.passed}/{r.n} = {number(r.value)})"
    note = (f"decided by class {c.label}; its interval at the level Holm decided it at "
            f"(the pooled interval [{number(r.lower)}, {number(r.upper)}] decides nothing here)")
    return value, f"[{number(c.lower)}, {number(c.upper)}]", str(c.n), c.confidence, note


def _md_failing(report: Report, s) -> list[str]:
    failing = [r for r in s.requirements if r.failing]
    if not failing:
        return []
    lines = ["Failing examples (sample index, asked class, measurements):", ""]
    for r in failing:
        shown = "; ".join(
            f"#{f.index}" + (f" class {f.label}" if f.label is not None else "")
            + (" (" + ", ".join(f"{md_text(k)}={v:.3g}" for k, v in f.values.items()) + ")" if f.values else "")
            for f in r.failing
        )
        lines.append(f"- {md_text(r.name)}: {shown}")
    return lines + ["", "Regenerate them (REPORT is this report's folder; add sample indices to choose others):", "",
                    md_block(reproduce_command(report, s.name), "sh"), ""]


def _md_metrics(s) -> list[str]:
    if not s.metrics:
        return []
    lines = ["| metric | value | interval (one-sided) | n | method |", "|---|---|---|---|---|"]
    for m in s.metrics:
        lines.append(f"| {md_text(m.name)} | {number(m.value)} | [{number(m.lower)}, {number(m.upper)}] | {m.n} | {md_text(m.method)} |")
    notes = sorted({m.note for m in s.metrics if m.note})
    return lines + [""] + [f"Note: {md_text(n)}." for n in notes] + [""]


def _junit_outcome(r, regressed: bool, strict: bool) -> tuple[str | None, str]:
    """(element, message) for one requirement: "failure", "skipped" or None (passed).

    Exactly one element per test case, and a failure whenever the requirement makes the
    exit code 1: FAIL, REGRESSED against the baseline, or INCONCLUSIVE under --strict.
    """
    c = deciding_class(r) if r.per_class else None
    if c is not None:  # a per-class verdict rests on one class: its count and interval, not the pooled ones
        desc = (f"{r.verdict}: class {c.label} {c.passed}/{c.n}, bound {bound(r)}, interval [{number(c.lower)}, "
                f"{number(c.upper)}] at confidence {c.confidence:.4g} (decided by class {c.label}; pooled value "
                f"{number(r.value)}, n {r.n})")
    else:
        desc = (f"{r.verdict}: value {number(r.value)}, bound {bound(r)}, interval [{number(r.lower)}, {number(r.upper)}] "
                f"at confidence {r.confidence:.4g}" + (f", n {r.n}" if r.n is not None else ""))
    reasons = []
    if r.verdict in ("FAIL", "ERROR"):
        reasons.append(desc)
    if regressed:
        reasons.append("REGRESSED: significantly worse than the baseline")
    if r.verdict == "INCONCLUSIVE" and strict:
        reasons.append(desc + " (a failure under --strict)")
    if reasons:
        return "failure", "; ".join(reasons)
    if r.verdict == "INCONCLUSIVE":
        return "skipped", desc + (f"; about {r.more_samples} more samples would decide it" if r.more_samples else "")
    return None, desc


def _junit_properties(r) -> str:
    props = {"verdict": r.verdict, "value": r.value, "lower": r.lower, "upper": r.upper, "confidence": r.confidence,
             "n": r.n, "bound": bound(r)}
    rows = "".join(f"<property name={quoteattr(k)} value={quoteattr(str(v))}/>" for k, v in props.items() if v is not None)
    return f"      <properties>{rows}</properties>"


def junit(view: ReportView) -> str:
    """The ``junit`` format: junit.xml, strict as the run was made."""
    return to_junit(view.report)


def to_junit(report: Report, strict: bool | None = None) -> str:
    """One testsuite per subject, one testcase per requirement, in agreement with the exit code.

    A case holds at most one ``<failure>`` (FAIL, REGRESSED, or INCONCLUSIVE under
    ``strict``) or one ``<skipped>`` (INCONCLUSIVE otherwise); every case carries its
    value, bound and interval as properties and in ``system-out``. A regression of a
    metric that no requirement names gets a case of its own. ``strict`` defaults to
    how the run was made (``report.strict``).
    """
    strict = report.strict if strict is None else strict
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<testsuites name={quoteattr('evalkit: ' + report.name)}>"]
    for s in report.subjects:
        cases: list[str] = []
        failures = skipped = errors = 0
        if s.status != "ok":
            errors = 1
            cases.append(f"    <testcase classname={quoteattr(s.name)} name=\"run\"><error message={quoteattr(s.error or s.status)}/></testcase>")
        names = {r.name for r in s.requirements}
        for r in s.requirements:
            element, message = _junit_outcome(r, r.regressed or r.name in s.regressions, strict)
            failures += element == "failure"
            skipped += element == "skipped"
            cases.append(f"    <testcase classname={quoteattr(s.name)} name={quoteattr(r.name)}>")
            cases.append(_junit_properties(r))
            if element == "failure":
                cases.append(f"      <failure message={quoteattr(message)}>{escape(message)}</failure>")
            elif element == "skipped":
                cases.append(f"      <skipped message={quoteattr(message)}/>")
            cases.append(f"      <system-out>{escape(message)}</system-out>")
            cases.append("    </testcase>")
        for name in (x for x in s.regressions if x not in names):
            failures += 1
            msg = f"REGRESSED: {name} is significantly worse than the baseline"
            cases.append(f"    <testcase classname={quoteattr(s.name)} name={quoteattr('baseline: ' + name)}>"
                         f"<failure message={quoteattr(msg)}>{escape(msg)}</failure></testcase>")
        tests = len(s.requirements) + errors + sum(x not in names for x in s.regressions)
        out.append(f"  <testsuite name={quoteattr(s.name)} tests=\"{tests}\" failures=\"{failures}\" "
                   f"errors=\"{errors}\" skipped=\"{skipped}\" time=\"{s.seconds:.3f}\">")
        out += cases
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
