"""--baseline with `regression: {equivalent: ..., non_inferior: ...}`: the verdicts, the exit codes, the spec errors."""

import pytest

from evalkit._errors import SpecError
from evalkit.records.reading import read_report
from evalkit.spec.load import load_spec
from evalkit.plan import make_plan

from .cli import cli

SPEC = """\
version: 1
name: eq
reference: {{dataset: fashion-mnist, split: test, range: [0, 500]}}
subjects:
  - model: fashion-vae
    name: vae
    params: {{temperature: {t}}}
sampling: {{n: 160, batch_size: 80, seed: {seed}}}
requirements:
  - {{name: right class, check: label_agreement, at_least: 0.2}}
  - {{name: in range, check: in_range, at_least: 0.9}}
regression: {{{regression}}}
"""


def _run(write_spec, tmp_path, capsys, name, regression, t=1.0, seed=0, baseline=None, strict=False):
    spec = write_spec(SPEC.format(t=t, seed=seed, regression=regression), f"{name}.yaml")
    args = ["run", str(spec), "--out", str(tmp_path / name), "--format", "json", "--device", "cpu"]
    args += ["--baseline", str(tmp_path / baseline)] if baseline else []
    args += ["--strict"] if strict else []
    code, out, err = cli(args, capsys)
    return code, out + err, read_report(tmp_path / name / "report.json")


def test_a_clearly_better_run_is_not_equivalent_and_exits_1(write_spec, tmp_path, capsys):
    """Baseline: a hot sampler (temperature 2.5); now the default: far more class-like, so no regression but
    the equivalence within 0.02 FAILs (the whole interval lies above +0.02)."""
    code, _, _ = _run(write_spec, tmp_path, capsys, "hot", "tolerance: {}", t=2.5)
    assert code == 0
    code, out, rep = _run(write_spec, tmp_path, capsys, "cur", "equivalent: {right class: 0.02}", baseline="hot")
    s = rep.subjects[0]
    assert s.regressions == []
    e = s.requirements[0].baseline.equivalence
    assert e is not None and e.verdict == "FAIL" and e.low > 0.02 and e.paired
    assert code == 1, out
    assert "FAIL: equivalent within +-0.02" in out
    assert "equivalence and non-inferiority: family-wise level 0.95" in rep.equivalence_correction


def test_inconclusive_exits_0_and_1_under_strict_with_the_n_that_would_decide(write_spec, tmp_path, capsys):
    _run(write_spec, tmp_path, capsys, "a", "tolerance: {}")
    reg = "non_inferior: {right class: 0.01}"
    code, out, rep = _run(write_spec, tmp_path, capsys, "b", reg, seed=1, baseline="a")
    e = rep.subjects[0].requirements[0].baseline.equivalence
    assert e.verdict == "INCONCLUSIVE" and not e.paired
    assert code == 0, out
    # unpaired at n=160 the spread is ~0.045 per side: a 0.01 margin needs thousands of samples, if any n would do
    assert e.n_to_decide is None or e.n_to_decide > 1000
    code, out, rep = _run(write_spec, tmp_path, capsys, "c", reg, seed=1, baseline="a", strict=True)
    assert code == 1, out


@pytest.mark.parametrize("regression, message", [
    ("equivalent: {rigth class: 0.02}", "regression.equivalent.rigth class: equivalent 'rigth class' names no "
                                        "requirement or metric; did you mean 'right class'?"),
    ("non_inferior: {in range: 0}", "the margin of 'in range' must be a finite number > 0"),
    ("equivalent: {in range: 0.1}, non_inferior: {in range: 0.1}", "in both equivalent: and non_inferior:"),
])
def test_bad_margins_are_spec_errors_naming_the_field(write_spec, regression, message):
    spec = write_spec(SPEC.format(t=1.0, seed=0, regression=regression))
    with pytest.raises(SpecError) as exc:
        make_plan(load_spec(spec))
    assert message in str(exc.value)
