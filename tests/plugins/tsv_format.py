"""A report format defined outside evalkit, as a plugin defines one: ``verdicts.tsv``.

One line per subject and requirement (subject, requirement, verdict, passed/n), tab
separated, for a spreadsheet. It reads nothing beside the report, and an interrupted run
writes it too, as ``verdicts.partial.tsv``.
"""

import evalkit


@evalkit.report_format("tsv", file="verdicts.tsv", partial_file="verdicts.partial.tsv")
def verdicts_tsv(view: "evalkit.ReportView") -> str:
    """verdicts.tsv: subject, requirement, verdict and passed/n, one line each."""
    lines = ["subject\trequirement\tverdict\tpassed/n"]
    for s in view.report.subjects:
        for r in s.requirements:
            lines.append(f"{s.name}\t{r.name}\t{r.verdict}\t{r.passed}/{r.n}")
    return "\n".join(lines) + "\n"
