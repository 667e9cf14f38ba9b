"""Shared harness of the hostile-input corpus (``tests/hostile/``).

Every case runs the real ``evalkit`` command line in a subprocess, inside a private
workspace, and asserts three things the user relies on:

- the exit code is the documented one;
- no Python traceback reaches stdout or stderr;
- nothing outside the places the command may write changed: the output folder the
  case names (``allow=``) and ``$EVALKIT_CACHE``. The whole workspace is snapshotted
  (path, kind, size, mtime, mode) before and after the run and compared.

Usage::

    def test_something(hostile):
        spec = hostile.spec(TINY_SPEC)
        r = hostile.run("run", spec, "--out", "out", code=2)          # asserts all three
        assert "out" in r.err

``prelude=`` runs Python code in the child before ``evalkit.cli.main`` (to simulate a
full disk by patching ``os.write``, say) without any hook in the package itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
from typing import Callable
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A spec that runs in a second or two: dataset replay as the model, pixel features, no classifier.
TINY_SPEC = """\
version: 1
name: tiny
reference: {dataset: fashion-mnist, split: test, range: [0, 200]}
features: pixels
classifier: null
subjects:
  - model: dataset
    params: {range: [5000, 5100]}
sampling: {n: 40, batch_size: 20, seed: 1}
requirements:
  - {name: in range, check: in_range, at_least: 0.9}
"""


@dataclass
class Result:
    code: int
    out: str
    err: str
    changed: list[str]

    @property
    def text(self) -> str:
        return self.out + self.err


def _snapshot(root: Path, skip: list[Path]) -> dict[str, tuple]:
    """Path -> (kind, size, mtime_ns, mode) for everything under ``root`` outside ``skip``."""
    seen: dict[str, tuple] = {}
    skip_s = [str(p) for p in skip]

    def skipped(p: str) -> bool:
        return any(p == s or p.startswith(s + os.sep) for s in skip_s)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not skipped(os.path.join(dirpath, d))]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if skipped(p):
                continue
            st = os.lstat(p)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            # a folder's mtime changes when an allowed child (the output folder) appears in it
            seen[os.path.relpath(p, root)] = (kind, 0 if kind == "d" else st.st_size,
                                              0 if kind == "d" else st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return seen


class Hostile:
    """A private workspace (``work`` is the child's cwd) and a runner of the CLI in it."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"
        self.cache = root / "cache"
        self.tmp = root / "tmp"
        self.home = root / "home"
        self.cache_key = root / "cache-key" / "cache.key"
        for d in (self.work, self.cache, self.tmp, self.home):
            d.mkdir(parents=True, exist_ok=True)
        self.locked: list[Path] = []
        self.mounts: list[Path] = []

    def tmpfs(self, rel: str | Path, size: str) -> Path:
        """Mount a tmpfs of ``size`` (e.g. '256k') at ``rel``: a small disk that fills up for real.
        Needs root; skips the test elsewhere. Unmounted after the test."""
        p = self.path(rel)
        p.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("a small disk needs root to mount a tmpfs")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(p)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
        self.mounts.append(p)
        return p

    def lock(self, rel: str | Path) -> Path:
        """Make a folder unwritable (see ``lock``); undone after the test."""
        p = self.path(rel)
        p.mkdir(parents=True, exist_ok=True)
        lock(p)
        self.locked.append(p)
        return p

    def path(self, rel: str | Path) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.work / p

    def file(self, rel: str | Path, content: str | bytes) -> Path:
        p = self.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content))
        return p

    def spec(self, text: str = TINY_SPEC, name: str = "spec.yaml") -> Path:
        return self.file(name, text)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVALKIT_", "PYTEST_"))}
        env.update(
            PYTHONPATH=str(REPO),  # the tree under test wins over any installed evalkit
            EVALKIT_CACHE=str(self.cache),
            EVALKIT_CACHE_KEY=str(self.cache_key),  # the cache's HMAC key lives outside the cache, here
            TMPDIR=str(self.tmp),
            HOME=str(self.home),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            PYTHONDONTWRITEBYTECODE="1",  # user modules beside a spec must not leave __pycache__ behind
            COLUMNS="200",
        )
        env.pop("PYTHONSTARTUP", None)
        if extra:
            env.update(extra)
        return env

    def run(self, *argv: str | Path, code: int | set[int], allow: tuple[str | Path, ...] = ("out",),
            prelude: str | None = None, env: dict[str, str] | None = None, timeout: float = 300,
            check_unchanged: bool = True, interrupt_after: float | None = None,
            interrupt_when: Callable[[], bool] | None = None) -> Result:
        """Run ``evalkit ARGV...`` in ``work``; assert exit code, no traceback, no stray writes.

        ``interrupt_after`` sends SIGINT (Ctrl-C) that many seconds after the start;
        ``interrupt_when`` sends it as soon as the condition holds (polled every 20 ms), so
        the signal arrives at a known stage of the run, however fast or loaded the machine.
        """
        args = [str(a) for a in argv]
        if prelude is None:
            cmd = [sys.executable, "-m", "evalkit", *args]
        else:
            boot = textwrap.dedent(prelude) + "\nimport sys\nfrom evalkit.cli import main\nsys.exit(main(sys.argv[1:]))\n"
            cmd = [sys.executable, "-c", boot, *args]
        skip = [self.path(a) for a in allow] + [self.cache, self.cache_key.parent]
        # the run history beside an allowed report folder (docs/history.md), with SQLite's WAL files
        skip += [self.path(a).parent / f"history.sqlite{x}" for a in allow for x in ("", "-wal", "-shm", "-journal")]
        before = _snapshot(self.root, skip)
        proc = subprocess.Popen(cmd, cwd=self.work, env=self.env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
        if interrupt_after is not None:
            time.sleep(interrupt_after)
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        if interrupt_when is not None:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and not interrupt_when() and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise AssertionError(f"evalkit {' '.join(args)} did not end within {timeout} s\n{stdout[-2000:]}\n{stderr[-2000:]}")
        after = _snapshot(self.root, skip)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        res = Result(proc.returncode, stdout, stderr, changed)
        shown = f"$ evalkit {' '.join(args)}\n--- exit {proc.returncode}\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}"
        codes = {code} if isinstance(code, int) else set(code)
        assert proc.returncode in codes, f"exit {proc.returncode}, expected {sorted(codes)}\n{shown}"
        assert "Traceback (most recent call last)" not in res.text, f"a traceback reached the user\n{shown}"
        if check_unchanged:
            assert not changed, f"changed outside {[str(a) for a in allow]} and $EVALKIT_CACHE: {changed}\n{shown}"
        return res


@pytest.fixture
def hostile(tmp_path) -> Hostile:
    h = Hostile(tmp_path)
    yield h
    for p in h.locked:
        unlock(p)
    for p in reversed(h.mounts):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)


def lock(path: Path) -> None:
    """Make the folder ``path`` refuse new files, also for root; skip the test where impossible.

    Root ignores mode bits, so there the immutable attribute is set too (``chattr +i``).
    Undo with ``unlock`` (the ``hostile`` fixture undoes what ``Hostile.lock`` did).
    """
    path.chmod(0o555)
    if _writable(path) and shutil.which("chattr"):
        subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if _writable(path):
        unlock(path)
        pytest.skip(f"cannot make {path} unwritable here (root without chattr support)")


def unlock(path: Path) -> None:
    if not path.exists():
        return
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755)


def _writable(path: Path) -> bool:
    probe = path / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True
