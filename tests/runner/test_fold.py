"""The runner folds whatever states the metrics declare: a cat state (rows kept with their
sample indices) or a sum state (a running total), merged by the declared rule, in any order,
and saved to and read from the journal exactly."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit
import sum_plugin  # noqa: F401  (tests/plugins is on sys.path: registers brightness, bright_mean)
from evalkit.contract import Input, Merge
from evalkit.metrics.states import FeatureState, SumState
from evalkit.plan import make_plan
from evalkit.runner.state import RateState, SubjectState, declared_states, state_from_record, state_to_record
from evalkit.sample.sources import GeneratorSource
from evalkit.spec.load import load_spec

SPEC = """\
version: 1
name: fold
plugins: [sum_plugin]
features: pixels
classifier: null
reference: {dataset: fashion-mnist, split: test, range: [0, 200]}
subjects: [{name: noisy, model: 'sum_plugin:Noisy', params: {level: 0.8}}]
sampling: {n: 90, batch_size: 20, seed: 5}
requirements:
  - {metric: bright_mean, at_least: 0.1}
  - {metric: fid, at_most: 100000}
"""


def test_declared_states_are_the_union_of_the_metrics_declarations(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    plan = make_plan(load_spec(tmp_path / "s.yaml"))
    states = declared_states(plan)
    assert sorted(states) == ["bright_total", "features"]
    assert states["bright_total"].merge is Merge.SUM and states["features"].source is Input.FEATURES


def test_a_sum_state_metric_equals_the_mean_computed_by_hand(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    rep = evalkit.run(tmp_path / "s.yaml", write=False)
    sub = rep.subjects[0]
    assert sub.status == "ok", sub.error
    got = {m.metric: m for m in sub.metrics}["bright_mean"]
    # independent: draw the same samples (same seed, the sampling blocks of 50 whatever the batch size)
    # and average their pixels by hand
    src = GeneratorSource("noisy", sum_plugin.Noisy(0.8), 90, None, 5, 50, torch.device("cpu"))
    x = torch.cat([b.images for b in src.batches(20)]).double()
    assert len(x) == 90 and got.n == 90
    assert got.value == pytest.approx(float(x.mean()), rel=1e-12)


def _state(chunks) -> SubjectState:
    s = SubjectState([RateState()])
    for k, (rows, idx) in enumerate(chunks):
        part = SubjectState([RateState(passed=len(idx) // 2, n=len(idx))], n=len(idx))
        cat, total = FeatureState(), SumState()
        cat.update(rows, idx)
        total.update(rows, idx)
        part.rows = {"rows": cat, "total": total}
        s = s.merge(part, keep=3)
    return s


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 10_000))
def test_merge_order_never_changes_a_state_and_records_round_trip(sizes, seed):
    g = torch.Generator().manual_seed(seed)
    start, chunks = 0, []
    for n in sizes:
        chunks.append((torch.rand(n, 3, generator=g, dtype=torch.float64), torch.arange(start, start + n)))
        start += n
    want = None
    for order in itertools.permutations(range(len(chunks))):
        s = _state([chunks[i] for i in order])
        rows, idx = s.row("rows").value()
        total, count = s.row("total").value()
        got = (rows.tolist(), idx.tolist(), int(count), s.n, s.rates[0].n)
        # the sum against a brute-force sum over all rows (addition order changes only rounding)
        assert torch.allclose(total, torch.cat([c[0] for c in chunks]).sum(0), rtol=1e-12, atol=1e-12)
        if want is None:
            want = got
        assert got == want
    back = state_from_record(*state_to_record(s))
    assert back.row("rows").value()[0].tolist() == s.row("rows").value()[0].tolist()
    assert back.row("total").value()[0].tolist() == s.row("total").value()[0].tolist()
    assert int(back.row("total").value()[1]) == int(s.row("total").value()[1])
