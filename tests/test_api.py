"""api.py: evalkit.run as a library call (a Report, its exit code, the folder it writes or not),
and the `validate` / `plan` verbs that share its checks, through the public entry points.

Verdicts are predicted here from Clopper-Pearson closed forms: n samples that all pass have the
one-sided 95% lower bound 0.05 ** (1 / n), so in_range over a clean replay of 40 PASSes
`at_least: 0.9` (0.928 > 0.9) and cannot decide `at_least: 0.999`.
"""

from __future__ import annotations

import re

import pytest

import evalkit
from evalkit.api import default_out_dir
from evalkit.cli import main
from tests.specs import OMIT, REQUIREMENT

N = 40
LOWER_ALL_PASS = 0.05 ** (1 / N)  # 0.9278...


def test_the_premise_of_the_bounds():
    assert 0.9 < LOWER_ALL_PASS < 0.999


def test_run_without_write_returns_the_report_and_writes_nothing(make_spec, tmp_path, monkeypatch):
    spec = make_spec()
    monkeypatch.chdir(tmp_path)  # where a default reports/ folder would appear
    before = sorted(p.name for p in tmp_path.iterdir())
    report = evalkit.run(spec, write=False)
    assert isinstance(report, evalkit.Report)
    assert report.exit_code == 0 and report.written_to is None
    [sub] = report.subjects
    [req] = sub.requirements
    assert (sub.status, sub.n, req.passed, req.verdict) == ("ok", N, N, "PASS")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_spec_object_runs_like_its_file(make_spec):
    path = make_spec()
    by_path = evalkit.run(path, write=False)
    by_spec = evalkit.run(evalkit.load_spec(path), write=False)
    assert [r.passed for r in by_spec.subjects[0].requirements] == [r.passed for r in by_path.subjects[0].requirements]


def test_exit_codes_follow_the_verdicts(make_spec):
    failing = make_spec("fail.yaml", requirements=[{"name": "none inky", "where": "ink < 0", "at_least": 0.5}])
    undecided = make_spec("undecided.yaml", requirements=[dict(REQUIREMENT, at_least=0.999)])
    assert evalkit.run(failing, write=False).exit_code == 1  # no image has negative ink: 0/40
    report = evalkit.run(undecided, write=False)
    assert report.subjects[0].requirements[0].verdict == "INCONCLUSIVE" and report.exit_code == 0
    assert evalkit.run(undecided, write=False, strict=True).exit_code == 1  # --strict: undecided is not a pass


def test_a_broken_subject_is_exit_3_and_the_others_still_run(make_spec):
    spec = make_spec(reference=OMIT, subjects=[{"model": "usergen:Raises", "name": "raises"},
                                               {"model": "usergen:Blobs", "name": "blobs", "params": {"size": 8}}],
                     requirements=[dict(REQUIREMENT, at_least=0.5)])
    report = evalkit.run(spec, write=False)
    assert report.exit_code == 3
    assert [s.status for s in report.subjects] == ["broken", "ok"]
    assert "out of cheese" in report.subjects[0].error


def test_n_overrides_the_spec(make_spec):
    report = evalkit.run(make_spec(), n=10, write=False)
    assert report.subjects[0].n == 10 and report.subjects[0].requirements[0].n == 10


def test_run_writes_the_folder_it_was_given_and_says_so_in_those_words(make_spec, tmp_path, monkeypatch):
    spec = make_spec()
    monkeypatch.chdir(tmp_path)
    report = evalkit.run(spec, out="rel/out")
    assert report.exit_code == 0
    assert str(report.written_to) == "rel/out"  # relative stays relative
    assert (tmp_path / "rel" / "out" / "report.json").is_file()
    assert evalkit.read_report(tmp_path / "rel" / "out").subjects[0].requirements[0].passed == N


def test_a_used_folder_is_refused_before_sampling_unless_overwrite(make_spec, tmp_path):
    spec, out = make_spec(), tmp_path / "out"
    evalkit.run(spec, out=out)
    with pytest.raises(evalkit.SpecError, match="out"):
        evalkit.run(spec, out=out)
    assert evalkit.run(spec, out=out, overwrite=True).exit_code == 0


@pytest.mark.parametrize("kwargs,words", [
    (dict(out="elsewhere"), "a resumed run writes into the folder it resumes"),
    (dict(overwrite=True), "--overwrite would remove the journal"),
])
def test_resume_excludes_another_out_and_overwrite(make_spec, tmp_path, kwargs, words):
    with pytest.raises(evalkit.UsageError, match=words):
        evalkit.run(make_spec(), resume=tmp_path / "run", **kwargs)


def test_an_unknown_format_is_refused_before_anything_runs(make_spec, tmp_path):
    with pytest.raises(evalkit.EvalkitError, match="pdf"):
        evalkit.run(make_spec(), out=tmp_path / "o", formats=["json", "pdf"])
    assert not (tmp_path / "o").exists()


def test_a_bad_spec_is_one_spec_error_before_sampling(make_spec, tmp_path):
    spec = make_spec(reference={"path": "nowhere"}, training={"path": "nowhere either"})
    with pytest.raises(evalkit.SpecError) as info:
        evalkit.run(spec, out=tmp_path / "o")
    assert len(info.value.problems) == 2 and info.value.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_default_out_dir_is_named_after_the_spec_and_never_reused(make_spec, tmp_path):
    spec = evalkit.load_spec(make_spec(name="audit"))
    first = default_out_dir(spec, tmp_path)
    # <slug of the name>-<YYYYmmdd-HHMMSS>
    assert first.parent == tmp_path and re.fullmatch(r"audit.*-\d{8}-\d{6}", first.name), first.name
    first.mkdir()
    second = default_out_dir(spec, tmp_path)
    # the same second: a "-2" folder beside it (or a later second's name), never the used one
    assert second != first and not second.exists()


def test_validate_and_plan_exit_codes(make_spec, capsys):
    good = make_spec()
    bad = make_spec("bad.yaml", reference=OMIT, requirements=[{"metric": "fid", "at_most": 10}])
    assert main(["validate", str(good)]) == 0
    assert main(["plan", str(good)]) == 0
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 2
    assert "needs real images" in capsys.readouterr().err
    assert main(["plan", str(bad)]) == 2
