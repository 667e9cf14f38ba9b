"""evalkit.observation: what a check or measurement reads, each derived attribute checked by hand."""

from __future__ import annotations

import pytest
import torch

from evalkit import Observation
from evalkit._errors import RunError, SpecError


def _obs(**kw) -> Observation:
    images = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])  # (2, 1, 2, 2)
    return Observation(images=images, raw_images=images, labels=kw.pop("labels", torch.tensor([1, 0])),
                       indices=torch.tensor([10, 11]), **kw)


def test_derived_attributes_are_computed_once_and_match_a_hand_computation():
    calls = []

    def classify(x):
        calls.append(len(x))
        return torch.tensor([[0.0, 2.0], [1.0, 1.0]])

    obs = _obs(classifier_fn=classify)
    assert len(obs) == 2
    assert obs.gray.tolist() == [[[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]]
    e = torch.exp(torch.tensor(2.0, dtype=torch.float64))
    assert torch.allclose(obs.probs[0], torch.stack([1 / (1 + e), e / (1 + e)]))
    assert obs.probs[1].tolist() == [0.5, 0.5]
    obs.logits, obs.probs
    assert calls == [2]  # one classifier call per batch, however many requirements read it
    assert obs.asked.tolist() == [1, 0]
    assert obs.cached("mine", lambda: 7) == 7 and obs.cached("mine", lambda: 8) == 7


def test_missing_inputs_are_named():
    obs = _obs(labels=None)
    for attr, needle in (("features", "feature extractor"), ("logits", "classifier"), ("asked", "unconditional"),
                         ("nearest_training", "training")):
        with pytest.raises(RunError, match=needle):
            getattr(obs, attr)


def test_a_classifier_with_fewer_classes_than_asked_is_a_spec_error():
    obs = _obs(labels=torch.tensor([3, 0]), classifier_fn=lambda x: torch.zeros(len(x), 2))
    with pytest.raises(SpecError, match="class 3 is asked, but the classifier gives 2 classes"):
        obs.logits
