"""Hostile cases: exit codes that cannot lie, and a hung model that cannot hang the run.

Issue 12: ``sys.exit(0)`` in a user module or generator made ``evalkit run`` and
``validate`` exit 0 with no report; generator-factory ``TypeError``/``ValueError``, bad
checkpoint metadata and a factory returning None became "[spec]" errors with exit 2
after other subjects had run; SIGINT during start-up printed a traceback. Each
documented code is driven here: 0, 1, 2, 3 and 130.
"""

from __future__ import annotations

import json

import pytest

from .conftest import REPO, TINY_SPEC

USER = '''
import sys, time, torch

class Gen:
    image_shape = (1, 28, 28)
    num_classes = None

    def __init__(self, mode="ok"):
        self.mode = mode

    def sample(self, n, *, labels=None, generator=None):
        if self.mode == "exit0":
            sys.exit(0)
        if self.mode == "base":
            raise Odd("not an Exception")
        if self.mode == "ctrl-c":
            raise KeyboardInterrupt
        if self.mode == "hang":
            while True:  # a model that never returns, and swallows ordinary exceptions
                try:
                    time.sleep(0.01)
                except Exception:
                    pass
        if self.mode == "slow":
            time.sleep(0.2)
        return torch.rand(n, 1, 28, 28, generator=generator)


class Odd(BaseException):
    pass


def make(mode="ok"):
    return Gen(mode)

def exit_in_factory():
    sys.exit(0)

def type_error(**kw):
    raise TypeError("unexpected shape argument")

def value_error():
    raise ValueError("bad checkpoint metadata: latent_dim=-3")

def returns_none():
    return None

def extractor_exits(x):
    sys.exit(0)
'''

# the first subject is healthy, so every case also shows the others' results are kept
SPEC = TINY_SPEC.replace("sampling:", "  - {model: 'usercode:%s', %sname: hostile}\nsampling:")


def spec_with(hostile, factory: str, params: str = "", extra: str = "") -> object:
    hostile.file("usercode.py", USER)
    text = SPEC % (factory, f"params: {{{params}}}, " if params else "")
    return hostile.spec(text + extra)


def _subjects(hostile, name="report.json"):
    return {s["name"]: s for s in json.loads((hostile.work / "out" / name).read_text())["subjects"]}


@pytest.mark.parametrize("factory, params, needle", [
    ("make", "mode: exit0", "sys.exit(0)"),
    ("make", "mode: base", "Odd: not an Exception"),
    ("exit_in_factory", "", "sys.exit(0)"),
    ("type_error", "", "TypeError: unexpected shape argument"),
    ("value_error", "", "ValueError: bad checkpoint metadata"),
    ("returns_none", "", "returned NoneType"),
])
def test_user_code_breaks_only_its_subject(hostile, factory, params, needle):
    spec = spec_with(hostile, factory, params)
    r = hostile.run("run", spec, "--out", "out", code=3)
    subjects = _subjects(hostile)
    assert subjects["hostile"]["status"] == "broken" and needle in subjects["hostile"]["error"]
    assert "[spec]" not in subjects["hostile"]["error"]
    first = subjects["dataset(range=[5000, 5100])"]
    assert first["status"] == "ok" and first["requirements"][0]["verdict"] == "PASS"
    assert needle in r.out


def test_bad_checkpoint_metadata_of_a_zoo_model(hostile):
    """A checkpoint whose evalkit metadata is not JSON: the subject breaks (exit 3), no '[spec]'."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(REPO / "models" / "fashion-vae.safetensors"))
    save_file(tensors, str(hostile.work / "vae.safetensors"), metadata={"evalkit": "{not json"})
    text = TINY_SPEC.replace("sampling:", "  - {model: fashion-vae, checkpoint: vae.safetensors, name: vae}\nsampling:")
    hostile.run("run", hostile.spec(text), "--out", "out", code=3)
    vae = _subjects(hostile)["vae"]
    assert vae["status"] == "broken" and not vae["error"].startswith("[spec]")


def test_feature_extractor_calling_sys_exit(hostile):
    hostile.file("usercode.py", USER)
    text = TINY_SPEC.replace("features: pixels", "features: 'usercode:extractor_exits'").replace(
        "  - {name: in range", "  - {metric: fid, at_most: 1000}\n  - {name: in range")
    r = hostile.run("run", hostile.spec(text), "--out", "out", code=3)
    assert "sys.exit(0)" in r.out


def test_module_exiting_at_import_fails_validate_and_run(hostile):
    hostile.file("exits.py", "import sys\nsys.exit(0)\n")
    spec = hostile.spec(TINY_SPEC.replace("model: dataset", "model: 'exits:G'").replace(
        "    params: {range: [5000, 5100]}\n", ""))
    r = hostile.run("validate", spec, code=2, allow=())
    assert "SystemExit" in r.err and "exits" in r.err
    r = hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert "SystemExit" in r.err
    assert not (hostile.work / "out").exists()


def test_user_ctrl_c_is_an_interrupted_run(hostile):
    spec = spec_with(hostile, "make", "mode: ctrl-c")
    r = hostile.run("run", spec, "--out", "out", code=130)
    assert not (hostile.work / "out" / "report.json").exists()
    assert _subjects(hostile, "report.partial.json")["dataset(range=[5000, 5100])"]["status"] == "ok"
    assert "report.partial.json" in r.out


def test_ctrl_c_while_sampling(hostile):
    """SIGINT once the slow subject has journaled batches (a readiness signal, not a delay)."""
    spec = spec_with(hostile, "make", "mode: slow", extra="")
    text = spec.read_text().replace("n: 40, batch_size: 20", "n: 4000, batch_size: 20")
    spec.write_text(text)
    journal = hostile.work / "out" / "journal"
    hostile.run("run", spec, "--out", "out", "--quiet", code=130,
                interrupt_when=lambda: len(list(journal.glob("s*/b*.safetensors"))) >= 3)
    partial = json.loads((hostile.work / "out" / "report.partial.json").read_text())
    assert partial["interrupted"] and any(s["n"] > 0 for s in partial["subjects"])
    assert not (hostile.work / "out" / "report.json").exists()


# SIGINT delivered by the process itself the moment the verb starts importing its pipeline
# (evalkit.plan, which validate and run both load lazily, after the CLI's handler is set)
SIGINT_ON_IMPORT = """
import importlib.abc, os, signal, sys

