"""The report folder (``--out``): what may be written there, its manifest, its lock, ``--overwrite``.

One module for all of it (preflight imports the checks from here; nothing here imports preflight).

- **A closed world.** The folder is resolved to an absolute path before anything runs and
  confined (``_io.confined``): no write, read or delete inside it passes through a symbolic
  link, and a link found inside is an error naming it (exit 2). Only regular files are
  taken: a FIFO or a device inside is refused the same way.
- **The manifest** ``.evalkit-manifest.json`` (version 2) lists every file evalkit wrote
  there with its SHA-256 and size. ``--overwrite`` removes exactly the listed files whose
  content still matches; a file that is not listed, changed since, or listed by a version-1
  manifest (which records no digests) is never removed, and its presence refuses the folder.
  ``render``, ``compare`` and ``rejudge`` add the files they write to it.
- **The lock** ``.evalkit-lock``: ``fcntl.flock`` held by the process writing the folder (a
  run, ``--resume``, ``rejudge``, ``render``, ``compare``), holding its pid. A second one is
  refused (exit 2) naming that pid. The lock file stays: removing it while another process
  waits on it would let two hold "the" lock.
- **Fallback.** Preflight checked the folder, but the disk can fill or turn read-only during
  a run of hours. Any ``OSError`` while writing sends the whole report to a fresh fallback
  folder (``$TMPDIR/evalkit-fallback-<name>-<time>/``), says where on stderr, and the run
  exits 3.

File names evalkit derives from user text (spec and subject names) go through ``slug``,
so no name can be too long for the file system or lead a path out of its folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from ._errors import UsageError
from ._io import (LinkInFolder, atomic_write_text, check_inside, confined, kind_of, read_regular, remove_file,
                  written_in)

log = logging.getLogger(__name__)

MANIFEST = ".evalkit-manifest.json"
LOCK = ".evalkit-lock"
BOOKKEEPING = (MANIFEST, LOCK)  # evalkit's own files in the folder, never listed, never "foreign"
MANIFEST_FORMAT = "evalkit-manifest"
MANIFEST_VERSION = 2  # 2: a SHA-256 and a size per file (1 listed names only)
MANIFEST_MAX = 16 << 20  # bytes: a manifest of SCAN_MAX files is well under 2 MiB
NAME_MAX = 255  # bytes per path component on every common file system
SLUG_MAX = 80  # derived file-name stems stay short; a digest keeps distinct names distinct
SCAN_MAX = 10_000  # files looked at in an existing --out


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


# ---------------------------------------------------------------- what the folder holds

@dataclass
class Scan:
    """What an existing folder holds, found without following any link (at most SCAN_MAX entries)."""

    files: list[str] = field(default_factory=list)  # regular files, relative, bookkeeping excluded
    links: list[str] = field(default_factory=list)
    odd: list[tuple[str, str]] = field(default_factory=list)  # (relative path, what it is): FIFOs, devices, ...
    full: bool = False  # stopped at SCAN_MAX


def scan(folder: Path) -> Scan:
    out = Scan()
    stack = [(folder, "")]
    while stack and not out.full:
        where, prefix = stack.pop()
        with os.scandir(where) as it:
            for entry in it:
                rel = prefix + entry.name
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    out.links.append(rel)
                elif stat.S_ISDIR(st.st_mode):
                    stack.append((Path(entry.path), rel + "/"))
                elif not stat.S_ISREG(st.st_mode):
                    out.odd.append((rel, kind_of(st.st_mode)))
                elif rel not in BOOKKEEPING:
                    out.files.append(rel)
                if len(out.files) + len(out.links) + len(out.odd) >= SCAN_MAX:
                    out.full = True
                    break
    out.files.sort()
    return out


def link_problem(folder: Path, found: Scan) -> str | None:
    """The closed-world refusal: a link or a non-regular file inside the folder, named."""
    if found.links:
        more = f" (and {len(found.links) - 1} more link(s))" if len(found.links) > 1 else ""
        return str(LinkInFolder(folder / found.links[0], folder)) + more
    if found.odd:
        rel, what = found.odd[0]
        return (f"{folder / rel}: is {what} inside the report folder {folder}; evalkit reads and writes only "
                "regular files there: remove it, or give a new folder")
    return None


def file_digest(path: Path) -> str | None:
    """SHA-256 of a regular file inside the folder (never through a link), None when it is not one."""
    try:
        check_inside(path)
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        h = hashlib.sha256()
        with open(path, "rb", opener=lambda p, fl: os.open(p, fl | os.O_NOFOLLOW | os.O_NONBLOCK)) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except (OSError, LinkInFolder):
        return None


# ---------------------------------------------------------------- the manifest

@dataclass
class Manifest:
    """A folder's manifest as read: relative path -> SHA-256 (None: a version-1 entry, no digest)."""

    files: dict[str, str | None] = field(default_factory=dict)
    version: int | None = None
    problem: str | None = None  # why it could not be read (it then lists nothing)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of ``folder``; an absent, unreadable, FIFO or oversized one lists nothing (and says why).

    Entries that are absolute or climb out of the folder (``..``) are dropped: a crafted
    manifest must not make ``--overwrite`` delete files elsewhere."""
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return Manifest()
    try:
        data = json.loads(read_regular(path, limit=MANIFEST_MAX, why="a manifest evalkit writes is far smaller"))
    except LinkInFolder as exc:
        return Manifest(problem=str(exc))
    except OSError as exc:
        return Manifest(problem=f"{path}: cannot be read ({exc.strerror or exc})")
    except (ValueError, RecursionError) as exc:
        return Manifest(problem=f"{path}: is not JSON ({exc})")
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), list):
        return Manifest(problem=f"{path}: is not an evalkit manifest")
    version = data.get("version")
    out = Manifest(version=version if isinstance(version, int) else None)
    for entry in data["files"]:
        rel, digest = _entry(entry, version)
        if rel is not None:
            out.files[rel] = digest
    return out


def _entry(entry, version) -> tuple[str | None, str | None]:
    """(relative path, digest) of one manifest entry; (None, None) for one that is not usable."""
    if version == MANIFEST_VERSION and isinstance(entry, dict):
        rel, digest = entry.get("path"), entry.get("sha256")
        digest = digest if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) else None
    else:
        rel, digest = entry, None  # version 1: names only
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        return None, None
    return Path(rel).as_posix(), digest


def write_manifest(folder: Path) -> None:
    """Write the manifest: the earlier one's files still as recorded, plus those this process wrote.

    A file is listed with its digest now; an earlier entry whose content changed since (or
    without a digest) is dropped, so ``--overwrite`` later leaves it alone."""
    earlier = read_manifest(folder).files if (folder / MANIFEST).is_file() else {}
    expected = {**{k: v for k, v in earlier.items() if v is not None}, **written_in(folder)}
    entries = []
    for rel in sorted(expected):
        if rel in BOOKKEEPING or rel.endswith(".tmp") or rel.endswith(".part"):
            continue
        digest = file_digest(folder / rel)
        if digest is None or expected[rel] not in (None, digest):
            continue
        entries.append({"path": rel, "sha256": digest, "bytes": os.lstat(folder / rel).st_size})
    atomic_write_text(folder / MANIFEST, json.dumps({"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                                                     "files": entries}, indent=1) + "\n")


def removable(folder: Path, manifest: Manifest) -> dict[str, str]:
    """The listed files ``--overwrite`` may remove: regular, and still what the manifest recorded."""
    return {rel: d for rel, d in manifest.files.items() if d is not None and file_digest(folder / rel) == d}


def clear_previous(folder: Path) -> list[str]:
    """Remove the files an earlier run listed in ``folder``'s manifest (digests matching); return them."""
    removed = []
    for rel in sorted(removable(folder, read_manifest(folder))):
        if remove_file(folder / rel):  # under torchrun another process may have been first
            removed.append(rel)
    if os.path.lexists(folder / MANIFEST):
        remove_file(folder / MANIFEST)
    return removed


