"""User code cannot bend the run (issue 23): torch's global settings and the asked labels.

Real user generator modules are written to tmp_path (imported through the spec's folder),
each subject run through ``evalkit.run``; an honest subject's report after a hostile one
must equal its report in a run of its own.
"""

from __future__ import annotations

import logging
import textwrap
import uuid

import numpy as np
import pytest
import torch

import evalkit
from evalkit.boundary import user_code
from evalkit.sample.sources import GeneratorSource
from tests.specs import OMIT, write_spec_file

HOSTILE = '''
import torch

class Gen:
    image_shape = (1, 28, 28)
    num_classes = 10

    def __init__(self, mode):
        self.mode = mode

    def sample(self, n, *, labels=None, generator=None):
        x = torch.rand(n, 1, 28, 28, generator=generator)
        if self.mode == "dtype":
            torch.set_default_dtype(torch.float64)
        elif self.mode == "device":
            torch.set_default_device("meta")
        elif self.mode == "deterministic":
            torch.use_deterministic_algorithms(True)
            torch.set_float32_matmul_precision("medium")
        return x


def make(mode="dtype"):
    if mode == "grad":
        torch.set_grad_enabled(False)  # left off for everyone after this factory
    return Gen(mode)
'''

MODES = ("dtype", "device", "grad", "deterministic")


def _module(tmp_path, source: str) -> str:
    name = f"iso_{uuid.uuid4().hex[:10]}"  # a fresh name: each test imports its own module
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def _comparable(subject) -> dict:
    d = subject.model_dump(mode="json")
    for timing in ("seconds", "samples_per_second"):
        d.pop(timing)
    return d


def _sampling(seed: int, limit: float | None, **more) -> dict:
    return {"n": 40, "batch_size": 20, "seed": seed, **more, **({} if limit is None else {"time_limit": limit})}


def _spec(tmp_path, subjects: list, limit: float | None, name: str) -> object:
    # features pixels, the bundled classifier (the spec's default): label_agreement reads it
    return write_spec_file(
        tmp_path, name, name="isolation", classifier=OMIT, sampling=_sampling(4, limit),
        subjects=[*subjects, {"model": "dataset", "name": "honest", "params": {"range": [5000, 5100]}}],
        requirements=[{"name": "agrees", "check": "label_agreement", "at_least": 0.5},
                      {"name": "sane ink", "where": "0.02 < ink < 0.8", "at_least": 0.5}])


@pytest.mark.parametrize("limit", [None, 600], ids=["in-process", "child-process"])
def test_global_torch_state_cannot_leak_into_the_next_subject(tmp_path, caplog, limit):
    mod = _module(tmp_path, HOSTILE)
    hostile = [{"model": f"{mod}:make", "name": m, "params": {"mode": m}} for m in MODES]
    alone = evalkit.run(_spec(tmp_path, [], limit, "alone.yaml"), out=tmp_path / "alone")
    with caplog.at_level(logging.WARNING):
        mixed = evalkit.run(_spec(tmp_path, hostile, limit, "mixed.yaml"), out=tmp_path / "mixed")
    by_name = {s.name: s for s in mixed.subjects}
    assert all(by_name[m].status == "ok" for m in MODES), [(s.name, s.error) for s in mixed.subjects]
    assert _comparable(by_name["honest"]) == _comparable(alone.subjects[0])
    # evalkit's own state is as it was before the run
    assert torch.get_default_dtype() == torch.float32 and torch.get_default_device() == torch.device("cpu")
    assert torch.is_grad_enabled() and not torch.are_deterministic_algorithms_enabled()
    assert torch.get_float32_matmul_precision() == "highest"
    said = [r.getMessage() for r in caplog.records if "changed torch's global" in r.getMessage()]
    for subject, setting in [("dtype", "default dtype"), ("device", "default device"), ("grad", "grad mode"),
                             ("deterministic", "deterministic algorithms"),
                             ("deterministic", "float32 matmul precision")]:
        assert any(f"subject {subject!r}" in m and f"global {setting} " in m for m in said), (subject, setting, said)


