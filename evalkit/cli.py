"""The ``evalkit`` command line: one verb per job.

Exit codes (every verb):
  0  success: every requirement passed
  1  a requirement failed, regressed against the baseline, or (with --strict) was inconclusive
  2  the spec, a file it names, or the command line is wrong (found by validation: nothing ran)
  3  the run broke: a model raised or returned bad samples, data or weights are unreadable
  130  interrupted (Ctrl-C); a partial report is kept as report.partial.json
  143  terminated (SIGTERM); the same, and `evalkit run SPEC --resume DIR` finishes the run

The exit code is always the one report.json records: the `evalkit` process ends itself
with it once the report is written (see ``main``), whatever threads or file descriptors
user code left behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from ._errors import EXIT_USAGE, EvalkitError, SpecError, exit_code_for
from ._version import __version__
from .boundary import cli_guard

log = logging.getLogger("evalkit")

EXIT_CODES = """exit codes:
  0    every requirement passed
  1    a requirement failed, regressed against --baseline, or was inconclusive under --strict
  2    the spec, a file it names, or the command line is wrong (found by validation: nothing ran)
  3    the run broke: a model raised or returned bad samples, data or weights are unreadable
  130  interrupted (Ctrl-C): no report.json is written; what was measured is in report.partial.json,
       and the command that finishes the run (`evalkit run SPEC --resume DIR ...`) is printed
  143  terminated (SIGTERM): as 130
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default exits 2 too; keep one line, no usage dump
        self.exit(EXIT_USAGE, f"evalkit: error: {message} (see `{self.prog} --help`)\n")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    from .registry import REGISTRIES

    p = _Parser(
        prog="evalkit",
        formatter_class=_formatter,
        description="Audit generative image models against declarative YAML specs.\n\n"
        "A spec names models (subjects), how to sample them, and requirements the\n"
        "samples must meet; evalkit says PASS, FAIL or INCONCLUSIVE for each, with\n"
        "the confidence behind it, beside FID, KID, precision/recall and more.",
        epilog=EXIT_CODES,
    )
    p.add_argument("--version", action="version", version=f"evalkit {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    r = sub.add_parser("run", help="sample the subjects of a spec, judge every requirement, write a report",
                       formatter_class=_formatter, epilog=EXIT_CODES,
                       description="Run SPEC: sample each subject, measure every sample, judge each requirement,\n"
                       "print the verdict table and write a report folder (report.json, report.md, ...).")
    r.add_argument("spec", metavar="SPEC", help="the spec file (YAML)")
    r.add_argument("--device", default="auto", help="auto (CUDA when present; the run says which it chose and why), cpu, cuda or cuda:N [auto]")
    r.add_argument("--out", metavar="DIR", help="report folder [reports/<name>-<timestamp>]")
    r.add_argument("--n", type=int, metavar="N", help="samples per subject, overriding sampling.n")
    r.add_argument("--baseline", metavar="REPORT",
                   help="a report.json (or its folder), or from the run history: blessed (the run `evalkit bless` "
                   "chose), previous (this spec's latest run) or a RUN-ID; also fail on significant regressions")
    r.add_argument("--baseline-partial", action="store_true",
                   help="compare only the subjects and requirements that pair with the baseline's (by default "
                   "anything unpaired is an error, exit 2, found before sampling)")
    r.add_argument("--strict", action="store_true", help="treat INCONCLUSIVE as a failure (exit 1)")
    # formats are checked once the spec is read, not by argparse: its plugins may add formats
    r.add_argument("--format", action="append", metavar="FORMAT", dest="formats",
                   help="report files to write (repeatable; see `evalkit list formats`) [the spec's report.formats]")
    r.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE (for CI)")
    r.add_argument("--quiet", "-q", action="store_true",
                   help="no progress lines and no table; still prints the report path (progress goes to stderr: "
                   "a bar on a terminal, a plain line every 10 s in a CI log)")
    r.add_argument("--no-cache", action="store_true", help="recompute reference features instead of using the cache")
    r.add_argument("--overwrite", action="store_true",
                   help="reuse an existing --out folder: first remove the files evalkit's manifest there lists")
    r.add_argument("--time-limit", type=_seconds, metavar="SECONDS",
                   help="break a subject that takes longer than this to build and sample (exit 3) [the spec's]")
    r.add_argument("--resume", metavar="DIR",
                   help="finish the run journaled in report folder DIR (after a kill or SIGTERM); with a larger --n, "
                        "top up a finished run whose spec sets sampling.anytime: true (refused, exit 2, with the reason "
                        "otherwise: fixed-n bounds, metric requirements, an unfinished run)")
    _history_options(r, "the run history this run is indexed in [$EVALKIT_HISTORY, else history.sqlite in the "
                     "folder holding the report folder]", off=True)

    rj = sub.add_parser("rejudge", help="judge a finished run's saved states against a changed spec (no sampling)",
                        formatter_class=_formatter, epilog=EXIT_CODES,
                        description="Judge the run in report folder RUN against SPEC without sampling again: new\n"
                        "thresholds, confidences, or metrics computable from the saved features. A requirement\n"
                        "that needs what the run did not save is refused with the reason (exit 2).")
    rj.add_argument("run", metavar="RUN", help="the report folder of a finished run (it holds journal/)")
    rj.add_argument("spec", metavar="SPEC", help="the changed spec (YAML)")
    rj.add_argument("--out", metavar="DIR", help="where to write the new report [RUN/rejudged]")
    rj.add_argument("--strict", action="store_true", help="treat INCONCLUSIVE as a failure (exit 1)")
    rj.add_argument("--format", action="append", metavar="FORMAT", dest="formats",
                    help="report files to write (repeatable; see `evalkit list formats`) [the spec's report.formats]")
    rj.add_argument("--quiet", "-q", action="store_true", help="no table")
    rj.add_argument("--device", default="cpu", help="device for the reference features [cpu]")

    v = sub.add_parser("validate", help="check specs without running them", formatter_class=_formatter, epilog=EXIT_CODES,
                       description="Validate each SPEC: YAML, fields, names of checks/metrics/models, arguments.\n"
                       "Every problem is printed as file:line:col: field: message.")
    v.add_argument("specs", nargs="+", metavar="SPEC")
    v.add_argument("--strict", action="store_true", help="warnings (vacuous or unreachable bounds, look-alike names) are errors")

    sub.add_parser("schema", help="print the JSON Schema of the spec language (for editors)",
                   description="Print the JSON Schema of spec version 1, for editor completion and validation.")

    ls = sub.add_parser("list", help="list registered " + ", ".join(REGISTRIES),
                        description="List what is registered with its declaration: what it reads, its arguments\n"
                        "with defaults, for metrics the orientation, interval method and minimum N, and for\n"
                        "report formats the file each writes.",
                        formatter_class=_formatter)
    ls.add_argument("kind", nargs="?", choices=list(REGISTRIES))

    pl = sub.add_parser("plan", help="how many samples each requirement needs to be decided",
                        formatter_class=_formatter,
                        description="For each rate requirement of SPEC, the number of samples at which a model\n"
                        "whose true rate is r gets a decided verdict with 80% probability (power), for a range of r.")
    pl.add_argument("spec", metavar="SPEC")
    pl.add_argument("--power", type=float, default=0.8, help="probability of a decided verdict [0.8]")

    rp = sub.add_parser("reproduce", help="regenerate given samples of a report as PNG files",
                        description="Regenerate samples INDEX... of SUBJECT from the seeds recorded in REPORT\n"
                        "(bit-identical on the same device) and save them as PNG.", formatter_class=_formatter)
    rp.add_argument("report", metavar="REPORT", help="report.json or its folder")
    rp.add_argument("subject", metavar="SUBJECT")
    rp.add_argument("indices", nargs="*", type=int, metavar="INDEX", help="sample indices [the failing examples]")
    rp.add_argument("--out", metavar="DIR", default="reproduced", help="where to save PNGs [reproduced/]")
    rp.add_argument("--device", default="cpu", help="device to sample on [cpu]")
    rp.add_argument("--spec", metavar="SPEC", help="the spec the report was made with (the report's copy is only compared)")
    rp.add_argument("--trust-report", action="store_true",
                    help="rebuild the models from the report's own copy of the spec, importing the modules it names")

    rd = sub.add_parser("render", help="re-render an existing report (HTML, Markdown, JUnit) without sampling",
                        formatter_class=_formatter, epilog=EXIT_CODES,
                        description="Render REPORT (a report.json or its folder) again from report.json and the sample\n"
                        "store beside it; nothing is sampled. Bad input (a truncated or edited file) exits 2\n"
                        "and overwrites nothing.")
    rd.add_argument("report", metavar="REPORT", help="report.json or its folder")
    rd.add_argument("--format", action="append", metavar="FORMAT", dest="formats",
                    help="what to write (repeatable): a format of `evalkit list formats` other than json [html]")
    rd.add_argument("--out", metavar="DIR", help="where to write [the report's folder]")

    ex = sub.add_parser("export", help="a report's results and per-sample outcomes as tables (CSV, Parquet)",
                        formatter_class=_formatter, epilog=EXIT_CODES,
                        description="Write REPORT_DIR's run table (results.FORMAT: one row per subject x requirement,\n"
                        "and per metric no requirement judged) and sample table (per_sample.FORMAT: one row per\n"
                        "stored sample: index, asked class, seed, pass/undefined per rate requirement, measurements).\n"
                        "Read as untrusted input; a bad file exits 2 and nothing is written.")
    ex.add_argument("report", metavar="REPORT_DIR", help="report folder (or its report.json)")
    ex.add_argument("--out", metavar="DIR", help="where to write [the report's folder]")
    ex.add_argument("--format", dest="table_format", default="csv", metavar="FORMAT",
                    help="csv, or parquet (needs pyarrow) [csv]")

    cp = sub.add_parser("compare", help="compare subjects of reports: differences with intervals and significance",
                        formatter_class=_formatter, epilog=EXIT_CODES,
                        description="Compare every subject of REPORT... (or the --subjects named) pair by pair on every\n"
                        "requirement and metric: both values, the difference, its interval, and better / worse /\n"
                        "no significant difference, Holm-corrected over the whole table. Rates are paired (McNemar)\n"
                        "where two subjects drew the same samples. Writes comparison.json, .md and .html.")
    cp.add_argument("reports", nargs="+", metavar="REPORT", help="report folders or report.json files")
    cp.add_argument("--subjects", nargs="+", metavar="SUBJECT", help="compare only these subjects [all]")
    cp.add_argument("--out", metavar="DIR", help="where to write comparison.* [reports/compare-<timestamp>]")
    cp.add_argument("--fail-if-worse", action="append", metavar="SUBJECT", default=[],
                    help="exit 1 when SUBJECT is significantly worse than another on anything (repeatable)")
    cp.add_argument("--bootstrap", type=int, default=0, metavar="B",
                    help="FID and Vendi of subjects that drew the same samples: 0, the paired delta method "
                         "(seconds); B >= 2, a paired bootstrap of B replicates (minutes at d = 2048) [0]")
    cp.add_argument("--force", action="store_true",
                    help="compare reports of different references, feature spaces or spec versions anyway "
                    "(the table is labelled not comparable)")

    _history_parsers(sub)

    t = sub.add_parser("train", help="retrain a bundled zoo model reproducibly",
                       description="Train zoo model NAME from its seed; resumes from OUT/NAME/checkpoint.pt if present.")
    t.add_argument("name", metavar="NAME")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--out", default="models/training", metavar="DIR")
    t.add_argument("--max-steps", type=int, metavar="N", help="stop at step N, leaving a resumable checkpoint")
    t.add_argument("--export", action="store_true", help="write the weights at --max-steps even if training is unfinished")
    t.add_argument("--threads", type=int, help="torch CPU threads")

    st = sub.add_parser("site", help="a static site over report folders: runs, trends with change points, diffs",
                        formatter_class=_formatter, epilog=EXIT_CODES,
                        description="Walk DIR for report folders and write a static site (plain HTML, no script):\n"
                        "index.html (every run, newest first), a trend page per spec and subject with a plot per\n"
                        "requirement and metric and its change points (significant after correcting for every\n"
                        "comparison over the page's history), and a diff page between consecutive runs.\n"
                        "Unreadable reports are skipped with a warning naming the file.")
    st.add_argument("dir", metavar="DIR", help="folder holding report folders (searched recursively)")
    st.add_argument("--out", metavar="SITE_DIR", help="where to write the site [DIR/site]")
    st.add_argument("--history", metavar="DB", help="read the points from this history database instead of the folders")
    _verbose_after_the_verb(sub)
    return p