# ---------------------------------------------------------------- preflight of the outputs

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
    if out.is_dir():
        stale = folder_problem(out, outputs.overwrite, outputs.resume)
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


def folder_problem(out: Path, overwrite: bool, resume: bool = False) -> str | None:
    """Why the existing folder ``out`` cannot take a new report (or a resumed one), or None."""
    try:
        found = scan(out)
    except OSError as exc:
        return f"--out {str(out)!r}: cannot be listed ({exc.strerror or exc})"
    bad = link_problem(Path(os.path.realpath(out)), found)
    if bad:
        return bad
    return None if resume else stale_files(out, overwrite, found)


def stale_files(out: Path, overwrite: bool, found: Scan | None = None) -> str | None:
    """Why the existing folder ``out`` cannot take a new report, or None.

    Without ``--overwrite`` only an empty folder is taken. With it, the files of an
    earlier evalkit run (listed in its manifest, content unchanged) will be removed; any
    other file is never removed, so its presence refuses the folder, named."""
    found = found if found is not None else scan(out)
    present = found.files
    if not present:
        return None
    where = f"--out {str(out)!r}"
    count = f"{len(present)}{'+' if found.full else ''}"
    shown = ", ".join(present[:3]) + (f" and {count} in all" if len(present) > 3 else "")
    if not overwrite:
        return (f"{where}: the folder exists and holds {count} file(s) ({shown}); give a new folder, "
                "or --overwrite to replace the report evalkit wrote there")
    if found.full:
        return f"{where}: holds more than {SCAN_MAX} files; --overwrite takes only a report folder evalkit wrote"
    manifest = read_manifest(out)
    ok = removable(out, manifest)
    foreign = [f for f in present if f not in ok]
    return _foreign_problem(where, manifest, foreign) if foreign else None


