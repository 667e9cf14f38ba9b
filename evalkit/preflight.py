"""Preflight: everything about a run's outputs and baseline that can fail, checked before sampling.

A run may take hours; finding at write time that ``--out`` is a file, that the disk is
read-only or full, that ``--junit`` names a folder or that the baseline is malformed
loses all of it. ``output_problems`` and ``read_baseline`` find these before the first
sample, and ``check_run`` reports them together with the spec's own problems (from
``plan.make_plan``) as one list: exit 2, nothing sampled.

File names evalkit derives from user text (spec and subject names) go through ``slug``,
so no name can be too long for the file system or lead a path out of its folder.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from . import registry
from ._errors import DataError, SpecError

log = logging.getLogger("evalkit")

MANIFEST = ".evalkit-manifest.json"
NAME_MAX = 255  # bytes per path component on every common file system
SLUG_MAX = 80
SCAN_MAX = 10_000  # files looked at in an existing --out  # derived file-name stems stay short; a digest keeps distinct names distinct


def slug(text: str, max_len: int = SLUG_MAX) -> str:
    """A file-name stem for ``text``: ``[A-Za-z0-9._-]`` only, no leading dot, at most ``max_len``.

    Distinct texts give distinct stems: whenever characters were replaced or cut, an
    8-hex digest of the whole text is appended. Never empty, never ``.`` or ``..``.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "run"
    if stem == text and len(stem) <= max_len:
        return stem
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem[: max_len - 9].rstrip('-.') or 'run'}-{digest}"


@dataclass
class RunOutputs:
    """Where a run will write, as the user gave it."""

    out: Path
    formats: list[str]
    junit: Path | None = None
    overwrite: bool = False
    resume: bool = False  # --resume: the folder holds the run's own journal, and is taken as it is
    n_subjects: int = 1
    n_requirements: int = 1


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    baseline: object | None = None  # the Report read from --baseline


def estimate_bytes(outputs: RunOutputs) -> int:
    """A generous upper estimate of the report folder's size (the files are small; the
    estimate only has to catch a disk that is full or nearly so)."""
    per_cell = 16 * 1024  # a requirement of a subject in JSON, Markdown, HTML and JUnit, with failing examples
    return 1024 * 1024 + outputs.n_subjects * (outputs.n_requirements + 4) * per_cell * max(1, len(outputs.formats))


def output_problems(outputs: RunOutputs) -> list[str]:
    """One line per reason the report folder or the JUnit file could not be written."""
    problems = _folder_problems(outputs)
    if outputs.junit is not None:
        problems += _junit_problems(outputs.junit)
    return problems


def _folder_problems(outputs: RunOutputs) -> list[str]:
    out = outputs.out
    where = f"--out {str(out)!r}"
    long = _name_problem(out)
    if long:
        return [f"{where}: {long}"]
    if out.exists() and not out.is_dir():
        return [f"{where}: is a file, not a folder; name a new folder for the report"]
    if out.is_symlink() and not out.exists():
        return [f"{where}: is a link to {os.readlink(out)!r}, which does not exist"]
    ancestor, blocker = _nearest_existing(out)
    if blocker is not None:
        return [f"{where}: {str(blocker)!r} is a file, so no folder can be made under it"]
    if out.is_dir() and not outputs.resume:
        stale = stale_files(out, outputs.overwrite)
        if stale:
            return [stale]
    problems = []
    why = _unwritable(ancestor)
    if why:
        problems.append(f"{where}: cannot write in {str(ancestor)!r} ({why}); choose a writable folder")
    else:
        need = estimate_bytes(outputs)
        free = shutil.disk_usage(ancestor).free
        if free < need:
            problems.append(f"{where}: only {free // 1024} KiB free on the disk of {str(ancestor)!r}; "
                            f"the report needs about {need // 1024} KiB")
    return problems


def stale_files(out: Path, overwrite: bool) -> str | None:
    """Why the existing folder ``out`` cannot take a new report, or None.

    Without ``--overwrite`` only an empty folder is taken. With it, the files of an
    earlier evalkit run (listed in its manifest) will be removed; files evalkit did not
    write are never removed, so their presence refuses the folder.
    """
    from .outfolder import read_manifest

    # bounded: `--out ~` must not walk a whole home folder to say it is not empty
    present = sorted(islice((str(p.relative_to(out)) for p in out.rglob("*") if not p.is_dir()), SCAN_MAX))
    if not present:
        return None
    where = f"--out {str(out)!r}"
    count = f"{len(present)}{'+' if len(present) == SCAN_MAX else ''}"
    shown = ", ".join(present[:3]) + (f" and {count} in all" if len(present) > 3 else "")
    if not overwrite:
        return (f"{where}: the folder exists and holds {count} file(s) ({shown}); give a new folder, "
                "or --overwrite to replace the report evalkit wrote there")
    if len(present) == SCAN_MAX:
        return f"{where}: holds more than {SCAN_MAX} files; --overwrite takes only a report folder evalkit wrote"
    listed = read_manifest(out)
    foreign = [f for f in present if f != MANIFEST and f not in listed]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return (f"{where}: --overwrite removes only files evalkit's manifest ({MANIFEST}) lists, and this folder "
                f"also holds {shown}; move them or give a new folder")
    return None


