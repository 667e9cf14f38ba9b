"""The mergeable states (``metrics.states``): merge order, pickling, and the journal's record form."""

import pickle

import torch
from hypothesis import given, settings, strategies as st

from evalkit.contract import Merge
from evalkit.metrics.states import FeatureState, SumState, from_record, new_row_state, to_record


def _folded(merge, chunks, order):
    states = []
    start = 0
    starts = []
    for c in chunks:
        starts.append(start)
        start += len(c)
    for i in order:
        s = new_row_state(merge)
        s.update(chunks[i], torch.arange(starts[i], starts[i] + len(chunks[i])))
        states.append(pickle.loads(pickle.dumps(s)))  # shards travel between processes pickled
    total = states[0]
    for s in states[1:]:
        total = total.merge(s)
    return total


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_merge_order_never_changes_a_state(sizes, rnd):
    g = torch.Generator().manual_seed(len(sizes))
    chunks = [torch.randn(s, 3, generator=g, dtype=torch.float64) for s in sizes]
    order = list(range(len(chunks)))
    rnd.shuffle(order)
    whole = torch.cat(chunks)
    rows, idx = _folded(Merge.CAT, chunks, order).value()
    assert torch.equal(rows, whole) and torch.equal(idx, torch.arange(len(whole)))
    total, count = _folded(Merge.SUM, chunks, order).value()
    assert int(count) == len(whole)
    assert torch.allclose(total, whole.sum(0), rtol=1e-12, atol=1e-12)  # addition order changes only rounding


def test_empty_states_and_their_types():
    assert isinstance(new_row_state(Merge.CAT), FeatureState) and isinstance(new_row_state(Merge.SUM), SumState)
    rows, idx = FeatureState().value()
    assert rows.numel() == 0 and idx.dtype == torch.long and len(FeatureState()) == 0
    total, count = SumState().value()
    assert total.numel() == 0 and int(count) == 0


def test_records_keep_the_journal_format_and_round_trip_exactly():
    # the names and meta below are what journals written before hold: a resume reads them back
    cat, total = FeatureState(), SumState()
    cat.update(torch.tensor([[3.0], [4.0]]), torch.tensor([5, 2]))
    total.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([0, 1]))
    t, meta = to_record("feats", cat)
    assert meta == ["cat", 2] and sorted(t) == ["row.feats.idx", "row.feats.rows"]
    assert t["row.feats.rows"].tolist() == [[4.0], [3.0]] and t["row.feats.idx"].tolist() == [2, 5]
    t2, meta2 = to_record("bright", total)
    assert meta2 == ["sum", 2] and sorted(t2) == ["row.bright.total"] and t2["row.bright.total"].tolist() == [4.0, 6.0]
    assert to_record("none", FeatureState()) == ({}, ["cat", 0]) and to_record("none", SumState()) == ({}, ["sum", 0])
    back = from_record("feats", t, meta)
    assert [x.tolist() for x in back.value()] == [x.tolist() for x in cat.value()]
    back2 = from_record("bright", t2, meta2)
    assert back2.value()[0].tolist() == [4.0, 6.0] and int(back2.value()[1]) == 2
    assert len(from_record("none", {}, ["cat", 0])) == 0 and from_record("none", {}, ["sum", 0]).total is None
