"""Files evalkit writes follow the user's umask (mkstemp alone would leave them 0600)."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evalkit import _io

ROOT = Path(__file__).resolve().parents[1]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_atomic_write_follows_umask(tmp_path, mask):
    # umask is per process: set it in a child so this test process keeps its own
    code = textwrap.dedent(f"""
        import os, sys
        os.umask({mask:#o})
        from evalkit._io import atomic_write_text, atomic_write_bytes
        atomic_write_text(sys.argv[1] + "/a.txt", "x")
        atomic_write_bytes(sys.argv[1] + "/b.bin", b"y")
        atomic_write_text(sys.argv[1] + "/a.txt", "overwritten")
    """)
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    want = 0o666 & ~mask  # what open(..., "w") would give: the shell's and every tool's rule
    assert _mode(tmp_path / "a.txt") == want
    assert _mode(tmp_path / "b.bin") == want
    assert (tmp_path / "a.txt").read_text() == "overwritten"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


def test_umask_read_without_proc_matches(monkeypatch):
    mine = os.umask(0o022)
    os.umask(mine)
    assert _io._umask() == mine
    real_open = open

    def no_proc(path, *a, **k):
        if str(path).startswith("/proc"):
            raise OSError("no /proc here")
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", no_proc)
    assert _io._umask() == mine
    assert os.umask(mine) == mine  # the fallback put the umask back


def test_report_folder_follows_umask(tmp_path, basic_spec):
    out = tmp_path / "rep"
    code = textwrap.dedent("""
        import os, sys
        os.umask(0o027)
        from evalkit.cli import main
        sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2], "--quiet",
                       "--format", "json", "--format", "markdown", "--format", "junit"]))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(basic_spec), str(out)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"report.json", "report.md", "junit.xml"}
    for p in files:
        assert _mode(p) == 0o640, f"{p.name} is {oct(_mode(p))}"