def _history_options(p, text: str, *, off: bool = False) -> None:
    p.add_argument("--history", metavar="PATH", help=text)
    if off:
        p.add_argument("--no-history", action="store_true", help="do not index this run (also: EVALKIT_HISTORY=off)")


def _history_parsers(sub) -> None:
    """``evalkit history rebuild|runs|show`` and ``evalkit bless`` (docs/history.md)."""
    where = "the run history [$EVALKIT_HISTORY, else reports/history.sqlite]"
    h = sub.add_parser("history", help="the run history: every run indexed, series per requirement and metric",
                       formatter_class=_formatter, epilog=EXIT_CODES,
                       description="Every `evalkit run` indexes its report in an SQLite run history (docs/history.md).\n"
                       "  runs      the indexed runs, newest first\n"
                       "  show      per requirement and metric, the values with intervals across runs, oldest first\n"
                       "  rebuild   (re)index every report folder under DIR")
    hs = h.add_subparsers(dest="history_verb", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    hb = hs.add_parser("rebuild", help="(re)index every report folder under DIR", formatter_class=_formatter)
    hb.add_argument("dir", metavar="DIR", help="a folder holding report folders (searched recursively)")
    hr = hs.add_parser("runs", help="the indexed runs, newest first", formatter_class=_formatter)
    hr.add_argument("--spec", metavar="NAME", help="only the runs of spec NAME")
    hw = hs.add_parser("show", help="values with intervals across runs, oldest first", formatter_class=_formatter)
    hw.add_argument("--spec", metavar="NAME", help="only spec NAME")
    hw.add_argument("--subject", metavar="S", help="only subject S (a name, or a subject key)")
    hw.add_argument("--requirement", metavar="R", help="only requirement or metric R")
    hw.add_argument("--html", metavar="DIR", help="also write the trend pages (a static site: index, one page per "
                    "spec and subject with a plot per requirement and metric, diffs) into DIR")
    for p in (hb, hr, hw):
        _history_options(p, where)
        p.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_after",
                       help="more log output (-vv for debug); also accepted before the verb")
    b = sub.add_parser("bless", help="make a run the blessed baseline of its spec (--baseline blessed)",
                       formatter_class=_formatter, epilog=EXIT_CODES,
                       description="Record RUN (a report folder, or a run id or its prefix from `evalkit history runs`)\n"
                       "as the blessed baseline of its spec, for every subject or those named. `evalkit run SPEC\n"
                       "--baseline blessed` compares with it until another run is blessed; newer runs never move it.")
    b.add_argument("run", metavar="RUN", help="a report folder (or report.json), or a run id / prefix")
    b.add_argument("--subject", action="append", metavar="S", help="bless only subject S (repeatable) [all]")
    _history_options(b, where)


