"""The report folder at write time: its manifest, ``--overwrite``, and a fallback on OSError.

- Every report folder holds ``.evalkit-manifest.json``, the list of files the run wrote
  there. ``--overwrite`` removes exactly those files of the earlier run first, so no
  stale file of another run stays beside a new report, and nothing evalkit did not write
  is ever removed (preflight refuses a folder holding such files).
- Preflight checked the folder, but the disk can fill or turn read-only during a run of
  hours. Any ``OSError`` while writing sends the whole report to a fresh fallback folder
  (``$TMPDIR/evalkit-fallback-<name>-<time>/``), says where on stderr, and the run exits 3:
  the measurements are kept, and the exit code does not pretend the outputs are where
  the user asked.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable

from ._io import atomic_write_text
from .preflight import MANIFEST, slug

log = logging.getLogger(__name__)


def read_manifest(folder: Path) -> set[str]:
    """Relative paths the manifest of ``folder`` lists (empty when there is none or it is unreadable).

    Entries that are absolute or climb out of the folder (``..``) are dropped: a crafted
    manifest must not make ``--overwrite`` delete files elsewhere.
    """
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return set()
    out = set()
    for f in files:
        if isinstance(f, str) and f and not Path(f).is_absolute() and ".." not in Path(f).parts:
            out.add(str(Path(f)))
    return out


def clear_previous(folder: Path) -> list[str]:
    """Remove the files an earlier run listed in ``folder``'s manifest; return what was removed."""
    removed = []
    for rel in sorted(read_manifest(folder)):
        p = folder / rel
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)  # under torchrun another process may have been first
            removed.append(rel)
    (folder / MANIFEST).unlink(missing_ok=True)
    return removed


def write_manifest(folder: Path) -> None:
    """List every file now in ``folder`` (the run wrote them all: the folder was fresh or cleared)."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                   if not p.is_dir() and p.name != MANIFEST and not p.name.endswith(".tmp"))
    atomic_write_text(folder / MANIFEST, json.dumps({"format": "evalkit-manifest", "version": 1, "files": files},
                                                    indent=1) + "\n")


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
        finally:  # also after Ctrl-C mid-write: what is there was written by this run
            write_manifest(out)
        return WriteOutcome(out)
    except OSError as exc:
        error = _describe(exc, out)
    log.debug("writing %s failed: %s", out, error)
    try:
        fb = fallback_folder(name)
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
