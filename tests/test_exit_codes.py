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

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
version: 1
name: codes
features: pixels
classifier: null
subjects:
  - {model: MODEL}
sampling: {n: 40, batch_size: 20}
requirements:
  - {name: in range, check: in_range, at_least: AT_LEAST}
"""

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


def run(tmp_path, model="'usergen:Blobs'", at_least="0.9", name="s.yaml"):
    spec = tmp_path / name
    spec.write_text(SPEC.replace("MODEL", model).replace("AT_LEAST", at_least))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / f"out-{name}"), "--quiet", "--device", "cpu"], tmp_path)
    out, err = p.communicate(timeout=300)
    assert "Traceback" not in err, err
    return p.returncode, err


def test_exit_0_every_requirement_passed(tmp_path):
    assert run(tmp_path)[0] == 0


def test_exit_1_a_requirement_failed(tmp_path):
    # Blobs' pixels lie in [0, 1]; a rate of 1 is PASS, so ask for a where: it cannot meet
    spec = tmp_path / "f.yaml"
    spec.write_text(SPEC.replace("MODEL", "'usergen:Blobs'").replace(
        "{name: in range, check: in_range, at_least: AT_LEAST}", "{where: 'mean > 0.9', at_least: 0.9}"))
    p = evalkit(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"], tmp_path)
    p.communicate(timeout=300)
    assert p.returncode == 1


def test_exit_2_zoo_steps_zero_and_nothing_ran(tmp_path):
    code, err = run(tmp_path, model="fashion-ddpm, params: {steps: 0}")
    assert code == 2 and "steps" in err and "got 0" in err
    assert not (tmp_path / "out-s.yaml").exists()


def test_exit_3_the_model_raised(tmp_path):
    code, err = run(tmp_path, model="'usergen:Raises'")
    assert code == 3 and "out of cheese" in err
    assert "[spec]" not in err


def test_exit_130_interrupted_keeps_a_partial_report(tmp_path):
    (tmp_path / "slowgen.py").write_text(SLOW)
    spec = tmp_path / "slow.yaml"
    spec.write_text(SPEC.replace("MODEL", "'slowgen:Slow'").replace("AT_LEAST", "0.5")
                    .replace("{n: 40, batch_size: 20}", "{n: 400, batch_size: 10, block_size: 10}"))
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