def _verbose_after_the_verb(sub) -> None:
    """``-v`` is accepted after the verb too (``evalkit run spec.yaml -v``); its count adds to
    one given before the verb (a separate dest: argparse's subparser would overwrite it)."""
    for verb in sub.choices.values():
        verb.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_after",
                          help="more log output (-vv for debug); also accepted before the verb")


def main(argv: list[str] | None = None) -> int:
    """Run one command line; return its exit code.

    Called without ``argv`` (the ``evalkit`` script, ``python -m evalkit``) this is the
    process's entry point, and it ends the process itself with that code once stdout,
    stderr and the log are flushed (``os._exit``): a thread that user code left running
    (a model's non-daemon loader) cannot keep a CI job alive after the report, and a
    stderr that user code closed cannot turn the report's exit code into 1 or 120 at
    interpreter shutdown. With ``argv`` (tests, other programs) it only returns.
    """
    if argv is None:
        _keep_stderr()
    try:
        code = _main(argv)
    except KeyboardInterrupt as exc:  # also while the parser or a verb's modules are being built
        _err("interrupted")
        code = exit_code_for(exc)
    if argv is None:
        end_process(code)
    return code


def _keep_stderr() -> None:
    """Write evalkit's stderr through a private copy of fd 2.

    User code that closes fd 2 then only closes its own: evalkit's messages still reach
    the terminal or log, and the next file the run opens (which the OS may give fd 2)
    never receives a progress line meant for stderr."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return
        mine = os.dup(2)
        os.set_inheritable(mine, False)  # the run's child processes inherit fd 2 itself, as usual
        sys.stderr = open(mine, "w", encoding=sys.stderr.encoding, errors="backslashreplace", buffering=1,
                          closefd=True)
    except (OSError, ValueError, AttributeError):
        pass


def end_process(code: int) -> None:
    """Flush what was written (a closed or broken stream is skipped) and end the process with ``code``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        logging.shutdown()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _err(text: str) -> None:
    """A line on stderr that cannot fail the command: user code may have closed fd 2, and a
    message that cannot be shown must not change the exit code the report gives."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return the code in-process
        return int(exc.code or 0)
    level = logging.WARNING - 10 * min(args.verbose + getattr(args, "verbose_after", 0), 2)
    logging.basicConfig(level=level, format="evalkit: %(levelname)s: %(message)s")
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(cli_guard(lambda: _VERBS[args.verb](args)) or 0)
    except SpecError as exc:
        for line in exc.problems:
            _err(f"error: {_visible(line)}")
        return exit_code_for(exc)
    except EvalkitError as exc:
        _err(f"error: {_visible(str(exc))}")
        return exit_code_for(exc)
    except BrokenPipeError:
        # the reader went away (`evalkit plan spec.yaml | head`): stop quietly, as Unix tools do;
        # stdout is pointed at /dev/null so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _cmd_run(args) -> int:
    if not args.quiet and os.environ.get("RANK", "0") == "0":
        from .progress import say

        # before torch and the models load (seconds, minutes on a loaded machine): the run is never mute
        say(f"run {args.spec}: starting (loading torch and the spec)")
    from .api import default_out_dir, run
    from .spec.load import load_spec

    try:
        spec = load_spec(args.spec)
    except SpecError as exc:  # still say what else is wrong, so one fix-up round is enough
        from .preflight import RunOutputs, with_spec_problems

        outputs = RunOutputs(Path(args.out), args.formats or [], Path(args.junit) if args.junit else None,
                             args.overwrite) if args.out else None
        raise with_spec_problems(exc, outputs, args.baseline) from None
    out = Path(args.resume or args.out) if (args.resume or args.out) else default_out_dir(spec)
    try:
        report = run(spec, device=args.device, out=out, n=args.n, baseline=args.baseline, strict=args.strict,
                     baseline_partial=args.baseline_partial,
                     formats=args.formats, progress=not args.quiet, cache=not args.no_cache,
                     junit=args.junit, overwrite=args.overwrite, time_limit=args.time_limit, resume=args.resume,
                     history=False if args.no_history else args.history)
    except KeyboardInterrupt:  # outside the subjects (preflight, writing): resumable once the journal exists
        if (out / "journal" / "manifest.json").is_file():
            _err(f"evalkit: to finish the run: {_visible(resume_command(args, out))}")
        raise
    from .runner import process_rank

    if process_rank()[0] != 0:
        return report.exit_code
    _shown(lambda: _say_run(report, args, out))
    return report.exit_code  # whatever could or could not be printed, the report's code


def _say_run(report, args, out: Path) -> None:
    if not args.quiet:
        _print_results(report)
    _say_where(report, out, args.junit, args.quiet)
    if args.quiet:
        _say_broken(report)
    if report.interrupted and report.written_to is not None:
        _say_resume(report, args, out)


def _shown(emit) -> None:
    """Print the run's results; a stdout that is closed or gone (`| head`) loses the text, not the exit code."""
    try:
        emit()
    except BrokenPipeError:
        try:  # the interpreter's last flush must not raise again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    except (OSError, ValueError) as exc:
        log.debug("could not print the results: %s", exc)