def _junit_problems(junit: Path) -> list[str]:
    where = f"--junit {str(junit)!r}"
    long = _name_problem(junit)
    if long:
        return [f"{where}: {long}"]
    if junit.is_dir():
        return [f"{where}: is a folder; name a file, e.g. {str(junit / 'junit.xml')!r}"]
    ancestor, blocker = _nearest_existing(junit.parent)
    if blocker is not None:
        return [f"{where}: {str(blocker)!r} is a file, so no folder can be made under it"]
    why = _unwritable(ancestor)
    if why:
        return [f"{where}: cannot write in {str(ancestor)!r} ({why})"]
    return []


def _name_problem(path: Path) -> str | None:
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            return f"the name {part[:40]!r}... is {len(os.fsencode(part))} bytes; file systems allow {NAME_MAX}"
    if len(os.fsencode(str(path.absolute()))) > 4000:
        return "the path is longer than the file system allows (4096 bytes)"
    return None


def _nearest_existing(path: Path) -> tuple[Path, Path | None]:
    """(nearest existing folder at or above ``path``, a file found in its way or None)."""
    p = path.absolute()
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        return p.parent, p
    return p, None


def _unwritable(folder: Path) -> str | None:
    """Why a new file cannot be made in ``folder``, found by making one (mode bits lie to root)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".evalkit-probe-", dir=folder)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return "read-only file system"
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def read_baseline(path: str | Path) -> tuple[object | None, list[str]]:
    """(the baseline Report, []) or (None, [one line per problem, naming the file and field])."""
    from .records.reading import ReportFileError, read_finished_report

    try:
        return read_finished_report(path, "a baseline"), []
    except ReportFileError as exc:
        return None, [f"--baseline {exc.path}: {line}" for line in exc.problems]
    except DataError as exc:
        return None, [f"--baseline {path}: {exc}"]


def check_run(spec, outputs: RunOutputs | None, baseline: str | Path | None, *, n: int | None = None,
              strict: bool = False) -> Preflight:
    """Validate the spec (``plan.make_plan``), the outputs and the baseline together.

    Raises one ``SpecError`` (exit 2) listing every problem; returns the baseline read. The plan's
    warnings (vacuous or unreachable bounds, look-alike names) are logged, and are problems under ``strict``.
    """
    from .plan import make_plan

    problems: list[str] = []
    try:
        plan = make_plan(spec, n_override=n)
        problems += classifier_problems(plan)
        if strict:
            problems += plan.warnings
        for line in [] if strict else plan.warnings:
            log.warning("%s", line)
        if outputs is not None:
            outputs.n_subjects = len(plan.subjects)
            outputs.n_requirements = max(1, len(plan.requirements))
    except SpecError as exc:
        problems += exc.problems
    if outputs is not None:
        problems += output_problems(outputs)
    report = None
    if baseline is not None:
        report, more = read_baseline(baseline)
        problems += more
    if problems:
        raise SpecError(f"{len(problems)} problem(s) before the run", problems)
    return Preflight(problems, report)


def with_spec_problems(exc: SpecError, outputs: RunOutputs | None, baseline: str | Path | None) -> SpecError:
    """A spec that failed to load, plus the output and baseline problems: still one answer."""
    problems = list(exc.problems)
    if outputs is not None:
        problems += output_problems(outputs)
    if baseline is not None:
        problems += read_baseline(baseline)[1]
    return SpecError(f"{len(problems)} problem(s) before the run", problems)


def classifier_problems(plan) -> list[str]:
    """A user classifier that label checks need, built once per subject shape (on the CPU, two blank
    images): it must give class logits, and as many classes as every conditional subject asks.
    Here and not in ``plan`` because it builds a torch model (``validate`` calls it too)."""
    from .contract import Input
    from .plan import subject_shape

    spec = plan.spec
    if not spec.classifier or Input.CLASSIFIER not in plan.needs or spec.classifier in registry.features:
        return []
    from .observe.features import class_count_problem, probe_classifier

    where = f"{spec.where('classifier')}: classifier"
    seen: dict[tuple, int | None] = {}
    problems: list[str] = []
    for sp in plan.subjects:
        shape = subject_shape(spec, sp)
        if shape is None or sp.num_classes is None:
            continue
        if shape not in seen:
            try:
                seen[shape] = probe_classifier(spec.classifier, shape, spec.base_dir)
            except SpecError as exc:
                seen[shape] = None
                problems.append(f"{where}: {exc}")
        why = None if seen[shape] is None else class_count_problem(seen[shape], sp.name, sp.num_classes)
        if why:
            problems.append(f"{where}: {why}")
    return problems
