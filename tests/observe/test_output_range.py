"""The generator contract: pixels in [0, 1], unless the spec measures the range or the generator declares its own."""

import torch

import evalkit
from evalkit.sample.sources import GeneratorSource

SPEC = """\
version: 1
name: range
features: pixels
classifier: null
subjects: [{model: 'usergen:Tanh', params: {declared: DECLARED}}]
sampling: {n: 40, batch_size: 20}
requirements:
  - REQUIREMENT
"""


def run(write_spec, declared="false", requirement="{where: 'mean > -2', at_least: 0.5}"):
    return evalkit.run(write_spec(SPEC.replace("DECLARED", declared).replace("REQUIREMENT", requirement)), write=False)


def test_values_outside_unit_range_stop_the_subject_naming_it_and_the_range(write_spec):
    rep = run(write_spec)
    sub = rep.subjects[0]
    assert sub.status == "broken" and rep.exit_code == 3
    # the observed range of the first batch, computed independently
    src = GeneratorSource("t", __import__("usergen").Tanh(), 40, None, 0, 50, torch.device("cpu"))
    first = next(iter(src.batches(20))).images
    assert "usergen:Tanh" in sub.error or "Tanh" in sub.name
    assert f"[{float(first.min()):.4g}, {float(first.max()):.4g}]" in sub.error and "outside [0, 1]" in sub.error


def test_an_in_range_requirement_measures_instead_of_stopping(write_spec):
    rep = run(write_spec, requirement="{check: in_range, at_least: 0.5}")
    sub = rep.subjects[0]
    assert sub.status == "ok" and sub.requirements[0].passed == 0 and sub.requirements[0].verdict == "FAIL"


def test_a_declared_range_is_honoured(write_spec):
    rep = run(write_spec, declared="true")
    assert rep.subjects[0].status == "ok" and rep.exit_code == 0