def _say_resume(report, args, out: Path) -> None:
    """After Ctrl-C or SIGTERM: the one command that finishes the run (on stderr, also under --quiet)."""
    why = "terminated (SIGTERM)" if report.interrupted_by == "SIGTERM" else "interrupted (Ctrl-C)"
    _err(f"evalkit: {why}; what was measured is in {_visible(str(report.written_to))}/report.partial.json. "
         f"To finish the run (from this folder):\n  {_visible(resume_command(args, out))}")


def resume_command(args, folder: Path) -> str:
    """``evalkit run SPEC --resume DIR`` with every option of this command line that the
    resumed run must repeat (the journal refuses a changed --n; the outputs are the same),
    each word quoted for the shell. Paths are as given, so it runs from the same folder."""
    words = ["evalkit", "run", args.spec, "--resume", str(folder)]
    for flag, value in (("--n", args.n), ("--device", None if args.device == "auto" else args.device),
                        ("--baseline", args.baseline), ("--junit", args.junit), ("--time-limit", args.time_limit),
                        ("--history", getattr(args, "history", None))):
        if value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for fmt in args.formats or []:
        words += ["--format", fmt]
    for flag, on in (("--baseline-partial", args.baseline_partial), ("--strict", args.strict),
                     ("--no-cache", args.no_cache), ("--quiet", args.quiet),
                     ("--no-history", getattr(args, "no_history", False))):
        if on:
            words.append(flag)
    from .report.escape import shell_command

    return shell_command(*words)


