"""plan.make_plan: subjects, requirements, --n, warnings and the one SpecError, against hand counts.

Every spec is built by tests/specs.py, so its layout is known here: line 7 is the first subject,
line 8 `sampling:`, line 10 the first requirement. Expected marks are counted from that text,
not read back from evalkit.
"""

from __future__ import annotations

import pytest

from evalkit._errors import SpecError
from evalkit.plan import make_plan
from evalkit.registry import Input
from evalkit.spec.load import load_spec
from tests.specs import OMIT, REFERENCE


def _col(line: str, needle: str) -> int:
    """1-based column just after `needle` in `line`: where a mark of that field's value points."""
    return line.index(needle) + len(needle) + 1


def test_a_replay_subject_gets_its_name_classes_and_range(make_spec):
    plan = make_plan(load_spec(make_spec()))
    [sp] = plan.subjects
    # display name = model + sorted params; Fashion-MNIST replays its 10 classes
    assert sp.name == "dataset(range=[5000, 5100])"
    assert (sp.num_classes, sp.classes_known, sp.images_path) == (10, True, None)
    assert sp.output_range == (0.0, 1.0) and sp.factory is not None


def test_user_subjects_read_num_classes_without_building_and_factories_stay_unknown(make_spec):
    plan = make_plan(load_spec(make_spec(subjects=[
        {"model": "usergen:Striped", "name": "striped"},  # class attribute num_classes = 10
        {"model": "usergen:Blobs", "name": "blobs"},  # num_classes = None: unconditional
        {"model": "usergen:make_blobs", "name": "factory"},  # a function: not called at validation
    ])))
    got = [(s.name, s.num_classes, s.classes_known) for s in plan.subjects]
    assert got == [("striped", 10, True), ("blobs", None, True), ("factory", None, False)]


def test_an_image_set_subject_resolves_its_path_beside_the_spec(make_spec, tmp_path):
    import numpy as np

    np.savez(tmp_path / "g.npz", images=np.zeros((40, 28, 28), np.uint8))
    [sp] = make_plan(load_spec(make_spec(subjects=[{"path": "g.npz"}]))).subjects
    assert sp.images_path == tmp_path / "g.npz" and sp.num_classes is None and sp.factory is None


def test_each_requirement_kind_is_planned_with_what_it_reads(make_spec):
    plan = make_plan(load_spec(make_spec(
        confidence=0.9,
        requirements=[
            {"name": "in range", "check": "in_range", "at_least": 0.9},
            {"where": "0.02 < ink < 0.8", "at_least": 0.5, "confidence": 0.99},
            {"metric": "fid", "at_most": 1000},
            {"name": "per class", "check": "in_range", "at_least": 0.5, "per_class": True},
        ])))
    check, where, fid, per_class = plan.requirements
    assert check.check.name == "in_range" and check.needs == {Input.IMAGES}
    assert where.expr is not None and where.expr.names == {"ink"} and where.needs == {Input.IMAGES}
    assert fid.metric.name == "fid" and fid.needs == {Input.FEATURES, Input.REFERENCE}
    assert per_class.needs == {Input.IMAGES, Input.LABELS}
    # a requirement's own confidence, else the spec's
    assert [r.confidence for r in plan.requirements] == [0.9, 0.99, 0.9, 0.9]
    # a requirement without a name is labelled by what it asks
    assert [r.name for r in plan.requirements] == ["in range", "0.02 < ink < 0.8", "fid", "per class"]
    assert [r.name for r in plan.rate_requirements] == ["in range", "0.02 < ink < 0.8", "per class"]
    assert [r.name for r in plan.metric_requirements] == ["fid"]
    # any metric reads features, whichever requirement asked for it
    assert plan.needs == {Input.IMAGES, Input.LABELS, Input.FEATURES, Input.REFERENCE}


def test_a_check_gets_its_declared_defaults_filled_in(make_spec):
    [rp] = make_plan(load_spec(make_spec(requirements=[{"check": "no_duplicate", "at_least": 0.5}]))).requirements
    [given] = make_plan(load_spec(make_spec(requirements=[
        {"check": "no_duplicate", "at_least": 0.5, "args": {"threshold": 0.05}}]))).requirements
    assert "threshold" in rp.args and given.args["threshold"] == 0.05


@pytest.mark.parametrize("labels,n,asked", [
    ([1, 7, 7], 40, 2),  # distinct classes of the list
    ("uniform", 40, 10),  # every class of the model
    ("uniform", 4, 4),  # ... as far as n reaches
    ({"0": 10, "3": 0, "5": 30}, None, 2),  # per-class counts: a class asked 0 times is not asked
])
def test_classes_asked_counts_distinct_classes(make_spec, labels, n, asked):
    sampling = {"batch_size": min(20, n or 20), "labels": labels, **({} if n is None else {"n": n})}
    plan = make_plan(load_spec(make_spec(sampling=sampling)))
    assert plan.classes_asked(plan.subjects[0]) == asked


