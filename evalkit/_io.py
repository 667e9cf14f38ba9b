"""Files evalkit reads and writes.

- Atomic writes: a reader never sees a half-written file, and a temporary file is
  removed whatever ends the write (an exception, Ctrl-C, or a signal evalkit turns into
  one: SIGTERM, SIGHUP, ...).
- Only regular files are read (``open_regular``, ``read_regular``): a FIFO would block a
  read forever and ``/dev/zero`` would fill the memory, so the kind is checked with
  ``stat`` before opening (opened ``O_NONBLOCK``, checked again with ``fstat``) and the
  size against a stated limit before anything is read.
- The report folder is a closed world (``confined``): while a folder is confined, every
  write, read and delete of a path inside it checks each component below the folder
  with ``lstat`` and refuses a symbolic link (``LinkInFolder``, exit 2), so a crafted
  ``samples -> ~/Documents`` cannot make evalkit write or delete elsewhere. The files
  written there are recorded (``written_in``) for the folder's manifest.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from ._errors import UsageError

__all__ = ["atomic_write_bytes", "atomic_write_text", "open_regular", "read_regular", "NotRegularFile", "TooLarge",
           "LinkInFolder", "confined", "check_inside", "replace_file", "remove_file", "remove_tree", "adopt",
           "written_in", "memory_cap", "available_memory", "kind_of"]


# ---------------------------------------------------------------- the closed report folder

class LinkInFolder(UsageError):
    """A symbolic link inside a report folder evalkit writes (exit 2: bad input, nothing followed)."""

    def __init__(self, link: Path, root: Path):
        self.link, self.root = link, root
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        super().__init__(f"{link}: is a symbolic link (to {target!r}) inside the report folder {root}; evalkit "
                         "never reads, writes or deletes through a link there (it could lead outside the folder): "
                         "remove the link, or give a new folder")


@dataclass
class _Root:
    path: Path
    written: dict[str, str | None] = field(default_factory=dict)  # relative path -> SHA-256 (None: digest it later)


_ROOTS: list[_Root] = []


@contextmanager
def confined(root: Path | str) -> Iterator[Path]:
    """Within the block, ``root`` (made absolute and resolved now, so a later ``os.chdir`` of user
    code cannot move it) is a closed world; yields the resolved path."""
    r = _Root(Path(os.path.realpath(root)))
    _ROOTS.append(r)
    try:
        yield r.path
    finally:
        _ROOTS.remove(r)


def _root_of(p: Path) -> _Root | None:
    for r in reversed(_ROOTS):
        if p == r.path or r.path in p.parents:
            return r
    return None


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(path))


def check_inside(path: Path | str) -> None:
    """Refuse (``LinkInFolder``) when ``path`` lies in a confined folder and a component of it below
    that folder is a symbolic link. Components that do not exist yet are fine: evalkit makes them."""
    p = _absolute(path)
    root = _root_of(p)
    if root is None:
        return
    cur = root.path
    for part in p.relative_to(root.path).parts:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(st.st_mode):
            raise LinkInFolder(cur, root.path)


def _note(path: Path, digest: str | None) -> None:
    p = _absolute(path)
    root = _root_of(p)
    if root is not None:
        root.written[p.relative_to(root.path).as_posix()] = digest


def _forget(path: Path, tree: bool = False) -> None:
    p = _absolute(path)
    root = _root_of(p)
    if root is None:
        return
    rel = p.relative_to(root.path).as_posix()
    for k in [k for k in root.written if k == rel or (tree and k.startswith(rel + "/"))]:
        del root.written[k]


def written_in(root: Path | str) -> dict[str, str | None]:
    """What this process wrote (or adopted) in the confined folder ``root``: relative path -> SHA-256."""
    r = _root_of(_absolute(os.path.realpath(root)))
    return dict(r.written) if r is not None else {}


def adopt(path: Path | str) -> None:
    """Record a file evalkit found and verified as its own (a journal record a resumed run reads),
    so the folder's manifest lists it."""
    _note(Path(path), None)


def replace_file(src: Path | str, dst: Path | str) -> None:
    """``os.replace`` inside a confined folder: neither path may pass through a link."""
    check_inside(src)
    check_inside(dst)
    os.replace(src, dst)
    rel_digest = written_in_digest(Path(src))
    _forget(Path(src))
    _note(Path(dst), rel_digest)


def written_in_digest(path: Path) -> str | None:
    p = _absolute(path)
    root = _root_of(p)
    return root.written.get(p.relative_to(root.path).as_posix()) if root is not None else None


def remove_file(path: Path | str) -> bool:
    """Unlink one file (never through a link inside a confined folder); False when it was absent."""
    check_inside(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    finally:
        _forget(Path(path))
    return True


def remove_tree(path: Path | str) -> None:
    """Remove a folder evalkit made (``shutil.rmtree`` unlinks a link inside, never follows it)."""
    check_inside(path)
    if os.path.lexists(path):
        shutil.rmtree(path)
    _forget(Path(path), tree=True)


# ---------------------------------------------------------------- atomic writes

def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    check_inside(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_inside(path)  # a link put in the way while the folders were made
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the user's umask
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # also Terminated, which SIGTERM and SIGHUP raise: no temporary file stays
        Path(tmp).unlink(missing_ok=True)
        raise
    _note(path, hashlib.sha256(data).hexdigest())


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (os.umask can only swap it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------- reading regular files only

def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    for test, words in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"),
                        (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


class NotRegularFile(OSError):
    """A path to read is a FIFO, a device, a socket or a folder (an OSError: callers name the file)."""

    def __init__(self, path: Path | str, mode: int):
        super().__init__(errno.EINVAL, f"is {kind_of(mode)}, not a regular file; evalkit reads only regular files",
                         str(path))


class TooLarge(OSError):
    """A file is larger than the stated limit (checked from its size before it is read)."""

    def __init__(self, path: Path | str, size: int, limit: int, why: str):
        super().__init__(errno.EFBIG, f"is {size} bytes, more than the {limit} evalkit reads ({why})", str(path))


def open_regular(path: Path | str, *, limit: int | None = None, why: str = "") -> BinaryIO:
    """Open a regular file for reading; ``NotRegularFile`` / ``TooLarge`` (OSErrors) otherwise.

    Links are followed outside a confined folder (a user's dataset or key may be a link) and
    refused inside one. The kind is checked before opening, so a FIFO or a device is never
    opened; ``O_NONBLOCK`` and ``fstat`` catch one swapped in between."""
    path = Path(path)
    check_inside(path)
    inside = _root_of(_absolute(path)) is not None
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | (getattr(os, "O_NOFOLLOW", 0) if inside else 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, st.st_mode)
        if limit is not None and st.st_size > limit:
            raise TooLarge(path, st.st_size, limit, why or "its limit")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, *, limit: int, why: str = "") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see ``open_regular``)."""
    with open_regular(path, limit=limit, why=why) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew after the check
        raise TooLarge(path, len(data), limit, why or "its limit")
    return data


def available_memory() -> int | None:
    """Bytes of memory this process can still take: MemAvailable, bounded by its address-space limit."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, ValueError, OSError):
        pass
    return avail


def memory_cap() -> tuple[int, str]:
    """(bytes, why): the most one file's contents or one decompressed array may take in memory.

    Half the memory available now: the data is usually converted once more (to float32,
    to a tensor), and the machine must stay usable. Unknown memory: 16 GiB."""
    avail = available_memory()
    if avail is None:
        return 16 << 30, "16 GiB: the memory available is unknown"
    return max(avail // 2, 64 << 20), f"half the memory available now, {avail / 2**30:.1f} GiB"