def _print_results(report) -> None:
    print(_table(report))
    _print_networks(report)
    if report.baseline_source and report.baseline:
        print(_visible(f"\nbaseline: {report.baseline_source}"))
    if report.baseline:
        from .report.regressions import baseline_lines

        print("\n" + "\n".join(_visible(line) for line in baseline_lines(report)))


def _print_networks(report) -> None:
    from .report.provenance import networks_line

    if networks := networks_line(report):
        print(_visible(f"networks: {networks}"))


def _say_broken(report) -> None:
    """Even quiet, a run that broke says why (exit code 3 alone would leave a CI log mute)."""
    for s in report.subjects:
        if s.error:
            named = s.error if s.error.startswith(f"subject {s.name!r}") else f"subject {s.name!r}: {s.error}"
            _err(f"evalkit: {_visible(named)}")


def _cmd_rejudge(args) -> int:
    from .outfolder import writing_into
    from .report.folder import check_formats, write_report

    from .runner.rejudge import rejudge
    from .spec.load import load_spec

    spec = load_spec(args.spec)
    formats = args.formats or list(spec.report.formats)
    check_formats(formats)  # before the judging
    out = Path(args.out) if args.out else Path(args.run) / "rejudged"
    with writing_into(args.run, "rejudge") as run_dir, ExitStack() as stack:
        target = Path(os.path.realpath(out))
        if run_dir not in (target, *target.parents):  # the run folder's lock and manifest cover one inside it
            # taken before the judging, so an unusable --out is said before any saved state is read
            target = stack.enter_context(writing_into(target, "rejudge"))
        report = rejudge(run_dir, spec, device=args.device, strict=args.strict)
        write_report(report, target, formats)
    if not args.quiet:
        print(_table(report))
        _print_networks(report)
        print(f"\nreport: {out}/report.json")
    return report.exit_code


