"""runner/journal.py through its public behaviour: what a run writes reads back equal on
--resume, and a damaged record is never read back as data.

Only what must stay true across journal formats is tested here (a v2 with seals is coming):
the record layout on disk, its encoding and how a damaged record is reported (dropped with a
warning, or an error) are not; that it names the file is.
"""

from __future__ import annotations

import logging

import pytest
import torch

from evalkit._errors import DataError, EvalkitError
from evalkit.plan import make_plan
from evalkit.runner.journal import (BatchRecord, FinalRecord, Journal, JournalMismatch, read_final, read_manifest,
                                    spec_changes)
from evalkit.records.model import FailingExample
from evalkit.runner.state import RateState, SubjectState
from evalkit.spec.load import load_spec


def _plan(make_spec, filename="spec.yaml", **parts):
    return make_plan(load_spec(make_spec(filename, **parts)))


def _reader(tmp_path, plan) -> Journal:
    """The finished run's journal as rejudge reads it: bound to the run id its verified manifest names."""
    out = tmp_path / "out"
    return Journal.reader(out, plan, read_manifest(out / "journal"))


def _state(passed: int, n: int) -> SubjectState:
    # per-class counts and a failing example: the parts a resumed fold must get back exactly
    rate = RateState(passed=passed, n=n, undefined=1, per_class={3: [passed - 1, n - 2], 7: [1, 2]},
                     failing=[FailingExample(index=n - 1, label=3, values={"ink": 0.25})])
    return SubjectState([rate], n=n, nonfinite=2)


def _same(a: SubjectState, b: SubjectState) -> bool:
    ra, rb = a.rates[0], b.rates[0]
    return ((a.n, a.nonfinite, ra.passed, ra.n, ra.undefined, ra.per_class, ra.failing)
            == (b.n, b.nonfinite, rb.passed, rb.n, rb.undefined, {int(k): list(v) for k, v in rb.per_class.items()},
                rb.failing))


def _written(tmp_path, plan, records: dict[int, BatchRecord]):
    sj = Journal(tmp_path / "out", plan, resume=False).subject(plan.subjects[0])
    sj.bind(None, [1, 28, 28])
    for j, rec in records.items():
        sj.write_batch(j, rec)
    return sj


def _resumed(tmp_path, plan):
    sj = Journal(tmp_path / "out", plan, resume=True).subject(plan.subjects[0])
    sj.bind(None, [1, 28, 28])
    return sj


def test_a_batch_record_reads_back_equal_on_resume(make_spec, tmp_path):
    plan = _plan(make_spec)
    history = (torch.arange(20, 30), torch.rand(10, 784))
    _written(tmp_path, plan, {0: BatchRecord(_state(8, 10), None), 1: BatchRecord(_state(9, 10), history)})
    sj = _resumed(tmp_path, plan)
    first, second, absent = sj.load_batch(0), sj.load_batch(1), sj.load_batch(2)
    assert _same(first.delta, _state(8, 10)) and first.history is None
    assert _same(second.delta, _state(9, 10))
    assert torch.equal(second.history[0], history[0]) and torch.equal(second.history[1], history[1])
    assert absent is None  # never written: sampled again


def test_a_fresh_run_reads_nothing_from_an_old_journal(make_spec, tmp_path):
    plan = _plan(make_spec)
    _written(tmp_path, plan, {0: BatchRecord(_state(8, 10), None)})
    fresh = Journal(tmp_path / "out", plan, resume=False).subject(plan.subjects[0])
    assert fresh.load_batch(0) is None


def test_the_final_record_reads_back_equal_for_resume_and_rejudge(make_spec, tmp_path):
    plan = _plan(make_spec)
    sj = _written(tmp_path, plan, {})
    final = FinalRecord(_state(37, 40), True, {0: 0.9875}, [[(19, 20)], [(37, 40)]])
    sj.write_final(final)
    for got in (_resumed(tmp_path, plan).load_final(), read_final(_reader(tmp_path, plan), plan.subjects[0])):
        assert _same(got.state, final.state)
        assert (got.stopped_early, got.look_conf, got.counts) == (True, {0: 0.9875}, [[(19, 20)], [(37, 40)]])


