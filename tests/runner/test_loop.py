"""runner/loop.py: the batch loop folds every sample once, in rounds, whatever the batch size,
stops at the first deciding look, and stops a subject whose pixels leave its range.

The counts are known by construction: `Every3rd` makes sample i bright exactly when i % 3 == 0
(it counts the samples it has been asked for, and a source streams them in index order), so of
n samples ceil(n / 3) are bright.
"""

from __future__ import annotations

import math

import pytest
import torch

from evalkit._errors import SpecError, SubjectError
from evalkit.observe.output_range import allowed_range
from evalkit.plan import make_plan
from evalkit.runner.build import build_source
from evalkit.runner.context import RunContext
from evalkit.runner.loop import BatchReader, check_needs, history_rows, rounds, sample_loop
from evalkit.runner.references import References
from evalkit.sample.sources import Batch
from evalkit.spec.load import load_spec
from tests.specs import OMIT

EVERY_3RD = '''
import torch

class Every3rd:
    num_classes = None
    image_shape = (1, 4, 4)

    def __init__(self):
        self.seen = 0

    def sample(self, n, *, labels, generator):
        x = torch.zeros(n, *self.image_shape)
        for i in range(n):
            if (self.seen + i) % 3 == 0:
                x[i] = 1.0
        self.seen += n
        return x
'''

BRIGHT = {"name": "bright", "where": "mean > 0.5", "at_least": 0.2}


def _context(spec_path, world: int = 1) -> RunContext:
    plan = make_plan(load_spec(spec_path))
    dev = torch.device("cpu")
    return RunContext(plan, dev, References(plan.spec, dev, cache=False), rank=0, world=world)


def _every_3rd(make_spec, tmp_path, n: int, batch_size: int, **sampling):
    (tmp_path / "every3rd.py").write_text(EVERY_3RD)  # found beside the spec
    return make_spec(reference=OMIT, subjects=[{"model": "every3rd:Every3rd", "name": "e3"}],
                     sampling={"n": n, "batch_size": batch_size, **sampling}, requirements=[BRIGHT])


def _loop(ctx: RunContext):
    [sp] = ctx.plan.subjects
    source, _ = build_source(ctx, sp)
    return sample_loop(ctx, sp, source, tuple(source.image_shape))


@pytest.mark.parametrize("n,batch_size", [(40, 15), (40, 40), (31, 7), (1, 1)])
def test_a_fixed_n_loop_folds_every_sample_once(make_spec, tmp_path, n, batch_size):
    end = _loop(_context(_every_3rd(make_spec, tmp_path, n, batch_size)))
    [rate] = end.state.rates
    assert (end.state.n, rate.n, rate.passed) == (n, n, math.ceil(n / 3))
    assert end.stopped_early is False and end.look_conf is None and end.counts is None


def test_a_sequential_loop_stops_at_the_first_deciding_look(make_spec):
    # every replayed pixel lies in [0, 1]: in_range passes 100%, far above 0.5, so an early look decides
    ctx = _context(make_spec(sampling={"n": 400, "batch_size": 50, "seed": 1, "sequential": True},
                             requirements=[{"check": "in_range", "at_least": 0.5}]))
    end = _loop(ctx)
    assert end.stopped_early and end.state.n < 400
    # one look per batch, each after 50 more samples, all of them passing; the fold stops at the deciding one
    assert [c[0] for c in end.counts] == [(50 * (k + 1), 50 * (k + 1)) for k in range(len(end.counts))]
    assert end.state.n == 50 * len(end.counts) and end.state.rates[0].passed == end.state.n
    assert set(end.look_conf) == {0} and end.look_conf[0] > 0.95  # stricter than stated: it looked several times


def test_rounds_give_each_process_every_world_th_batch():
    class Ctx:  # rounds reads only the world size
        world = 3

    assert list(rounds(Ctx, 7)) == [[0, 1, 2], [3, 4, 5], [6]]
    Ctx.world = 1
    assert list(rounds(Ctx, 3)) == [[0], [1], [2]]
    assert list(rounds(Ctx, 0)) == []


def test_a_reader_jumping_to_a_batch_reads_what_streaming_reads(make_spec):
    ctx = _context(make_spec(sampling={"n": 40, "batch_size": 10, "seed": 2}))
    [sp] = ctx.plan.subjects
    source, _ = build_source(ctx, sp)
    streamed = BatchReader(source, 10)
    batches = [streamed.get(j) for j in range(4)]
    assert [b.indices.tolist() for b in batches] == [list(range(10 * j, 10 * j + 10)) for j in range(4)]
    jumping = BatchReader(source, 10)
    for j in (2, 0, 3, 1):  # another process's order, or batches taken from the journal
        b = jumping.get(j)
        assert torch.equal(b.indices, batches[j].indices) and torch.equal(b.images, batches[j].images)


def test_history_rows_zero_what_is_not_finite():
    images = torch.tensor([[[[float("nan"), 0.5]]], [[[float("inf"), float("-inf")]]]])
    idx, rows = history_rows(Batch(torch.tensor([7, 8]), images, None))
    assert idx.tolist() == [7, 8]
    assert rows.tolist() == [[0.0, 0.5], [1.0, 0.0]] and rows.dtype == torch.float32


def test_pixels_outside_the_range_stop_the_subject_unless_the_spec_checks_them(make_spec):
    tanh = [{"model": "usergen:Tanh", "name": "tanh"}]
    ctx = _context(make_spec(reference=OMIT, subjects=tanh, requirements=[BRIGHT]))
    assert allowed_range(ctx.plan, ctx.plan.subjects[0], None) == (0.0, 1.0)
    with pytest.raises(SubjectError, match=r"subject 'tanh' returned pixel values in \[-.*batch starting at sample 0"):
        _loop(ctx)
    # with an in_range requirement the rate of such samples is measured instead
    checked = _context(make_spec("checked.yaml", reference=OMIT, subjects=tanh,
                                 requirements=[{"check": "in_range", "at_least": 0.5}]))
    end = _loop(checked)
    assert end.state.n == 40 and end.state.rates[0].passed == 0  # every sample has some pixel below 0


def test_labels_asked_of_a_source_without_classes_are_refused_at_the_requirement(make_spec):
    # a factory's classes are unknown at validation; the built source has none
    path = make_spec(reference=OMIT, subjects=[{"model": "usergen:make_blobs", "name": "made"}],
                     sampling={"n": 40, "batch_size": 20},
                     requirements=[{"name": "bright", "where": "mean > 0.5", "at_least": 0.2, "per_class": True}])
    ctx = _context(path)
    [sp] = ctx.plan.subjects
    source, _ = build_source(ctx, sp)
    # no reference: line 9 is the first requirement (version, name, features, classifier, subjects: and its
    # item, sampling, requirements:)
    with pytest.raises(SpecError, match=rf"{path}:9:5: per_class needs asked labels, but subject 'made'"):
        check_needs(ctx, sp, source)
