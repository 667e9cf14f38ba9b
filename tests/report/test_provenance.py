"""Every rendering says which network judged labels and which gave the distribution metrics.

Real runs (replayed test images, the bundled networks) written by `evalkit run`: the
record's `classifier`, report.md, report.html and the terminal table all name them.
"""

from __future__ import annotations

import hashlib
import html
import json

import pytest

from evalkit.cli import main
from evalkit.report.provenance import networks_line
from evalkit.zoo.models import models_dir

from tests.specs import OMIT, write_spec_file

LABELS = {"name": "right class", "check": "label_agreement", "at_least": 0.5}
FID = {"metric": "fid", "at_most": 50}
FORMATS = {"formats": ["json", "markdown", "html"]}
BOTH = "labels judged by fashion-classifier; distribution metrics in fashion-encoder features (128-d)"


def _run(tmp_path, capsys, **parts) -> tuple[dict, str, str, str]:
    spec = write_spec_file(tmp_path, report=FORMATS, **parts)
    out = tmp_path / "out"
    main(["run", str(spec), "--out", str(out)])
    terminal = capsys.readouterr().out
    return (json.loads((out / "report.json").read_text()), (out / "report.md").read_text(),
            html.unescape((out / "report.html").read_text()), terminal)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The spec's own defaults for `features:` and `classifier:` (neither key written)."""
    tmp = tmp_path_factory.mktemp("defaults")
    spec = write_spec_file(tmp, features=OMIT, classifier=OMIT, requirements=[LABELS, FID], report=FORMATS)
    out = tmp / "out"
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    return out


def test_the_default_spec_names_both_networks_in_the_record_and_every_rendering(default_run):
    record = json.loads((default_run / "report.json").read_text())
    assert record["classifier"] == "fashion-classifier" and record["features"] == "fashion-encoder"
    assert (record["reference"]["features"], record["reference"]["feature_dim"]) == ("fashion-encoder", 128)
    space = record["reference"]["feature_space"]  # what compare and --baseline check
    weights = models_dir() / "fashion-encoder.safetensors"
    assert space["digest"] == "fashion-encoder:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert space["preprocessing"]["value_range"] == [-1.0, 1.0] and space["preprocessing"]["size"] == [28, 28]
    assert f"- networks: {BOTH}\n" in (default_run / "report.md").read_text()
    page = html.unescape((default_run / "report.html").read_text())
    assert f"<p class=\"note\">Networks: {BOTH}</p>" in page and f"<dt>networks</dt><dd>{BOTH}</dd>" in page


def test_the_terminal_table_names_both_networks(tmp_path, capsys):
    _, _, _, terminal = _run(tmp_path, capsys, features=OMIT, classifier=OMIT, requirements=[LABELS, FID])
    assert f"\nnetworks: {BOTH}\n" in terminal


def test_one_network_for_both_is_said_to_reward_twice(tmp_path, capsys):
    record, md, page, terminal = _run(tmp_path, capsys, features="fashion-classifier", classifier=OMIT,
                                      requirements=[LABELS, FID])
    line = ("labels judged by fashion-classifier; distribution metrics in fashion-classifier features (128-d) "
            "(one network for both: a model matching its classes is rewarded twice)")
    assert record["classifier"] == "fashion-classifier"
    assert f"- networks: {line}" in md and line in page and line in terminal


def test_a_classifier_no_requirement_reads_is_not_said_to_judge(tmp_path, capsys):
    record, md, _, terminal = _run(tmp_path, capsys, features=OMIT, classifier=OMIT, requirements=[FID])
    assert record["classifier"] is None
    assert "- networks: distribution metrics in fashion-encoder features (128-d)\n" in md
    assert "labels judged" not in md and "labels judged" not in terminal


def test_no_networks_no_line():
    from evalkit.records.model import Environment, Report

    env = Environment(device="cpu", evalkit="0", torch="0", python="3", platform="p")
    bare = Report(name="r", spec={}, spec_sha256="0" * 64, started="t", seed=0, environment=env)
    assert networks_line(bare) is None
    with_dim = bare.model_copy(update={"reference": {"features": "pixels", "feature_dim": 784}, "classifier": None})
    assert networks_line(with_dim) == "distribution metrics in pixels features (784-d)"
