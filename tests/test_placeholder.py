"""`model: evalkit:in_training`: a spec's subject left for evalkit.Evaluator to fill. It validates
(label checks too: its classes are the model's, known once it is given), validating it does not
import torch, and `evalkit run`, which has no model for it, breaks the subject saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import evalkit
from evalkit.cli import main
from evalkit.placeholder import in_training

PLACEHOLDER = {"name": "mine", "model": "evalkit:in_training"}
AGREEMENT = {"name": "right class", "check": "label_agreement", "at_least": 0.8, "per_class": True}
ROOT = Path(__file__).resolve().parents[1]


def test_a_placeholder_spec_validates_with_label_checks(make_spec):
    spec = make_spec(subjects=[PLACEHOLDER], classifier="fashion-classifier", requirements=[AGREEMENT])
    assert main(["validate", str(spec)]) == 0


def test_validating_it_does_not_import_torch(make_spec):
    spec = make_spec(subjects=[PLACEHOLDER])
    probe = (f"import sys; from evalkit.cli import main; code = main(['validate', {str(spec)!r}]); "
             "print(code, 'torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.stdout.split()[-2:] == ["0", "False"], res.stderr


def test_evalkit_run_breaks_the_subject_and_names_the_evaluator(make_spec, tmp_path):
    spec = make_spec(subjects=[PLACEHOLDER])
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 3
    [sub] = json.loads((tmp_path / "out" / "report.json").read_text())["subjects"]
    assert sub["status"] == "broken"
    assert "placeholder that evalkit.Evaluator(spec).evaluate(model) fills" in sub["error"]
    assert evalkit.in_training is in_training  # exported, so `evalkit:in_training` resolves to it
