"""Running evalkit as a user would, in a sandbox folder, and proving nothing else changed.

Each hostile case runs ``python -m evalkit`` in a subprocess whose working folder,
HOME, cache and cache key live under one temporary folder; ``snapshot`` records
every file there (path, size, mtime, digest) so a test can assert that nothing
outside the output folder and the cache was created, changed or removed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Sandbox:
    """A folder to run evalkit in: ``work/`` (cwd), ``home/``, ``cache/`` and ``key/``."""

    def __init__(self, root: Path):
        self.root = root
        self.work, self.home, self.cache, self.key = (root / n for n in ("work", "home", "cache", "key"))
        for p in (self.work, self.home, self.cache, self.key):
            p.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVALKIT_")}
        env.update(PYTHONPATH=str(ROOT), HOME=str(self.home), EVALKIT_CACHE=str(self.cache),
                   EVALKIT_CACHE_KEY=str(self.key / "cache.key"), XDG_CONFIG_HOME=str(self.home / ".config"),
                   PYTHONDONTWRITEBYTECODE="1", COLUMNS="200")
        return env

    def write(self, name: str, text: str) -> Path:
        p = self.work / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
        return p

    def evalkit(self, *args: str, subprocess_: bool = False, timeout: float = 300) -> Result:
        """``evalkit ARGS`` from ``work/``: in this process (fast), or as a real child process."""
        if subprocess_:
            proc = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=self.work, env=self.env(),
                                  capture_output=True, text=True, timeout=timeout)
            return Result(proc.returncode, proc.stdout, proc.stderr)
        return self._in_process(list(args))

    def _in_process(self, args: list[str]) -> Result:
        import contextlib
        import io
        import logging

        from evalkit.cli import main

        out, err = io.StringIO(), io.StringIO()
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("evalkit: %(levelname)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        saved_bytecode = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # user modules beside a spec must not leave __pycache__ behind
        try:
            os.environ.clear()
            os.environ.update(self.env())
            os.chdir(self.work)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(args)
                except SystemExit as exc:  # pragma: no cover - main returns its code
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:  # a traceback the user would see
                    import traceback

                    traceback.print_exc(file=err)
                    code = 1
        finally:
            sys.dont_write_bytecode = saved_bytecode
            root.removeHandler(handler)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return Result(int(code or 0), out.getvalue(), err.getvalue())

    def snapshot(self) -> dict[str, str]:
        """Every file under the sandbox except the cache and the key folder: path -> digest."""
        out = {}
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and not (p.is_relative_to(self.cache) or p.is_relative_to(self.key)):
                out[str(p.relative_to(self.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def changed_outside(self, before: dict[str, str], *allowed: Path) -> list[str]:
        """Files created, changed or removed since ``before``, outside ``allowed`` folders."""
        after = self.snapshot()
        keys = set(before) | set(after)
        allowed_rel = [str(a.relative_to(self.root)) for a in allowed]
        return sorted(k for k in keys if before.get(k) != after.get(k)
                      and not any(k == a or k.startswith(a + "/") for a in allowed_rel))


def assert_clean(result: Result, code: int) -> None:
    """The documented exit code, and no traceback anywhere in the output."""
    assert result.code == code, f"exit {result.code}, expected {code}\n{result.text[-3000:]}"
    assert "Traceback" not in result.text, result.text[-3000:]
