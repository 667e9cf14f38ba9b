"""A time limit user code cannot defeat (issue 23): sampling under a limit runs in a child
process killed at the deadline. Each trick that beat the in-process SIGALRM is a case."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import evalkit
from tests.specs import spec_text

TRICKS = '''
import ctypes, os, signal, time, torch

class Gen:
    image_shape = (1, 28, 28)
    num_classes = None

    def __init__(self, mode):
        self.mode = mode

    def sample(self, n, *, labels=None, generator=None):
        m = self.mode
        if m == "sig_ign":
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            time.sleep(60)
        elif m == "alarm0":
            while True:
                signal.alarm(0)
                signal.setitimer(signal.ITIMER_REAL, 0)
        elif m == "sigmask":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        elif m == "base":
            while True:
                try:
                    time.sleep(0.01)
                except BaseException:
                    pass
        elif m == "c_sleep":
            ctypes.CDLL(None).sleep(60)
        elif m == "os_exit":
            os._exit(0)
        return torch.rand(n, 1, 28, 28, generator=generator)


def make(mode="ok"):
    return Gen(mode)
'''

def _spec(tmp_path, mode: str, limit) -> object:
    mod = f"tl_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{mod}.py").write_text(textwrap.dedent(TRICKS))
    p = tmp_path / f"{mode}.yaml"
    sampling = {"n": 20, "batch_size": 20, "seed": 1, **({} if limit is None else {"time_limit": limit})}
    p.write_text(spec_text(name="limits", sampling=sampling,
                           subjects=[{"model": f"{mod}:make", "name": "hostile", "params": {"mode": mode}},
                                     {"model": "dataset", "name": "honest", "params": {"range": [5000, 5100]}}]))
    return p


@pytest.mark.parametrize("mode", ["sig_ign", "alarm0", "sigmask", "base", "c_sleep"])
def test_no_trick_defeats_the_limit(tmp_path, mode):
    t0 = time.monotonic()
    rep = evalkit.run(_spec(tmp_path, mode, 1.5), out=tmp_path / "out")
    wall = time.monotonic() - t0
    hostile, honest = rep.subjects
    assert hostile.status == "broken" and "time limit of 1.5 s (sampling.time_limit)" in hostile.error
    assert hostile.seconds < 1.5 + 1.0
    assert honest.status == "ok" and honest.requirements[0].passed == 20
    assert rep.exit_code == 3 and wall < 1.5 + 15


def test_os_exit_in_the_child_breaks_only_that_subject(tmp_path):
    rep = evalkit.run(_spec(tmp_path, "os_exit", 30), out=tmp_path / "out")
    hostile, honest = rep.subjects
    assert hostile.status == "broken" and "ended unexpectedly (exit status 0)" in hostile.error
    assert honest.status == "ok" and rep.exit_code == 3


def test_a_generous_limit_changes_no_result(tmp_path):
    free = evalkit.run(_spec(tmp_path, "ok", None), out=tmp_path / "free")
    timed = evalkit.run(_spec(tmp_path, "ok", 600), out=tmp_path / "timed")
    for a, b in zip(free.subjects, timed.subjects):
        da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
        for k in ("seconds", "samples_per_second", "model"):
            da.pop(k), db.pop(k)
        assert da == db


def test_tiny_limit_through_the_command_line_is_exit_3_not_142(tmp_path):
    spec = _spec(tmp_path, "ok", "1e-9")
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(spec), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert r.stdout.count("time limit of 1e-09 s") == 2 and "Traceback" not in r.stderr
