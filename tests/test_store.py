"""The one persisted format: round trips, and every kind of damage refused with the file's name."""

import json
import struct

import pytest
import torch

from evalkit._errors import DataError
from evalkit.store import load_record, save_record


def test_round_trip_keeps_tensors_and_meta(tmp_path):
    p = tmp_path / "r.safetensors"
    t = {"idx": torch.arange(5), "feat": torch.randn(5, 3).half(), "ok": torch.tensor([True, False, True, True, False])}
    save_record(p, t, {"subject": "a", "n": 5, "nested": {"x": [1, 2.5, None]}}, kind="samples")
    back, meta = load_record(p, kind="samples")
    assert meta == {"subject": "a", "n": 5, "nested": {"x": [1, 2.5, None]}}
    for k in t:
        assert back[k].dtype == t[k].dtype and torch.equal(back[k], t[k])


def test_views_of_one_storage_are_saved(tmp_path):
    base = torch.arange(10)
    save_record(tmp_path / "v.safetensors", {"a": base[:5], "b": base[5:]}, {}, kind="state")
    back, _ = load_record(tmp_path / "v.safetensors", kind="state")
    assert back["b"].tolist() == [5, 6, 7, 8, 9]


def test_nan_in_meta_is_refused(tmp_path):
    with pytest.raises(DataError, match="strict JSON"):
        save_record(tmp_path / "n.safetensors", {}, {"x": float("nan")}, kind="state")
    assert not (tmp_path / "n.safetensors").exists()


def test_wrong_kind_missing_truncated_and_foreign_files_are_refused(tmp_path):
    p = tmp_path / "r.safetensors"
    save_record(p, {"x": torch.ones(100)}, {"a": 1}, kind="journal")
    with pytest.raises(DataError, match="kind 'journal', expected 'samples'"):
        load_record(p, kind="samples")
    with pytest.raises(DataError, match="cannot read"):
        load_record(tmp_path / "missing.safetensors", kind="journal")
    data = p.read_bytes()
    for cut in (0, 4, 20, len(data) - 7):
        q = tmp_path / f"cut{cut}.safetensors"
        q.write_bytes(data[:cut])
        with pytest.raises(DataError, match=str(q.name)):
            load_record(q, kind="journal")
    # a valid safetensors file that evalkit did not write (no format mark)
    from safetensors.torch import save

    f = tmp_path / "foreign.safetensors"
    f.write_bytes(save({"x": torch.ones(2)}))
    with pytest.raises(DataError, match="format mark"):
        load_record(f, kind="journal")
    # a header claiming an absurd size
    g = tmp_path / "huge.safetensors"
    g.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_record(g, kind="journal")


def test_hand_edited_meta_with_nan_is_refused(tmp_path):
    from safetensors.torch import save

    p = tmp_path / "e.safetensors"
    p.write_bytes(save({"x": torch.ones(1)}, metadata={"format": "evalkit-store", "kind": "state", "meta": '{"a": NaN}'}))
    with pytest.raises(DataError, match="strict JSON"):
        load_record(p, kind="state")
    p.write_bytes(save({"x": torch.ones(1)}, metadata={"format": "evalkit-store", "kind": "state", "meta": json.dumps([1])}))
    with pytest.raises(DataError, match="expected an object"):
        load_record(p, kind="state")
