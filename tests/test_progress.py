"""Progress lines: a bar on a terminal, plain periodic lines in a CI log, silence when disabled."""

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit import progress

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress.time, "monotonic", c)
    return c


def test_plain_lines_every_interval_with_counts_rate_and_eta(clock):
    out = io.StringIO()
    t = progress.Task("reference features", 1000, "img", stream=out, tty=False, interval=10)
    for _ in range(4):  # 4 s, 400 images: under the interval, no line yet
        clock.t += 1
        t.update(100)
    assert out.getvalue().splitlines() == ["evalkit: reference features: 1000 img"]
    clock.t += 6  # 10 s since the start line, 500 done: 50 img/s, 500 left -> 10 s
    t.update(100)
    last = out.getvalue().splitlines()[-1]
    assert last == "evalkit: reference features: 500/1000 img (50%), 50 img/s, elapsed 0:10, ETA 0:10"
    clock.t += 1
    t.update(100)  # 1 s after the last line: quiet
    assert len(out.getvalue().splitlines()) == 2
    clock.t += 64
    t.update(400)
    t.close()
    lines = out.getvalue().splitlines()
    assert lines[-2].startswith("evalkit: reference features: 1000/1000 img (100%)") and lines[-2].endswith("ETA 0:00")
    assert lines[-1] == "evalkit: reference features: done, 1000/1000 img, 1:15"
    t.update(5)
    t.close()  # after close: nothing more
    assert len(out.getvalue().splitlines()) == len(lines)


def test_eta_matches_hand_computation(clock):
    t = progress.Task("x", 900, "img", stream=io.StringIO(), tty=False)
    clock.t += 120
    t.done = 300  # 2.5 img/s; 600 left -> 240 s
    assert t.line() == "x: 300/900 img (33%), 2.5 img/s, elapsed 2:00, ETA 4:00"
    clock.t += 3600
    assert "elapsed 1:02:00" in t.line()


def test_phase_without_count_still_prints():
    out = io.StringIO()
    with progress.Task("nearest neighbours", None, "img", stream=out, tty=False, interval=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "evalkit: nearest neighbours: started"
    assert sum("still working" in line for line in lines) >= 2
    assert re.fullmatch(r"evalkit: nearest neighbours: done, 0:0\d", lines[-1])


def test_terminal_gets_a_bar(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("COLUMNS", "100")  # a stream without a window: the width comes from COLUMNS

    out = Tty()
    t = progress.Task("fashion-vae: sampling", 300, "img", stream=out)
    assert t.tty
    t.update(150)
    t._bar.refresh()
    text = out.getvalue()
    assert "fashion-vae: sampling" in text and "150/300" in text and "\r" in text
    t.close()
    assert "evalkit:" not in out.getvalue()  # no plain lines on a terminal


def test_disabled_prints_nothing():
    out = io.StringIO()
    with progress.Task("x", 10, "img", stream=out, tty=False, enabled=False) as t:
        t.update(10)
    with progress.Task("y", None, "img", stream=out, tty=False, enabled=False, interval=0.01):
        time.sleep(0.05)
    assert out.getvalue() == ""


def _run(args, cache):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVALKIT_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=ROOT, capture_output=True, text=True, env=env)


def test_cli_run_shows_phases_in_a_log_and_quiet_prints_only_the_path(write_spec, tmp_path):
    from tests.conftest import BASIC

    spec = write_spec(BASIC + "  - {metric: fid, at_most: 1000}\n")
    # stderr is a pipe here, as in CI: plain lines. A fresh cache: the reference features are built.
    r = _run(["run", str(spec), "--out", str(tmp_path / "a"), "--format", "json"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()
    ref = [line for line in err if "reference features" in line]
    assert ref[0] == "evalkit: reference features of fashion-mnist:test[0:400] (cached for later runs): 400 img"
    assert re.fullmatch(r"evalkit: reference features .*: done, 400/400 img, \d+:\d\d", ref[-1])
    sampling = [line for line in err if ": sampling" in line]
    assert sampling[0].endswith(": sampling: 200 img")
    assert re.search(r": sampling: done, 200/200 img, \d+:\d\d$", sampling[-1])
    assert any(re.search(r": metrics: done, 1/1 metric", line) for line in err)
    assert f"report: {tmp_path / 'a'}/report.json" in r.stdout
    # the second run finds the features cached: no reference phase
    q = _run(["run", str(spec), "--out", str(tmp_path / "b"), "--format", "json", "--quiet"], tmp_path / "cache")
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == f"report: {tmp_path / 'b'}/report.json"
    assert "evalkit:" not in q.stderr
    again = _run(["run", str(spec), "--out", str(tmp_path / "c"), "--format", "json"], tmp_path / "cache")
    assert "reference features" not in again.stderr and ": sampling: done" in again.stderr


PTY_CHILD = """\
import time
from evalkit import progress

with progress.task("features", 10, "img") as t:
    for _ in range(10):
        t.update(1)
        time.sleep(0.01)
"""


def _on_pty(rows: int, cols: int) -> str:
    """Run PTY_CHILD with a real pty of ``rows`` x ``cols`` as stderr (COLUMNS unset); what it showed."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.Popen([sys.executable, "-c", PTY_CHILD], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        shown += chunk
    p.wait(timeout=60)
    os.close(master)
    return shown.decode(errors="replace")


def test_terminal_without_a_window_size_gets_plain_lines():
    # tqdm sizes its bar to the window: a pty reporting 0 columns showed nothing at all
    shown = _on_pty(0, 0)
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    assert lines[0] == "evalkit: features: 10 img"
    assert re.fullmatch(r"evalkit: features: done, 10/10 img, 0:0\d", lines[-1])


def test_sized_terminal_still_gets_a_bar():
    shown = _on_pty(24, 80)
    assert "features:" in shown and "/10 [" in shown and "\r" in shown
    assert "evalkit: features" not in shown  # a bar, not plain lines