def test_n_override_resizes_a_copy_and_clamps_the_batch(make_spec):
    spec = load_spec(make_spec(sampling={"n": 40, "batch_size": 20, "seed": 1}))
    small = make_plan(spec, n_override=8)
    assert (small.spec.sampling.n, small.spec.sampling.batch_size) == (8, 8)
    big = make_plan(spec, n_override=100)
    assert (big.spec.sampling.n, big.spec.sampling.batch_size) == (100, 20)
    assert (spec.sampling.n, spec.sampling.batch_size) == (40, 20)  # the loaded spec is not changed


@pytest.mark.parametrize("n", [0, -3])
def test_n_override_must_be_positive(make_spec, n):
    with pytest.raises(SpecError, match="--n must be a positive integer"):
        make_plan(load_spec(make_spec()), n_override=n)


def test_n_override_refuses_per_class_counts(make_spec):
    spec = load_spec(make_spec(sampling={"batch_size": 20, "labels": {"0": 10, "1": 10}}))
    with pytest.raises(SpecError, match="cannot resize a spec whose labels are per-class counts"):
        make_plan(spec, n_override=10)


def test_vacuous_and_unreachable_bounds_warn_at_their_field(make_spec):
    path = make_spec(requirements=[
        {"name": "zero", "check": "in_range", "at_least": 0},
        {"name": "one", "check": "in_range", "at_least": 1},
        {"metric": "fid", "at_most": 0},
        {"name": "fine", "check": "in_range", "at_least": 0.5},
    ])
    lines = path.read_text().splitlines()
    plan = make_plan(load_spec(path))
    assert len(plan.warnings) == 3  # "fine" has nothing to warn about
    zero, one, fid = plan.warnings
    assert zero.startswith(f"{path}:10:{_col(lines[9], 'at_least: ')}: requirements[0].at_least: 'zero'")
    assert "is vacuous" in zero
    assert one.startswith(f"{path}:11:{_col(lines[10], 'at_least: ')}: requirements[1].at_least")
    assert "can never PASS" in one
    assert fid.startswith(f"{path}:12:{_col(lines[11], 'at_most: ')}: requirements[2].at_most")
    assert "fid is at least 0" in fid


def test_sequential_with_a_metric_notes_that_it_runs_fixed_n(make_spec):
    seq = {"n": 40, "batch_size": 20, "sequential": True}
    with_metric = make_plan(load_spec(make_spec(sampling=seq, requirements=[{"metric": "fid", "at_most": 1000}])))
    rates_only = make_plan(load_spec(make_spec(sampling=seq)))
    assert len(with_metric.notes) == 1 and "ran fixed-n" in with_metric.notes[0]
    assert rates_only.notes == []


def test_every_problem_is_reported_at_once_with_its_field(make_spec):
    path = make_spec(
        reference={"path": "nowhere"},
        subjects=[{"model": "usergen:Blobs"}],  # unconditional
        sampling={"n": 40, "batch_size": 20, "labels": [1, 2]},
        requirements=[{"check": "not_memorized", "at_least": 0.5},  # no training: entry
                      {"check": "label_agreement", "at_least": 0.5}],  # classifier: null, no classes
        regression={"tolerance": {"fdi": 1.0}},
    )
    with pytest.raises(SpecError) as info:
        make_plan(load_spec(path))
    fields = [line.split(": ")[1] for line in info.value.problems]
    # one problem per mistake, nothing ran in between: 6 by hand
    assert sorted(fields) == sorted([
        "requirements[0]",  # training images
        "requirements[1]",  # classifier
        "requirements[1]",  # asked labels of an unconditional subject
        "sampling.labels",  # classes asked of an unconditional subject
        "regression.tolerance.fdi",  # names nothing
        "reference.path",  # missing file
    ])
    assert all(line.startswith(f"{path}:") for line in info.value.problems)
    text = "\n".join(info.value.problems)
    assert "add a `training:` entry" in text and "`classifier: null`" in text and "does not exist" in text
    assert str(info.value).count("\n") == 5  # the message is the list, one line each


def test_metric_n_below_the_interval_minimum_is_refused_at_sampling_n(make_spec):
    path = make_spec(sampling={"n": 3, "batch_size": 3}, requirements=[{"metric": "recall", "at_least": 0.1}])
    with pytest.raises(SpecError) as info:
        make_plan(load_spec(path))
    [line] = info.value.problems
    assert f"{path}:8:" in line and "sampling.n" in line
    assert "needs N >= 5 samples, but sampling.n is 3" in line


def test_classes_outside_the_model_are_refused(make_spec):
    with pytest.raises(SpecError, match=r"class 10 is asked, but subject .* has 10 classes \(0..9\)"):
        make_plan(load_spec(make_spec(sampling={"n": 40, "batch_size": 20, "labels": [0, 10]})))


def test_a_requirement_reading_real_images_needs_a_reference(make_spec):
    with pytest.raises(SpecError, match="'fid' needs real images; add a `reference:` entry"):
        make_plan(load_spec(make_spec(reference=OMIT, requirements=[{"metric": "fid", "at_most": 1000}])))


def test_an_image_set_smaller_than_n_is_refused(make_spec, tmp_path):
    import numpy as np

    np.savez(tmp_path / "few.npz", images=np.zeros((30, 28, 28), np.uint8))
    with pytest.raises(SpecError, match="holds 30 images but sampling.n asks 40"):
        make_plan(load_spec(make_spec(subjects=[{"path": "few.npz"}], reference=dict(REFERENCE))))