def test_user_code_puts_every_setting_back_and_names_it(caplog):
    before = (torch.get_default_dtype(), torch.get_num_threads(), torch.backends.cudnn.benchmark,
              torch.backends.mkldnn.enabled)
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError):
        with user_code("sneaky", "sample()"):
            torch.set_default_dtype(torch.float16)
            torch.set_num_threads(max(1, torch.get_num_threads() + 1))
            torch.backends.cudnn.benchmark = True
            torch.backends.mkldnn.enabled = False
            raise RuntimeError("and it raised too")
    assert (torch.get_default_dtype(), torch.get_num_threads(), torch.backends.cudnn.benchmark,
            torch.backends.mkldnn.enabled) == before
    text = caplog.text
    for setting in ("default dtype", "number of threads", "torch.backends.cudnn.benchmark",
                    "torch.backends.mkldnn.enabled"):
        assert f"subject 'sneaky': sample() changed torch's global {setting} " in text


ZEROING = '''
import numpy as np
import torch
from evalkit.data import fashion

images, labels = fashion.load("test")
POOL = torch.from_numpy(images[labels == 0][:200].astype(np.float32) / 255.0)[:, None]


class Gen:
    """Draws a real Fashion-MNIST image of each asked class, after zeroing the asked labels
    (in place when ``in_place``, as code converting 1-based labels might)."""

    image_shape = (1, 28, 28)
    num_classes = 10

    def __init__(self, in_place):
        self.in_place = in_place

    def sample(self, n, *, labels, generator):
        labels = labels.zero_() if self.in_place else torch.zeros_like(labels)
        pick = torch.randint(0, len(POOL), (n,), generator=generator)
        out = torch.empty(n, 1, 28, 28)
        for i in range(n):
            assert int(labels[i]) == 0
            out[i] = POOL[pick[i]]
        return out


def make(in_place=True):
    return Gen(in_place)
'''


@pytest.mark.parametrize("limit", [None, 600], ids=["in-process", "child-process"])
def test_zeroing_the_asked_labels_in_place_changes_nothing(tmp_path, limit):
    mod = _module(tmp_path, ZEROING)
    spec = write_spec_file(
        tmp_path, "labels.yaml", name="zeroing", reference=OMIT, classifier=OMIT,
        subjects=[{"model": f"{mod}:make", "name": "zeroing", "params": {"in_place": True}},
                  {"model": f"{mod}:make", "name": "copying", "params": {"in_place": False}}],
        sampling=_sampling(5, limit, labels=[1, 7]),
        requirements=[{"name": "agrees", "check": "label_agreement", "at_least": 0.5}])
    rep = evalkit.run(spec, out=tmp_path / "out")
    zeroing, copying = rep.subjects
    assert zeroing.status == copying.status == "ok"
    z, c = zeroing.requirements[0], copying.requirements[0]
    # the same T-shirts judged against the same asked labels (1 = trouser, 7 = sneaker) ...
    assert (z.passed, z.n) == (c.passed, c.n)
    assert [f.index for f in z.failing] == [f.index for f in c.failing]
    # ... which T-shirts hardly ever match: judged against the overwritten 0s they would pass ~38/40
    assert z.n == 40 and z.passed <= 4 and z.verdict == "FAIL"


class _Indexed:
    image_shape = (1, 2, 2)
    num_classes = 3

    def sample_indexed(self, indices, *, seed, n, labels):
        labels.fill_(2)
        return torch.zeros(len(indices), 1, 2, 2)


def test_sample_indexed_gets_a_copy_too():
    asked = torch.tensor([0, 1, 0, 1, 0, 1])
    src = GeneratorSource("idx", _Indexed(), 6, asked.clone(), 0, 2, torch.device("cpu"))
    got = torch.cat([b.labels for b in src.batches(2)])
    assert torch.equal(got, asked) and torch.equal(src.labels, asked)
    assert np.array_equal(got.numpy(), [0, 1, 0, 1, 0, 1])