def _foreign_problem(where: str, manifest: Manifest, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    if manifest.problem:
        why = f"its manifest is not usable ({manifest.problem})"
    elif manifest.version is not None and manifest.version < MANIFEST_VERSION and any(f in manifest.files for f in foreign):
        why = (f"its manifest is of version {manifest.version}, which records no digests, so evalkit cannot tell these "
               "files are unchanged since it wrote them")
    else:
        why = "these files are not in its manifest or changed since evalkit wrote them"
    return (f"{where}: --overwrite removes only files evalkit's manifest ({MANIFEST}) lists with their content "
            f"unchanged, and {why}: {shown}; move them or give a new folder")


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


# ---------------------------------------------------------------- the lock

class FolderLocked(UsageError):
    """Another evalkit process writes this report folder (exit 2)."""


def take_lock(folder: Path, what: str) -> int:
    """Make ``folder`` (and its parents) and hold its lock; return the lock's fd (close it to release).

    ``FolderLocked`` names the pid of the holder. The fd is not inherited by child processes."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    check_inside(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{path}: is not a regular file; remove it, or give a new folder")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderLocked(f"{folder}: another evalkit process (pid {holder}) is writing this report folder; "
                               f"{what} waits for nobody: let it end (or stop it), then run again, or give another "
                               "folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def writing_into(folder: Path | str, what: str) -> Iterator[Path]:
    """For ``render``, ``compare`` and ``rejudge``: the resolved, confined, locked folder; on the
    way out (also after an error) the manifest lists what was written."""
    folder = Path(os.path.realpath(folder))
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: is a file, not a folder; name a folder for the {what} output")
    with confined(folder) as root:
        if root.is_dir():
            bad = link_problem(root, scan(root))
            if bad:
                raise UsageError(bad)
        fd = take_lock(root, what)
        try:
            yield root
        finally:
            try:
                if written_in(root):
                    write_manifest(root)
            finally:
                os.close(fd)


# ---------------------------------------------------------------- writing the folder

def fallback_folder(name: str) -> Path:
    """A new folder under the temporary directory, named for the run and the time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"evalkit-fallback-{slug(name, 40)}-{stamp}-"))


class WriteOutcome:
    """Where the report went: ``folder`` (the asked one or the fallback) and what went wrong."""

    def __init__(self, folder: Path | None, error: str | None = None, asked: Path | None = None):
        self.folder, self.error, self.asked = folder, error, asked

    @property
    def fell_back(self) -> bool:
        return self.error is not None


def write_folder(name: str, out: Path, write: Callable[[Path], object]) -> WriteOutcome:
    """Write a report with ``write(folder)`` into ``out``, or into a fallback folder on any OSError.

    Returns where it went; ``outcome.error`` says why the asked folder failed (the caller
    prints it and exits 3). If the fallback fails too, ``outcome.folder`` is None.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        try:
            write(out)
        finally:  # also after Ctrl-C or SIGTERM mid-write: what is there was written by this run
            write_manifest(out)
        return WriteOutcome(out)
    except OSError as exc:
        error = _describe(exc, out)
    log.debug("writing %s failed: %s", out, error)
    try:
        fb = fallback_folder(name)
        with confined(fb):
            write(fb)
            write_manifest(fb)
        return WriteOutcome(fb, error, out)
    except OSError as exc:
        return WriteOutcome(None, f"{error}; the fallback folder failed too: {_describe(exc, None)}", out)


def write_file_or_fallback(path: Path, text: str, name: str, fallback: Path | None) -> tuple[Path | None, str | None]:
    """Write one file (``--junit``); on OSError put it in ``fallback`` (or a new fallback folder)."""
    try:
        atomic_write_text(path, text)
        return path, None
    except OSError as exc:
        error = _describe(exc, path)
    try:
        folder = fallback if fallback is not None else fallback_folder(name)
        target = folder / (path.name if len(os.fsencode(path.name)) < 200 else "junit.xml")
        if target.exists():
            target = folder / f"{target.stem}-{os.getpid()}{target.suffix}"
        atomic_write_text(target, text)
        return target, error
    except OSError as exc:
        return None, f"{error}; the fallback failed too: {_describe(exc, None)}"


def _describe(exc: OSError, where: Path | None) -> str:
    what = exc.strerror or str(exc)
    target = exc.filename or where
    return f"cannot write {str(target)!r}: {what}" if target else what