def _refused(call, path, caplog) -> None:
    """A damaged record is not data: the call either drops it (None) with a warning naming the file,
    or raises evalkit's own error naming it. Never a traceback from the reader, never a value."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        try:
            got = call()
        except EvalkitError as exc:
            assert str(path) in str(exc)
            return
    assert got is None
    assert str(path) in caplog.text


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_batch_record_is_refused_naming_the_file(make_spec, tmp_path, caplog, damage):
    plan = _plan(make_spec)
    sj = _written(tmp_path, plan, {0: BatchRecord(_state(8, 10), None)})
    path = sj.batch_path(0)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a record" * 40, "empty": b""}[damage])
    _refused(lambda: _resumed(tmp_path, plan).load_batch(0), path, caplog)


def test_a_record_of_another_batch_is_refused(make_spec, tmp_path, caplog):
    plan = _plan(make_spec)
    sj = _written(tmp_path, plan, {0: BatchRecord(_state(8, 10), None)})
    sj.batch_path(0).rename(sj.batch_path(1))  # a whole record, but batch 0's
    _refused(lambda: _resumed(tmp_path, plan).load_batch(1), sj.batch_path(1), caplog)


def test_a_damaged_final_record_is_a_data_error_for_rejudge(make_spec, tmp_path):
    plan = _plan(make_spec)
    sj = _written(tmp_path, plan, {})
    sj.write_final(FinalRecord(_state(37, 40), False, None))
    path = tmp_path / "out" / "journal" / "s000" / "final.safetensors"
    assert path.is_file()
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError) as info:
        read_final(_reader(tmp_path, plan), plan.subjects[0])
    assert str(path) in str(info.value)


def test_rejudge_of_a_subject_that_did_not_finish_names_the_missing_file(make_spec, tmp_path):
    plan = _plan(make_spec)
    _written(tmp_path, plan, {0: BatchRecord(_state(8, 10), None)})
    with pytest.raises(DataError, match="did not finish in that run"):
        read_final(_reader(tmp_path, plan), plan.subjects[0])


def test_resume_without_a_journal_is_refused(make_spec, tmp_path):
    with pytest.raises(JournalMismatch, match="no journal there"):
        Journal(tmp_path / "nothing", _plan(make_spec), resume=True)


def test_resume_with_a_changed_spec_names_the_change(make_spec, tmp_path):
    _written(tmp_path, _plan(make_spec), {})
    changed = _plan(make_spec, "changed.yaml", sampling={"n": 20, "batch_size": 20, "seed": 1})
    with pytest.raises(JournalMismatch, match=r"the spec changed .*sampling\.n: 40 -> 20"):
        Journal(tmp_path / "out", changed, resume=True)


def test_a_garbage_manifest_is_refused_naming_it(make_spec, tmp_path):
    plan = _plan(make_spec)
    _written(tmp_path, plan, {})
    manifest = tmp_path / "out" / "journal" / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(EvalkitError) as info:
        Journal(tmp_path / "out", plan, resume=True)
    assert str(manifest) in str(info.value)


def test_resume_with_other_weights_names_the_subject(make_spec, tmp_path):
    plan = _plan(make_spec)
    sj = Journal(tmp_path / "out", plan, resume=False).subject(plan.subjects[0])
    sj.bind("aa" * 32, [1, 28, 28])
    again = Journal(tmp_path / "out", plan, resume=True).subject(plan.subjects[0])
    with pytest.raises(JournalMismatch, match=r"its weights changed since the journal was written"):
        again.bind("bb" * 32, [1, 28, 28])


def test_spec_changes_lists_each_differing_field():
    old = {"name": "a", "sampling": {"n": 40, "seed": 1}, "subjects": [{"model": "x"}]}
    new = {"name": "a", "sampling": {"n": 20, "seed": 1}, "subjects": [{"model": "x"}, {"model": "y"}]}
    assert spec_changes(old, new) == ["sampling.n: 40 -> 20", "subjects[1].model: '(absent)' -> 'y'"]
    many_old = {f"k{i}": i for i in range(8)}
    many_new = {f"k{i}": i + 1 for i in range(8)}
    got = spec_changes(many_old, many_new, limit=5)
    assert got[:5] == [f"k{i}: {i} -> {i + 1}" for i in range(5)] and got[5] == "... and 3 more"