def _say_where(report, out: Path, junit: str | None, quiet: bool) -> None:
    """Where the report went; when it could not go where asked, why and where it is instead."""
    for error in report.write_errors:
        _err(f"error: {_visible(str(error))}")
    if report.write_errors:
        if report.written_to is None:
            _err("error: the report could not be written anywhere; the verdicts printed are all that is left")
        elif report.written_to != out:
            _err(f"error: the report is in {report.written_to}/ instead (exit 3)")
        if junit and report.junit_written_to is not None and report.junit_written_to != Path(junit):
            _err(f"error: the JUnit XML is in {report.junit_written_to} instead (exit 3)")
    if report.written_to is not None:  # --quiet still says where the report is
        stem = "report.partial.json" if report.interrupted else "report.json"
        print(("" if quiet else "\n") + f"report: {report.written_to}/{stem}")


def _seconds(text: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(v) or v <= 0 or v > 1e7:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, > 0 and at most 1e7")
    return v


def _table(report) -> str:
    from .report.regressions import shown_verdict

    lines = []
    for s in report.subjects:
        head = f"{s.name}: n={s.n}" + (f", {s.samples_per_second:g}/s" if s.samples_per_second else "")
        if s.stopped_early:
            head += ", stopped early (all decided)"
        lines.append(head)
        if s.error:
            lines.append(f"  BROKEN  {s.error}")
        lines += [_table_row(r, shown_verdict(r)) for r in s.requirements]
        if s.regressions:
            lines.append("  REGRESSED " + ", ".join(s.regressions))
    return "\n".join(_visible(line) for line in lines)  # names and model messages: control codes shown, not obeyed


def _table_row(r, verdict: str) -> str:
    """One requirement: verdict, name, value, the interval the verdict rests on and its confidence.

    A per-class verdict rests on one class (judge.verdicts.deciding_class): that class's
    count and interval are shown, at the level Holm decided it at; the pooled rate follows
    as context, without its interval, which decides nothing here and may straddle the bound."""
    from .judge.verdicts import deciding_class

    extra = f"  (~{r.more_samples} more samples)" if r.verdict == "INCONCLUSIVE" and r.more_samples else ""
    c = deciding_class(r) if r.per_class else None
    if c is not None:
        val = f"class {c.label}: {c.passed}/{c.n}={c.passed / c.n:.4f}" if c.n else f"class {c.label}: 0/0"
        pooled = f"{r.passed}/{r.n}={r.value:.4f}" if r.n else "-"
        return (f"  {verdict:<12} {r.name:<40} {val:<18} [{c.lower:.4g}, {c.upper:.4g}] @{c.confidence:.3g}"
                f"  (decided by class {c.label}; pooled {pooled}){extra}")
    if r.kind == "rate":
        val = f"{r.passed}/{r.n}={r.value:.4f}" if r.n else "-"
    else:
        val = f"{r.value:.4g} (N={r.n})"  # metrics move with N: the N judged at goes with the value
    bound = f"[{r.lower:.4g}, {r.upper:.4g}]" if r.lower is not None else ""
    return f"  {verdict:<12} {r.name:<40} {val:<18} {bound} @{r.confidence:.3g}{extra}"


def _visible(text: str) -> str:
    from .report.escape import visible

    return visible(text, keep_newlines=True)


def _cmd_validate(args) -> int:
    from .plan import make_plan
    from .preflight import classifier_problems, feature_weights_problems
    from .spec.load import load_spec

    code = 0
    for path in args.specs:
        try:
            plan = make_plan(load_spec(path))
            problems = classifier_problems(plan) + feature_weights_problems(plan)
            if problems:
                raise SpecError(f"{path}: {len(problems)} problem(s)", problems)
            if args.strict and plan.warnings:
                raise SpecError(f"{path}: {len(plan.warnings)} warning(s) under --strict", plan.warnings)
            for line in plan.warnings:
                _err(f"warning: {_visible(line)}")
            print(f"{path}: ok")
            for sp in plan.subjects:
                if not sp.classes_known:
                    print(f"{path}: note: subject {sp.name!r} is a factory function, so its classes are known only "
                          "when the run builds it; give its class a `num_classes` attribute to check labels here")
        except SpecError as exc:
            for line in exc.problems:
                _err(f"error: {_visible(line)}")
            code = max(code, exit_code_for(exc))
        except EvalkitError as exc:
            _err(f"error: {_visible(str(exc))}")
            code = max(code, exit_code_for(exc))
    return code


def _cmd_schema(args) -> int:
    from .spec.model import Spec

    print(json.dumps(Spec.model_json_schema(), indent=2))
    return 0


def _cmd_list(args) -> int:
    from . import registry

    registry.load_plugins()
    kinds = [args.kind] if args.kind else list(registry.REGISTRIES)
    for kind in kinds:
        print(f"{kind}:")
        for e in registry.REGISTRIES[kind]:
            print(f"  {e.name:<22} {e.help}")
            for line in e.decl.describe():
                print(f"  {'':<22}   {line}")
    return 0


def _cmd_plan(args) -> int:
    from .plan_report import cmd_plan

    return cmd_plan(args)


def _cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    paths = reproduce(args.report, args.subject, args.indices or None, out=args.out, device=args.device,
                      spec=args.spec, trust_report=args.trust_report, say=lambda m: _err(_visible(m)))
    for p in paths:
        print(p)
    return 0


def _cmd_render(args) -> int:
    from .outfolder import writing_into
    from .report.rerender import render

    report = Path(args.report)
    target = Path(args.out) if args.out else report if report.is_dir() else report.parent
    with writing_into(target, "render") as folder:  # locked, no link followed, and its files in the manifest
        paths = render(args.report, args.formats, folder)
    for path in paths:
        print(target / path.name)  # in the user's words, as before the folder was resolved
    return 0

def _cmd_export(args) -> int:
    from .outfolder import writing_into
    from .report.export import check_format, load, write_tables

    check_format(args.table_format)  # before anything is read
    report, source = load(args.report)  # untrusted input, read before any folder is locked or written
    target = Path(args.out) if args.out else source
    with writing_into(target, "export") as folder:  # locked, no link followed, and its files in the manifest
        paths = write_tables(report, source, folder, args.table_format)
    for path in paths:
        print(target / path.name)
    return 0


def _cmd_compare(args) -> int:
    from datetime import datetime

    from .outfolder import writing_into
    from .compare.contenders import load_contenders, resolve_label
    from .compare.ranking import worse_rows
    from .compare.table import build
    from .report.comparison import to_text, write

    contenders = load_contenders(args.reports, args.subjects)
    watched = [resolve_label(contenders, name) for name in args.fail_if_worse]
    table = build(contenders, force=args.force, bootstrap=args.bootstrap)
    out = Path(args.out) if args.out else Path("reports") / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    with writing_into(out, "compare") as folder:
        paths = write(table, folder)
    print(_visible(to_text(table)), end="")
    code = 0
    for label in watched:
        worse = worse_rows(table, label)
        if worse:
            _err(f"{label} is significantly worse on: {', '.join(sorted({r.name for r in worse}))}")
            code = 1
    print(f"\ncomparison: {paths[0].parent}/comparison.{{json,md,html}}")
    return code


def _history_file(args, *, existing: bool = True) -> Path:
    """The database a history verb uses; one that must exist (reading) is checked here."""
    from .history.index import existing_history, history_path

    path = history_path(args.history)
    return existing_history(path) if existing or path is None else path


def _cmd_history(args) -> int:
    from .history.db import History, errors_named

    if args.history_verb == "rebuild":
        return _history_rebuild(args)
    path = _history_file(args)
    with History.open(path) as h, errors_named(path):
        if args.history_verb == "runs":
            from .history.show import runs_text

            runs = h.runs(args.spec)
            print(_visible(runs_text(runs)) if runs else "no runs indexed" + (f" for spec {args.spec!r}" if args.spec else ""))
            return 0
        from .history.show import history_rows, rows_text

        points = h.points(args.spec, args.subject, args.requirement)
        # change points are tested over whole pages (spec x subject), whatever --requirement shows
        page_points = h.points(args.spec, args.subject) if args.requirement else points
    if not points:
        _err("no points match" + "".join(f" {k} {v!r}" for k, v in (("--spec", args.spec), ("--subject", args.subject),
                                                                      ("--requirement", args.requirement)) if v))
        return 0
    print(_visible(rows_text(history_rows(points))))
    _say_change_points(page_points, args.requirement)
    if args.html:
        from .history.site import build_site
        from .outfolder import writing_into

        with writing_into(Path(args.html), "history pages") as folder:
            build_site(None, folder, points=page_points)
        print(Path(args.html) / "index.html")
    return 0


def _say_change_points(points, only: str | None) -> None:
    """The change points found on each page (spec x subject), Bonferroni over the page's series."""
    from .history.trends import pages_of

    for page in pages_of(points):
        flagged = [s for s in page.series if s.test is not None and s.test.flagged and (only is None or s.name == only)]
        tested = sum(s.test is not None for s in page.series)
        head = f"{page.spec} / {page.subject}: "
        if not flagged:
            print(_visible(head + f"no change point ({tested} series tested, family-wise error <= "
                           f"{1 - page.confidence:.2g} per page)"))
        for s in flagged:
            t = s.test
            if t is None:
                continue
            run = s.points[t.split]
            print(_visible(head + f"change point in {s.name!r} from run {run.run_id[:12]} ({run.finished}): "
                           f"{t.before:.4g} -> {t.after:.4g}, adjusted p = {t.p_adjusted:.3g} (max-split "
                           f"statistic, permutation p, Bonferroni over {tested} series)"))


def _history_rebuild(args) -> int:
    from .history.db import History, errors_named
    from .history.index import rebuild

    path = _history_file(args, existing=False)
    with History.open(path) as h, errors_named(path):
        indexed, skipped = rebuild(h, Path(args.dir))
    for line in skipped:
        _err(f"warning: {_visible(line)}")
    print(f"indexed {len(indexed)} run(s) from {_visible(args.dir)} into {_visible(str(path))}"
          + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0


def _cmd_bless(args) -> int:
    from .history.bless import bless

    path = _history_file(args, existing=not Path(args.run).exists())  # a folder is indexed if need be
    for line in bless(path, args.run, args.subject):
        print(_visible(line))
    return 0


def _cmd_site(args) -> int:
    from ._errors import UsageError
    from .history.site import build_site, load_runs, points_from_history
    from .outfolder import writing_into

    root = Path(args.dir)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder; name the folder that holds the report folders")
    runs = load_runs(root)
    points = points_from_history(args.history) if args.history else None
    if not runs and not points:
        raise UsageError(f"{root}: no readable report.json found; run `evalkit run SPEC --out {root}/NAME` first")
    out = Path(args.out) if args.out else root / "site"
    with writing_into(out, "site") as folder:
        build_site(runs, folder, points=points)
    print(out / "index.html")
    return 0


def _cmd_train(args) -> int:
    import torch

    from .zoo.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    path = train(args.name, out=args.out, epochs=args.epochs, seed=args.seed, progress=sys.stderr.isatty(),
                 max_steps=args.max_steps, export_early=args.export)
    print(path)
    return 0


_VERBS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "schema": _cmd_schema,
    "list": _cmd_list,
    "plan": _cmd_plan,
    "reproduce": _cmd_reproduce,
    "rejudge": _cmd_rejudge,
    "render": _cmd_render,
    "export": _cmd_export,
    "train": _cmd_train,
    "site": _cmd_site,
    "compare": _cmd_compare,
    "history": _cmd_history,
    "bless": _cmd_bless,
}


if __name__ == "__main__":
    sys.exit(main())