class _Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "evalkit.plan":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, _Interrupt())
"""


@pytest.mark.parametrize("verb", ["run", "validate"])
def test_ctrl_c_during_start_up(hostile, verb):
    """SIGINT while the verb's modules load: exit 130, no traceback, nothing written."""
    spec = hostile.spec()
    extra = ["--out", "out"] if verb == "run" else []
    r = hostile.run(verb, spec, *extra, code=130, prelude=SIGINT_ON_IMPORT, allow=())
    assert "interrupted" in r.err


# ---------------------------------------------------------------- time limits


def test_hung_model_is_stopped_by_the_spec_time_limit(hostile):
    spec = spec_with(hostile, "make", "mode: hang")
    spec.write_text(spec.read_text().replace("seed: 1}", "seed: 1, time_limit: 3}"))
    r = hostile.run("run", spec, "--out", "out", code=3, timeout=120)
    subjects = _subjects(hostile)
    assert "time limit of 3 s (sampling.time_limit)" in subjects["hostile"]["error"]
    assert subjects["dataset(range=[5000, 5100])"]["requirements"][0]["verdict"] == "PASS"
    assert "time limit" in r.out


def test_per_subject_time_limit_and_cli_override(hostile):
    hostile.file("usercode.py", USER)
    text = TINY_SPEC.replace("sampling:", "  - {model: 'usercode:make', params: {mode: hang}, name: hostile, "
                             "time_limit: 2}\nsampling:")
    spec = hostile.spec(text)
    hostile.run("run", spec, "--out", "out", code=3, timeout=120)
    assert "time limit of 2 s (the subject's time_limit)" in _subjects(hostile)["hostile"]["error"]
    hostile.run("run", spec, "--out", "out", "--overwrite", "--time-limit", "1.5", code=3, timeout=120)
    assert "time limit of 1.5 s (--time-limit)" in _subjects(hostile)["hostile"]["error"]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_bad_time_limit_is_a_usage_error(hostile, value):
    hostile.run("run", hostile.spec(), "--time-limit", value, code=2, allow=())


def test_bad_time_limit_in_the_spec(hostile):
    spec = hostile.spec(TINY_SPEC.replace("seed: 1}", "seed: 1, time_limit: -4}"))
    r = hostile.run("validate", spec, code=2, allow=())
    assert "time_limit" in r.err


def test_time_limit_in_process_unit():
    """The budget is shared by the blocks of one subject; the alarm is gone after them."""
    import signal
    import time

    from evalkit.boundary import SubjectTimeout, TimeLimit

    before = signal.getsignal(signal.SIGALRM)
    limit = TimeLimit(0.5, "test")
    with limit.running():
        time.sleep(0.3)
    with pytest.raises(SubjectTimeout):
        with limit.running():
            while True:
                pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == before
    assert 0.45 < limit.spent < 1.5


# ---------------------------------------------------------------- the other documented codes


def test_exit_1_when_a_requirement_fails(hostile):
    spec = hostile.spec(TINY_SPEC.replace("{name: in range, check: in_range, at_least: 0.9}",
                                          "{name: inky, where: 'ink > 0.95', at_least: 0.9}"))
    r = hostile.run("run", spec, "--out", "out", code=1)
    assert "FAIL" in r.out


def test_exit_2_for_a_bad_spec(hostile):
    spec = hostile.spec(TINY_SPEC.replace("at_least: 0.9", "at_least: 1.9"))
    hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert not (hostile.work / "out").exists()
