"""--baseline that cannot silently compare nothing: pairing before sampling, printed comparison, REGRESSED shown.

Real runs, real report files: a Fashion-MNIST replay with uniform noise of a given
amplitude (tests/plugins/usergen.py). Noise 0.5 lifts most background pixels above
the ink threshold, so "light ink" drops from ~all samples to ~none and FID rises: a
real regression. The baseline is a report written by an earlier run.
"""

import json

import pytest

from evalkit.cli import main
from evalkit.records.reading import read_report

from .cli import cli

SPEC = """\
version: 1
name: {name}
reference: {{dataset: fashion-mnist, split: test, range: [0, 400]}}
features: pixels
features_check: off  # at_most 1e6 is vacuous on purpose here (the FID is judged against the baseline); the check would refuse it
classifier: null
subjects:
{subjects}
sampling: {{n: 200, batch_size: 100, seed: 3}}
requirements:
  - {{name: in range, check: in_range, at_least: 0.9}}
  - {{name: light ink, where: "ink < 0.6", at_least: 0.5}}
  - {{metric: fid, at_most: 1000000}}
regression: {{tolerance: {{fid: 1.0}}}}
"""


def subject(noise, name=None):
    line = f"  - model: usergen:noisy_replay\n    params: {{noise: {noise}}}\n"
    return line + (f"    name: {name}\n" if name else "")


def spec_text(*subjects, name="regress"):
    return SPEC.format(name=name, subjects="".join(subjects).rstrip("\n"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A baseline report of the clean replay, written by a real run."""
    d = tmp_path_factory.mktemp("baseline")
    spec = d / "spec.yaml"
    spec.write_text(spec_text(subject(0.0)))
    assert main(["run", str(spec), "--out", str(d / "rep"), "--quiet", "--format", "json"]) == 0
    return d / "rep" / "report.json"


def test_param_change_pairs_by_model_and_a_real_regression_shows_everywhere(baseline, write_spec, tmp_path, capsys):
    spec = write_spec(spec_text(subject(0.5)))
    out = tmp_path / "cur"
    code, stdout, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(out),
                             "--format", "json", "--format", "markdown"], capsys)
    assert code == 1, err
    rep = read_report(out)
    base = read_report(baseline)
    assert rep.baseline_pairs[0].matched_by == "model"
    assert rep.baseline_pairs[0].note == "params changed: noise 0.0 -> 0.5"
    s, b = rep.subjects[0], {r.name: r for r in base.subjects[0].requirements}
    reqs = {r.name: r for r in s.requirements}
    # the values and differences printed are the two reports' own numbers
    ink = reqs["light ink"]
    assert ink.regressed and ink.baseline.verdict == "REGRESSED"
    assert ink.baseline.baseline_value == b["light ink"].value and ink.baseline.value == ink.value
    assert ink.baseline.difference == pytest.approx(ink.value - b["light ink"].value)
    assert b["light ink"].value >= 0.85 and ink.value < 0.2  # hand-checkable size of the effect
    fid = reqs["fid"]
    assert fid.verdict == "PASS" and fid.regressed and fid.baseline.tolerance == 1.0
    assert not reqs["in range"].regressed and reqs["in range"].baseline.verdict == "no significant regression"
    # terminal: REGRESSED in the table, and the comparison printed
    assert any(line.split()[:2] == ["REGRESSED", "light"] for line in stdout.splitlines())
    assert "baseline" in stdout and "params changed: noise 0.0 -> 0.5" in stdout
    line = next(x for x in stdout.splitlines() if x.strip().startswith("REGRESSED") and " fid " in x and "baseline " in x)
    assert f"baseline {b['fid'].value:.4g}" in line and f"now {fid.value:.4g}" in line and "tolerance 1" in line
    # Markdown: REGRESSED in the grid and the table, never a bare PASS for fid
    md = (out / "report.md").read_text()
    assert "| fid | **REGRESSED** |" in md and "## Against the baseline" in md
    # JSON: a flag and a record per requirement
    data = json.loads((out / "report.json").read_text())
    flags = {r["name"]: (r["regressed"], r["baseline"]["verdict"]) for r in data["subjects"][0]["requirements"]}
    assert flags["fid"] == (True, "REGRESSED") and flags["in range"] == (False, "no significant regression")


def test_same_settings_again_is_compared_and_not_regressed(baseline, write_spec, tmp_path, capsys):
    spec = write_spec(spec_text(subject(0.0)))
    code, stdout, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(tmp_path / "o"),
                             "--format", "json"], capsys)
    assert code == 0, err
    compared = [x for x in stdout.splitlines() if "no significant regression" in x]
    assert len(compared) == 3  # every requirement was compared, and said so
    assert "(same name)" in stdout


def test_another_specs_baseline_is_an_error_before_sampling(baseline, write_spec, tmp_path, capsys):
    other = spec_text(subject(0.0)).replace("light ink", "light inks").replace("in range", "pixels ok")
    spec = write_spec(other)
    out = tmp_path / "never"
    code, stdout, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(out)], capsys)
    assert code == 2
    assert "requirement 'light inks': not in baseline subject" in err and "did you mean 'light ink'?" in err
    assert "requirement 'pixels ok': not in baseline subject" in err
    assert "--baseline-partial" in err
    assert not out.exists()  # nothing ran, nothing written
    # partial still refuses a baseline that pairs nothing at all
    nothing = write_spec(spec_text(subject(0.0, name="renamed")), name="nothing.yaml")
    code, _, err = cli(["run", str(nothing), "--baseline", str(baseline), "--baseline-partial", "--out", str(out)], capsys)
    assert code == 2 and "compare nothing" in err and "subject 'renamed' (an explicit name) is not in the baseline" in err
    assert not out.exists()


def test_partial_compares_what_pairs_and_says_what_it_left_out(baseline, write_spec, tmp_path, capsys):
    text = spec_text(subject(0.0)).replace("  - {metric: fid", "  - {name: dark ink, where: \"ink > 0.01\", at_least: 0.5}\n  - {metric: fid")
    spec = write_spec(text)
    code, _, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "'dark ink'" in err
    code, stdout, err = cli(["run", str(spec), "--baseline", str(baseline), "--baseline-partial",
                             "--out", str(tmp_path / "o"), "--format", "json"], capsys)
    assert code == 0, err
    assert "not compared: subject 'usergen:noisy_replay(noise=0.0)', requirement 'dark ink'" in stdout
    rep = read_report(tmp_path / "o")
    reqs = {r.name: r for r in rep.subjects[0].requirements}
    assert reqs["dark ink"].baseline is None and reqs["light ink"].baseline is not None
    assert rep.baseline_not_compared and "dark ink" in rep.baseline_not_compared[0]


def test_two_subjects_of_one_model_need_names(baseline, write_spec, tmp_path, capsys):
    spec = write_spec(spec_text(subject(0.1), subject(0.2)))
    code, _, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "2 subjects of model 'usergen:noisy_replay' here and 1 in the baseline" in err and "`name:`" in err


def test_other_reference_makes_metrics_incomparable(baseline, write_spec, tmp_path, capsys):
    spec = write_spec(spec_text(subject(0.0)).replace("range: [0, 400]", "range: [400, 800]"))
    code, _, err = cli(["run", str(spec), "--baseline", str(baseline), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "requirement 'fid': not comparable, the reference differs" in err
