"""evalkit as pytest tests: every subject x requirement of a spec is one test item.

    pytest --evalkit specs/ci-smoke.yaml            # a spec (or a folder of specs)
    pytest tests/                                   # also collects files named evalkit_*.yaml

A FAIL is a test failure whose message gives the value, the bound and the
interval; an INCONCLUSIVE is a skip that says how many more samples would decide
it (a failure under ``--evalkit-strict``); a requirement that regressed against
``--evalkit-baseline`` fails. One sampling run serves every item of a spec, and
only the subjects that ``-k`` leaves selected are sampled. Items are ordinary
pytest items, so ``--junitxml``, ``-k``, ``-x`` and ``--lf`` work as usual.

Loaded through the ``pytest11`` entry point of an installed evalkit, or with
``pytest -p evalkit.pytest_plugin``. Without ``--evalkit`` and without a matching
file, this module imports nothing heavy (no torch): other test suites do not pay
for it.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATTERN = "evalkit_*.yaml"
_SPECS = pytest.StashKey[dict[str, set[Path]]]()  # the spec files and folders named by --evalkit


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("evalkit", "evalkit: audit generative models as tests")
    g.addoption("--evalkit", action="append", default=[], metavar="SPEC",
                help="an evalkit spec (or a folder of .yaml specs) whose subjects x requirements become test items "
                "(repeatable)")
    g.addoption("--evalkit-strict", action="store_true",
                help="an INCONCLUSIVE requirement fails instead of being skipped")
    g.addoption("--evalkit-n", type=int, metavar="N", help="samples per subject, overriding the spec's sampling.n")
    g.addoption("--evalkit-device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N [auto]")
    g.addoption("--evalkit-out", metavar="DIR", help="also write each spec's report folder under DIR")
    g.addoption("--evalkit-baseline", metavar="REPORT",
                help="a report.json: a requirement significantly worse than in it fails (see `evalkit run --baseline`)")
    parser.addini("evalkit_pattern", f"file names collected as evalkit specs [{DEFAULT_PATTERN}]", default=DEFAULT_PATTERN)


def pytest_configure(config: pytest.Config) -> None:
    files: set[Path] = set()
    folders: set[Path] = set()
    for given in config.getoption("evalkit") or []:
        path = Path(given).resolve()
        if path.is_dir():
            folders.add(path)
        elif path.is_file():
            files.add(path)
        else:
            raise pytest.UsageError(f"--evalkit {given}: no such spec file or folder")
        # the paths join the session's arguments, so pytest collects them beside the rest
        if str(path) not in config.args:
            config.args.append(str(path))
    config.stash[_SPECS] = {"files": files, "folders": folders}


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    specs: dict[str, set[Path]] = parent.config.stash.get(_SPECS, {"files": set(), "folders": set()})
    resolved = file_path.resolve()
    chosen = resolved in specs["files"] or resolved.parent in specs["folders"]
    if chosen or fnmatch.fnmatch(file_path.name, parent.config.getini("evalkit_pattern") or DEFAULT_PATTERN):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class EvalkitFailure(Exception):
    """A requirement that did not pass: its message is the whole story, no traceback."""


class SpecFile(pytest.File):
    """One spec: a collector of its subjects; runs the spec once, for the first item that needs it."""

    def collect(self):
        from .spec.load import load_spec

        self.spec = load_spec(self.path)  # a SpecError is shown by repr_failure as file:line:col lines
        self._outcome: Any = None
        for sub in self.spec.subjects:
            yield SubjectNode.from_parent(self, name=sub.display_name)

    def repr_failure(self, excinfo):
        from ._errors import EvalkitError, SpecError

        if isinstance(excinfo.value, SpecError):
            return "\n".join(excinfo.value.problems)
        if isinstance(excinfo.value, EvalkitError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def report(self):
        """The Report of this spec (run once), or the EvalkitError that stopped it."""
        if self._outcome is None:
            self._outcome = self._run()
        return self._outcome

    def _run(self):
        from . import api
        from ._errors import EvalkitError

        config = self.config
        selected = [item.parent.name for item in self.session.items
                    if isinstance(item, RequirementItem) and item.parent.parent is self]
        spec = self.spec
        if set(selected) != {s.display_name for s in spec.subjects}:  # -k left some subjects out: do not sample them
            spec = spec.model_copy(update={"subjects": [s for s in spec.subjects if s.display_name in selected]})
        out = config.getoption("evalkit_out")
        try:
            return api.run(spec, n=config.getoption("evalkit_n"), device=config.getoption("evalkit_device"),
                           baseline=config.getoption("evalkit_baseline"),
                           strict=config.getoption("evalkit_strict"), write=out is not None,
                           out=Path(out) / self.path.stem if out else None,
                           progress=config.getoption("capture") == "no")  # progress only where pytest shows it
        except EvalkitError as exc:
            return exc


class SubjectNode(pytest.Collector):
    """One subject of a spec: a collector of its requirements."""

    def collect(self):
        for req in self.parent.spec.requirements:
            yield RequirementItem.from_parent(self, name=req.label)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def describe(r) -> str:
    """Value, bound, interval, n and confidence of a requirement result, in one line."""
    from .judge.verdicts import deciding_class

    bounds = []
    if r.at_least is not None:
        bounds.append(f">= {_fmt(r.at_least)}")
    if r.at_most is not None:
        bounds.append(f"<= {_fmt(r.at_most)}")
    c = deciding_class(r) if r.per_class else None
    if c is not None:  # a per-class verdict rests on one class: name it, with its own interval
        rate = _fmt(c.passed / c.n) if c.n else "-"
        return (f"{r.verdict}: decided by class {c.label}: value {c.passed}/{c.n} = {rate}, bound "
                f"{' and '.join(bounds)}, one-sided interval [{_fmt(c.lower)}, {_fmt(c.upper)}] at confidence "
                f"{c.confidence:.4g} ({r.method}; {r.correction}); pooled over the classes {r.passed}/{r.n} = "
                f"{_fmt(r.value)}")
    value = f"{r.passed}/{r.n} = {_fmt(r.value)}" if r.kind == "rate" else _fmt(r.value)
    text = (f"{r.verdict}: value {value}, bound {' and '.join(bounds)}, one-sided interval [{_fmt(r.lower)}, "
            f"{_fmt(r.upper)}] at confidence {r.confidence:.4g}")
    if r.kind == "metric" and r.n:
        text += f", n = {r.n}"
    if r.method:
        text += f" ({r.method})"
    return text


class RequirementItem(pytest.Item):
    """One subject x requirement."""

    def runtest(self) -> None:
        from ._errors import EvalkitError

        subject = self.parent
        spec_file = subject.parent if subject is not None else None
        if subject is None or not isinstance(spec_file, SpecFile):  # collected as SpecFile > SubjectNode > item
            raise EvalkitFailure(f"internal error: requirement {self.name!r} was collected outside a spec file's subject")
        report = spec_file.report()
        if isinstance(report, EvalkitError):
            raise EvalkitFailure(f"the evalkit run of {spec_file.path.name} stopped: {report}")
        sub = next((s for s in report.subjects if s.name == subject.name), None)
        if sub is None or sub.status != "ok":
            why = sub.error if sub is not None else "it was not run (the run was interrupted)"
            raise EvalkitFailure(f"subject {subject.name!r} broke: {why}")
        r = next(x for x in sub.requirements if x.name == self.name)
        for key in ("verdict", "value", "lower", "upper", "n", "confidence"):
            self.user_properties.append((key, getattr(r, key)))
        self._judge(r)

    def _judge(self, r) -> None:
        """Pass, fail (FAIL, REGRESSED, INCONCLUSIVE under --evalkit-strict) or skip (INCONCLUSIVE)."""
        text = describe(r)
        if getattr(r, "regressed", False) and r.baseline is not None:
            c = r.baseline
            raise EvalkitFailure(f"REGRESSED against the baseline: value {_fmt(c.value)} vs baseline "
                                 f"{_fmt(c.baseline_value)} (difference {_fmt(c.difference)}, tolerance {c.tolerance:g}); "
                                 f"{text}")
        if r.verdict == "FAIL":
            raise EvalkitFailure(text)
        if r.verdict == "INCONCLUSIVE":
            more = (f"about {r.more_samples} more samples would decide it" if r.more_samples is not None
                    else "no sample size decides it (the rate sits on the bound)")
            if self.config.getoption("evalkit_strict"):
                raise EvalkitFailure(f"{text}; {more} (an INCONCLUSIVE fails under --evalkit-strict)")
            pytest.skip(f"{text}; {more}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, EvalkitFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"evalkit: {self.parent.name} :: {self.name}"
