"""--baseline through the public API: unchanged models pass, a worse one is flagged."""

import json


import evalkit
from evalkit.compare.baseline import higher_is_better

SPEC = """\
version: 1
name: base
reference: {{dataset: fashion-mnist, split: test, range: [0, 1000]}}
features: fashion-classifier
classifier: null
subjects:
  - {subject}
    name: model
sampling: {{n: 300, batch_size: 150, seed: {seed}}}
requirements:
  - {{name: sane ink, where: "0.1 < ink < 0.4", at_least: 0.3}}
  - {{name: in range, check: in_range, at_least: 0.9}}
  - {{metric: fid, at_most: 500}}
"""


REPLAY = "model: dataset\n    params: {range: [5000, 7000]}"


def _run(write_spec, tmp_path, seed, subject=REPLAY, baseline=None, name="s.yaml"):
    spec = write_spec(SPEC.format(seed=seed, subject=subject), name)
    return evalkit.run(spec, device="cpu", out=tmp_path / name.replace(".yaml", ""), baseline=baseline,
                       formats=["json", "markdown"])


def test_orientation_comes_from_the_metric_declaration():
    assert higher_is_better("fid") is False and higher_is_better("kid") is False
    assert higher_is_better("precision") is True


def test_same_model_other_seed_is_not_a_regression_and_the_method_is_stated(write_spec, tmp_path):
    _run(write_spec, tmp_path, seed=1, name="a.yaml")
    rep = _run(write_spec, tmp_path, seed=2, baseline=tmp_path / "a", name="b.yaml")
    s = rep.subjects[0]
    assert s.regressions == []
    assert {d.requirement for d in s.differences} >= {"sane ink", "in range", "fid"}
    assert "Holm over 3" in rep.baseline_correction
    md = (tmp_path / "b" / "report.md").read_text()
    assert "Holm over 3" in md
    # every metric verdict states the N it was judged at, beside it
    fid_row = next(line for line in md.splitlines() if line.startswith("| fid |") and "<=" in line)
    assert "| 300 |" in fid_row
    data = json.loads((tmp_path / "b" / "report.json").read_text())
    assert data["subjects"][0]["differences"][0]["verdict"] in ("no significant difference", "better")


def test_a_different_model_is_flagged(write_spec, tmp_path):
    _run(write_spec, tmp_path, seed=1, name="a.yaml")
    # the mode-collapsed GAN (FID ~84 in these features) against real images (FID ~8)
    rep = _run(write_spec, tmp_path, seed=1, subject="model: fashion-dcgan", baseline=tmp_path / "a", name="b.yaml")
    s = rep.subjects[0]
    assert "fid" in s.regressions
    assert rep.exit_code == 1
