"""One validation before anything runs: every problem a spec holds, at once, with its place.

Each case below used to pass `evalkit validate` and stop a run later (sometimes after
other subjects had sampled); now `validate` and the start of `run` refuse it with
exit 2 and nothing runs.
"""

import pytest

from evalkit import SpecError, parse_spec
from evalkit.cli import main
from evalkit.plan import make_plan

ZOO = """\
version: 1
name: v
features: pixels
classifier: null
subjects:
  - {model: dataset, params: {range: [0, 1000]}}
sampling: {n: 100, batch_size: 50}
requirements:
  - {name: in range, check: in_range, at_least: 0.9}
"""


def problems(text: str, tmp_path) -> list[str]:
    path = tmp_path / "v.yaml"
    path.write_text(text)
    from evalkit.spec.load import load_spec

    with pytest.raises(SpecError) as info:
        make_plan(load_spec(path))
    return info.value.problems


def one_problem(text, tmp_path, *fragments):
    ps = problems(text, tmp_path)
    hits = [p for p in ps if all(f in p for f in fragments)]
    assert hits, f"no problem holds {fragments}: {ps}"
    return hits[0]


def test_the_base_spec_is_valid(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(ZOO)
    assert main(["validate", str(path)]) == 0


def test_features_typo_is_named_with_the_nearest_extractor(tmp_path):
    p = one_problem(ZOO.replace("features: pixels", "features: pixles")
                    + "  - {metric: vendi, at_least: 1}\n", tmp_path, "features", "'pixles'")
    assert "did you mean 'pixels'" in p and "v.yaml:3:" in p


def test_missing_feature_file(tmp_path):
    one_problem(ZOO.replace("features: pixels", "features: nets/inception.pt2"), tmp_path, "not found", "inception.pt2")


def test_classifier_that_cannot_classify(tmp_path):
    text = ZOO.replace("classifier: null", "classifier: pixels") + "  - {check: confident, at_least: 0.5}\n"
    one_problem(text, tmp_path, "classifier", "no class logits")


def test_per_class_and_label_checks_on_an_unconditional_user_class(tmp_path):
    text = ZOO.replace("{model: dataset, params: {range: [0, 1000]}}", "{model: 'usergen:Blobs', params: {size: 8, channels: 1}}")
    text += "  - {where: 'ink > 0', at_least: 0.5, per_class: true}\n  - {where: 'label == 3', at_least: 0.1}\n"
    ps = problems(text, tmp_path)
    assert sum("unconditional" in p for p in ps) == 2, ps


def test_tolerance_typo_is_refused_with_the_nearest_name(tmp_path):
    p = one_problem(ZOO + "regression: {tolerance: {in rnage: 0.01}}\n", tmp_path, "tolerance", "'in rnage'")
    assert "did you mean 'in range'" in p


@pytest.mark.parametrize("where,col", [("ink", 1), ("ink + 1", 5), ("ink > 0 and contrast", 13), ("(ink < 1) + 1", 2)])
def test_where_must_be_a_condition_at_the_top(where, col):
    with pytest.raises(SpecError) as info:
        parse_spec(ZOO + f"  - {{where: '{where}', at_least: 0.5}}\n", "s.yaml")
    (p,) = info.value.problems
    assert f"(column {col})" in p, p


def test_zoo_steps_zero_is_a_spec_problem(tmp_path):
    text = ZOO.replace("{model: dataset, params: {range: [0, 1000]}}", "{model: fashion-ddpm, params: {steps: 0}}")
    p = one_problem(text, tmp_path, "steps", ">= 1", "got 0")
    assert "subjects[0].params.steps" in p
    path = tmp_path / "steps.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_labels_outside_the_model_classes(tmp_path):
    text = ZOO.replace("sampling: {n: 100, batch_size: 50}", "sampling: {n: 100, batch_size: 50, labels: [0, 99]}")
    one_problem(text, tmp_path, "class 99 is asked", "10 classes")


def test_dataset_range_past_the_split():
    with pytest.raises(SpecError) as info:
        parse_spec(ZOO.replace("features: pixels", "features: pixels\nreference: {dataset: fashion-mnist, range: [0, 20000]}"),
                   "s.yaml")
    assert any("runs past the 10000 images" in p for p in info.value.problems)


def test_unknown_report_format_is_refused_by_the_schema():
    with pytest.raises(SpecError) as info:
        parse_spec(ZOO + "report: {formats: [json, pdf]}\n", "s.yaml")
    assert any("report.formats[1]" in p for p in info.value.problems)


def test_metric_n_below_the_interval_minimum(tmp_path):
    text = ZOO.replace("sampling: {n: 100, batch_size: 50}", "sampling: {n: 1, batch_size: 1}") + \
        "  - {metric: vendi, at_least: 1}\n"
    one_problem(text, tmp_path, "sampling.n", "'vendi'", "N >= 2", "sampling.n is 1")


def test_every_problem_at_once(tmp_path):
    text = ZOO.replace("features: pixels", "features: pixles")
    text = text.replace("{model: dataset, params: {range: [0, 1000]}}",
                        "{model: fashion-ddpm, params: {steps: 0}}\n  - {path: no/such/folder}")
    text = text.replace("sampling: {n: 100, batch_size: 50}", "sampling: {n: 100, batch_size: 50, labels: [0, 99]}")
    text += "  - {metric: vendi, at_least: 1}\nregression: {tolerance: {vendy: 0.1}}\n"
    ps = problems(text, tmp_path)
    for fragment in ("pixles", "steps", "no/such/folder", "class 99", "'vendy'"):
        assert any(fragment in p for p in ps), (fragment, ps)


def test_plugins_make_a_users_check_nameable(tmp_path):
    (tmp_path / "mychecks.py").write_text(
        "import evalkit\n"
        "@evalkit.check('top_left_dark', help='the top-left pixel is below limit')\n"
        "def top_left_dark(obs, *, limit: float = 0.5):\n"
        "    return obs.images[:, :, 0, 0].amax(1).cpu() < limit\n"
    )
    text = ZOO.replace("name: v\n", "name: v\nplugins: [mychecks]\n") + \
        "  - {check: top_left_dark, args: {limit: 0.9}, at_least: 0.5}\n"
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("limit: 0.9", "limt: 0.9"))
    assert main(["validate", str(bad)]) == 2


def test_a_plugin_that_does_not_import_is_named(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(ZOO.replace("name: v\n", "name: v\nplugins: [no_such_plugin_module]\n"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "p.yaml:3:" in err and "no_such_plugin_module" in err
