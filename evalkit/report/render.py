"""Render a Report as Markdown and JUnit XML, and write a report folder atomically."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape as _escape, quoteattr as _quoteattr

from .._io import atomic_write_text
from .escape import md_block, md_cell_code, md_text, shell_command, strict_json, xml_text
from .model import Report
from .regression import baseline_lines, shown_verdict

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


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000 or (0 < abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.{digits}g}"


def _bound(r) -> str:
    if r.kind == "rate":
        return f">= {_fmt(r.at_least)}"
    parts = []
    if r.at_least is not None:
        parts.append(f">= {_fmt(r.at_least)}")
    if r.at_most is not None:
        parts.append(f"<= {_fmt(r.at_most)}")
    return " and ".join(parts)


def to_markdown(report: Report) -> str:
    lines = [f"# evalkit report: {md_text(report.name)}", ""]
    env = report.environment
    lines += [
        f"- spec: {md_cell_code(report.spec_path or '(in memory)')} (sha256 {md_cell_code(report.spec_sha256[:12])})",
        f"- started {report.started}, finished {report.finished}; seed {report.seed}",
        f"- device {env.device}; evalkit {env.evalkit}, torch {env.torch}, python {env.python}"
        + (f"; {env.world_size} processes" if env.world_size > 1 else ""),
    ]
    if report.reference:
        ref = report.reference
        lines.append(f"- reference: {md_text(ref['source'])} ({ref['n']} images), features {md_cell_code(ref['features'])} (d={ref['feature_dim']})")
    if report.baseline:
        lines.append(f"- baseline: {md_cell_code(report.baseline)}"
                     + (f"; regressions judged by {md_text(report.baseline_correction)}" if report.baseline_correction else ""))
    if report.interrupted:
        lines.append("- **interrupted**: partial results")
    lines.append("")
    # Summary grid: subjects x requirements
    names = []
    for s in report.subjects:
        for r in s.requirements:
            if r.name not in names:
                names.append(r.name)
    if names:
        lines += ["## Verdicts", "", "| requirement | " + " | ".join(md_text(s.name) for s in report.subjects) + " |",
                  "|---|" + "---|" * len(report.subjects)]
        for name in names:
            cells = []
            for s in report.subjects:
                r = next((x for x in s.requirements if x.name == name), None)
                cells.append("-" if r is None else f"{SYMBOL[shown_verdict(r)]} {_fmt(r.value)}")
            lines.append(f"| {md_text(name)} | " + " | ".join(cells) + " |")
        lines.append("")
    for s in report.subjects:
        lines += [f"## {md_text(s.name)}", ""]
        bits = [f"status **{s.status}**", f"n = {s.n} of {s.n_planned}"]
        if s.stopped_early:
            bits.append("stopped early (sequential: every requirement decided)")
        if s.samples_per_second:
            bits.append(f"{s.samples_per_second:g} samples/s")
        if s.nonfinite:
            bits.append(f"{s.nonfinite} samples with NaN/Inf")
        lines.append("; ".join(bits))
        if s.weights_sha256:
            lines.append(f"weights sha256 {md_cell_code(s.weights_sha256[:16])}")
        if s.error:
            lines += ["", f"> {md_text(s.error)}"]
        lines.append("")
        if s.requirements:
            lines += ["| requirement | verdict | value | bound | interval (one-sided) | n | confidence | note |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in s.requirements:
                value = f"{r.passed}/{r.n} = {_fmt(r.value)}" if r.kind == "rate" else _fmt(r.value)
                note = md_text("; ".join(x for x in (r.message, r.correction) if x))
                if r.more_samples is not None and not r.message:
                    note = (note + "; " if note else "") + f"about {r.more_samples} more samples would decide it"
                lines.append(f"| {md_text(r.name)} | {SYMBOL[shown_verdict(r)]} | {value} | {_bound(r)} | [{_fmt(r.lower)}, {_fmt(r.upper)}] "
                             f"| {r.n if r.n is not None else '-'} | {r.confidence:.4g} | {note} |")
            lines.append("")
            for r in s.requirements:
                if r.per_class:
                    lines += [f"Per class, {md_text(r.name)}:", "", "| class | passed/n | interval | verdict |", "|---|---|---|---|"]
                    for c in r.per_class:
                        lines.append(f"| {c.label} | {c.passed}/{c.n} | [{_fmt(c.lower)}, {_fmt(c.upper)}] | {SYMBOL[c.verdict]} |")
                    lines.append("")
        failing = [r for r in s.requirements if r.failing]
        if failing:
            lines += ["Failing examples (sample index, asked class, measurements):", ""]
            for r in failing:
                shown = "; ".join(
                    f"#{f.index}" + (f" class {f.label}" if f.label is not None else "")
                    + (" (" + ", ".join(f"{md_text(k)}={v:.3g}" for k, v in f.values.items()) + ")" if f.values else "")
                    for f in r.failing
                )
                lines.append(f"- {md_text(r.name)}: {shown}")
            lines += ["", "Regenerate them (REPORT is this report's folder; add sample indices to choose others):", "",
                      md_block(reproduce_command(report, s.name), "sh"), ""]
        if s.metrics:
            lines += ["| metric | value | interval (one-sided) | n | method |", "|---|---|---|---|---|"]
            for m in s.metrics:
                lines.append(f"| {md_text(m.name)} | {_fmt(m.value)} | [{_fmt(m.lower)}, {_fmt(m.upper)}] | {m.n} | {md_text(m.method)} |")
            notes = sorted({m.note for m in s.metrics if m.note})
            lines += [""] + [f"Note: {md_text(n)}." for n in notes]
            lines.append("")
        if s.regressions:
            lines += ["Regressed against the baseline: " + ", ".join(md_text(x) for x in s.regressions), ""]
    if report.baseline:
        lines += ["## Against the baseline", "", md_block("\n".join(baseline_lines(report))), ""]
    return "\n".join(lines) + "\n"


def to_junit(report: Report) -> str:
    """One testsuite per subject, one testcase per requirement; INCONCLUSIVE is 'skipped'."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<testsuites name={quoteattr('evalkit: ' + report.name)}>"]
    for s in report.subjects:
        reqs = s.requirements
        failures = sum(r.verdict == "FAIL" for r in reqs) + len(s.regressions)
        skipped = sum(r.verdict == "INCONCLUSIVE" for r in reqs)
        errors = 1 if s.status != "ok" else 0
        out.append(f"  <testsuite name={quoteattr(s.name)} tests={quoteattr(str(len(reqs) + errors))} failures=\"{failures}\" "
                   f"errors=\"{errors}\" skipped=\"{skipped}\" time=\"{s.seconds:.3f}\">")
        if s.status != "ok":
            out.append(f"    <testcase classname={quoteattr(s.name)} name=\"run\"><error message={quoteattr(s.error or s.status)}/></testcase>")
        for r in reqs:
            desc = f"{r.verdict}: value {_fmt(r.value)}, bound {_bound(r)}, interval [{_fmt(r.lower)}, {_fmt(r.upper)}] at confidence {r.confidence:.4g}"
            out.append(f"    <testcase classname={quoteattr(s.name)} name={quoteattr(r.name)}>")
            if r.verdict == "FAIL":
                out.append(f"      <failure message={quoteattr(desc)}>{escape(desc)}</failure>")
            elif r.verdict == "INCONCLUSIVE":
                out.append(f"      <skipped message={quoteattr(desc)}/>")
            if r.name in s.regressions:
                out.append(f"      <failure message={quoteattr('regressed against the baseline')}/>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def write_report(report: Report, out_dir: Path, formats: list[str], partial: bool = False) -> list[Path]:
    """Write the report files; each file appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = "report.partial" if partial else "report"
    js = out_dir / f"{stem}.json"
    atomic_write_text(js, json.dumps(strict_json(report.model_dump(mode="json")), indent=2, allow_nan=False) + "\n")
    written.append(js)
    if "markdown" in formats:
        md = out_dir / f"{stem}.md"
        atomic_write_text(md, to_markdown(report))
        written.append(md)
    if "junit" in formats and not partial:
        j = out_dir / "junit.xml"
        atomic_write_text(j, to_junit(report))
        written.append(j)
    if "html" in formats and not partial:
        from .html import to_html

        h = out_dir / "report.html"
        atomic_write_text(h, to_html(report))
        written.append(h)
    return written
