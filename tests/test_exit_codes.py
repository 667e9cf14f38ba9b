"""Every documented exit code, driven through the real command line in a subprocess.

0 pass, 1 a requirement failed, 2 validation found a problem (nothing ran), 3 the run
broke, 130 interrupted. The code comes from the error's type (``_errors.exit_code_for``),
never from its text.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit._errors import (
    CheckpointError,
    DataError,
    RegistrationError,
    RunError,
    SpecError,
    SubjectError,
    UsageError,
    exit_code_for,
)
from tests.specs import OMIT, REQUIREMENT, spec_text

ROOT = Path(__file__).resolve().parent.parent



def _spec(model: str, at_least: float = 0.5, params: dict | None = None, sampling: dict | None = None) -> str:
    subject = {"model": model, **({} if params is None else {"params": params})}
    return spec_text(name="codes", reference=OMIT, subjects=[subject], sampling=sampling or {"n": 40, "batch_size": 20},
                     requirements=[dict(REQUIREMENT, at_least=at_least)])

SLOW = """\
import time
from pathlib import Path
import torch

class Slow:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        Path(__file__).with_name("started").touch()
        time.sleep(0.5)
        return torch.rand(n, 1, 8, 8, generator=generator)
"""


def evalkit(args, cwd, **popen):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins"), str(cwd)]))
    return subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def run(tmp_path, model="usergen:Blobs", at_least=0.9, name="s.yaml", params=None):
    spec = tmp_path / name
    spec.write_text(_spec(model, at_least, params))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / f"out-{name}"), "--quiet", "--device", "cpu"], tmp_path)
    out, err = p.communicate(timeout=300)
    assert "Traceback" not in err, err
    return p.returncode, err


def test_exit_0_every_requirement_passed(tmp_path):
    assert run(tmp_path)[0] == 0


def test_exit_1_a_requirement_failed(tmp_path):
    # Blobs' pixels lie in [0, 1]; a rate of 1 is PASS, so ask for a where: it cannot meet
    spec = tmp_path / "f.yaml"
    spec.write_text(spec_text(name="codes", reference=OMIT, subjects=[{"model": "usergen:Blobs"}],
                              sampling={"n": 40, "batch_size": 20},
                              requirements=[{"where": "mean > 0.9", "at_least": 0.9}]))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], tmp_path)
    p.communicate(timeout=300)
    assert p.returncode == 1


def test_exit_2_zoo_steps_zero_and_nothing_ran(tmp_path):
    code, err = run(tmp_path, model="fashion-ddpm", params={"steps": 0})
    assert code == 2 and "steps" in err and "got 0" in err
    assert not (tmp_path / "out-s.yaml").exists()


def test_exit_3_the_model_raised(tmp_path):
    code, err = run(tmp_path, model="usergen:Raises")
    assert code == 3 and "out of cheese" in err
    assert "[spec]" not in err


def test_exit_130_interrupted_keeps_a_partial_report(tmp_path):
    (tmp_path / "slowgen.py").write_text(SLOW)
    spec = tmp_path / "slow.yaml"
    spec.write_text(_spec("slowgen:Slow", sampling={"n": 400, "batch_size": 10, "block_size": 10}))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert (tmp_path / "o" / "report.partial.json").exists() and not (tmp_path / "o" / "report.json").exists()


@pytest.mark.parametrize("error,code", [
    (SpecError("x"), 2), (UsageError("x"), 2), (RegistrationError("x"), 2),
    (RunError("x"), 3), (DataError("x"), 3), (CheckpointError("x"), 3), (SubjectError("x"), 3),
    (ValueError("x"), 3), (KeyboardInterrupt(), 130),
])
def test_the_code_comes_from_the_type(error, code):
    assert exit_code_for(error) == code
    # the text plays no part: a SubjectError whose message looks like a spec problem is still 3
    assert exit_code_for(SubjectError("[spec] subjects[0]: bad")) == 3


# ---- the process's exit code is the report's, whatever user code does to the process

CLOSES_STDERR = """\
import os
import torch

class ClosesStderr:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        os.close(2)  # a library 'daemonising' itself, a careless cleanup
        raise RuntimeError("broken after closing fd 2")
"""

LINGERS = """\
import threading
import time
import torch

