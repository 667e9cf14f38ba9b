"""`labels: stratified` through a spec: validate, plan's classes and a run (issue 23: it crashed both)."""

from __future__ import annotations

import numpy as np

import evalkit
from evalkit.cli import main
from evalkit.plan import make_plan
from evalkit.records.samples import read_samples
from evalkit.spec.load import load_spec

SPEC = """\
version: 1
name: strat
classifier: fashion-classifier
subjects:
  - model: fashion-vae
sampling: {n: 25, batch_size: 10, seed: 0, labels: stratified}
requirements:
  - {name: rng, check: in_range, at_least: 0.9}
  - {name: right class, check: label_agreement, at_least: 0.1, per_class: true}
"""


def test_stratified_validates_and_plans_every_class(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    assert main(["validate", str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    plan = make_plan(load_spec(path))
    assert plan.classes_asked(plan.subjects[0]) == 10  # fashion-vae's 10 classes, not the letters of "stratified"


def test_stratified_run_asks_the_classes_in_exact_turn(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    report = evalkit.run(path, out=tmp_path / "out", formats=["json"], device="cpu")
    sub = report.subjects[0]
    assert sub.status == "ok", sub.error
    asked = read_samples(tmp_path / "out", sub.name).tensors["asked"].numpy()
    np.testing.assert_array_equal(asked, [i % 10 for i in range(25)])  # 0..9, 0..9, 0..4
    per_class = next(r for r in sub.requirements if r.name == "right class").per_class
    assert {c.label: c.n for c in per_class} == {c: 3 if c < 5 else 2 for c in range(10)}  # hand count of 25 in turn