class Lingers:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        # a non-daemon worker (a prefetcher, a metrics uploader) that never ends
        threading.Thread(target=time.sleep, args=(3600,), name="user-prefetch").start()
        return torch.rand(n, 1, 8, 8, generator=generator)
"""


def _report_code(folder: Path) -> int:
    import json

    return json.loads((folder / "report.json").read_text())["exit_code"]


@pytest.mark.parametrize("quiet", [True, False])
def test_a_generator_closing_stderr_does_not_change_the_exit_code(tmp_path, quiet):
    (tmp_path / "closer.py").write_text(CLOSES_STDERR)
    spec = tmp_path / "c.yaml"
    spec.write_text(_spec("closer:ClosesStderr"))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / "o"), "--device", "cpu"] + (["--quiet"] if quiet else []),
                tmp_path)
    out, err = p.communicate(timeout=300)
    assert (tmp_path / "o" / "report.json").is_file(), (p.returncode, out, err)
    assert _report_code(tmp_path / "o") == 3
    assert p.returncode == 3, out  # was 1: the quiet 'why it broke' line raised on the closed fd 2
    assert f"report: {tmp_path / 'o'}/report.json" in out
    # evalkit writes through its own copy of fd 2: the reason still reaches the log, and no file
    # the run opened afterwards (the OS may hand out fd 2 again) got a line meant for stderr
    assert "broken after closing fd 2" in (err if quiet else out)
    assert "Traceback" not in err


def test_a_lingering_user_thread_does_not_keep_the_process_alive(tmp_path):
    (tmp_path / "lingers.py").write_text(LINGERS)
    spec = tmp_path / "t.yaml"
    spec.write_text(_spec("lingers:Lingers"))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet", "--device", "cpu"], tmp_path)
    try:
        out, err = p.communicate(timeout=120)  # the thread sleeps an hour
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("evalkit run was still alive 120 s after starting: the user's thread kept it") from None
    assert p.returncode == _report_code(tmp_path / "o") == 0, err


# ---- after Ctrl-C or SIGTERM, the exact command that finishes the run

SLOW_UNTIL_TOLD = """\
import time
from pathlib import Path
import torch

class SlowUntilTold:
    image_shape = (1, 8, 8)
    num_classes = None

    def sample(self, n, *, labels, generator):
        here = Path(__file__).parent
        (here / "started").touch()
        if (here / "slow").exists():  # the test removes it before resuming: the rest is quick
            time.sleep(0.5)
        return torch.rand(n, 1, 8, 8, generator=generator)
"""


@pytest.mark.parametrize("sig,code,why", [(signal.SIGINT, 130, "interrupted (Ctrl-C)"),
                                          (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_an_interrupted_run_prints_the_command_that_finishes_it(tmp_path, sig, code, why):
    import json
    import shlex

    (tmp_path / "slowgen.py").write_text(SLOW_UNTIL_TOLD)
    (tmp_path / "slow").touch()
    folder = tmp_path / "my out"  # a space: the printed command must quote it
    spec = tmp_path / "slow spec.yaml"
    spec.write_text(_spec("slowgen:SlowUntilTold", sampling={"n": 200, "batch_size": 10, "block_size": 10}))
    p = evalkit(["run", "slow spec.yaml", "--out", "my out", "--n", "120", "--device", "cpu", "--quiet"], tmp_path)
    deadline = time.monotonic() + 120
    while not (folder / "journal").exists() or not (tmp_path / "started").exists():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.1)
    time.sleep(1.2)  # a batch or two journaled
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert (folder / "report.partial.json").exists() and not (folder / "report.json").exists()
    lines = err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"evalkit: {why}; what was measured is in"))
    assert lines[at].endswith("To finish the run (from this folder):")
    command = lines[at + 1].strip()
    assert command == "evalkit run 'slow spec.yaml' --resume 'my out' --n 120 --device cpu --quiet"
    # the printed command, run as printed (the `evalkit` script is this interpreter's module), finishes it
    (tmp_path / "slow").unlink()
    words = shlex.split(command)
    assert words[0] == "evalkit"
    done = evalkit(words[1:], tmp_path)
    out, err2 = done.communicate(timeout=300)
    assert done.returncode == 0, err2
    report = json.loads((folder / "report.json").read_text())
    assert report["exit_code"] == 0 and report["subjects"][0]["n"] == 120 and not report["interrupted"]
    assert not (folder / "report.partial.json").exists()
