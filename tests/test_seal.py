"""evalkit._seal: a record's content digest, recomputed here by hand, and what each seal proves."""

from __future__ import annotations

import hashlib
import hmac
import json

import numpy as np
import pytest
import torch

from evalkit._seal import check_json_seal, check_seal, content_digest, make_seal, seal_json


@pytest.fixture
def key(tmp_path, monkeypatch):
    """A user key outside the cache folder, as evalkit expects it (mode 0600)."""
    path = tmp_path / "config" / "cache.key"
    path.parent.mkdir()
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o600)
    monkeypatch.setenv("EVALKIT_CACHE_KEY", str(path))
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    return path


def test_content_digest_is_the_documented_sha256():
    meta = {"subject": "gan", "n": 3, "seal": {"ignored": True}}
    t = torch.tensor([[1.5, -2.0]], dtype=torch.float32)
    h = hashlib.sha256(b"evalkit-content-v1\n")
    h.update(b'{"n":3,"subject":"gan"}')  # canonical JSON, the seal left out
    h.update(b"\nrows\ntorch.float32\n(1, 2)\n")
    h.update(np.array([1.5, -2.0], np.float32).tobytes())
    assert content_digest(meta, {"rows": t}) == h.hexdigest()


def test_a_seal_binds_content_key_and_binding(key):
    record = seal_json({"format": "evalkit-journal", "n": 60}, "evalkit-journal/run-a")
    secret = key.read_text().strip().encode()
    expected = hmac.new(secret, f"evalkit-journal/run-a\n{record['seal']['sha256']}".encode(), hashlib.sha256)
    assert record["seal"]["hmac"] == expected.hexdigest()
    assert check_json_seal(record, "evalkit-journal/run-a").trusted
    other_run = check_json_seal(record, "evalkit-journal/run-b")  # a record copied from another run
    assert other_run.intact and not other_run.authentic and "HMAC does not verify" in other_run.why
    edited = json.loads(json.dumps(record))
    edited["n"] = 1000
    check = check_json_seal(edited, "evalkit-journal/run-a")
    assert not check.intact and not check.trusted and "does not match its digest" in check.why


def test_an_edit_that_rewrites_the_digest_is_caught_by_the_hmac(key):
    record = seal_json({"n": 60}, "b")
    forged = {**record, "n": 1000}
    forged["seal"] = {**record["seal"], "sha256": content_digest(forged)}  # the forger can recompute this
    check = check_json_seal(forged, "b")
    assert check.intact and not check.trusted


def test_another_users_key_and_a_missing_seal_are_named(key, tmp_path, monkeypatch):
    seal = make_seal("d" * 64, "b")
    other = tmp_path / "config" / "other.key"
    other.write_text("cd" * 32 + "\n")
    other.chmod(0o600)
    monkeypatch.setenv("EVALKIT_CACHE_KEY", str(other))
    assert "another cache key" in check_seal(seal, "d" * 64, "b").why
    assert "carries no seal" in check_seal(None, "d" * 64, "b").why
    assert "carries no HMAC" in check_seal({**seal, "hmac": None}, "d" * 64, "b").why


def test_without_a_usable_key_only_the_digest_is_checked(key, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE_KEY", str(tmp_path / "cache" / "cache.key"))  # inside the cache
    seal = make_seal("e" * 64, "b")
    assert seal["hmac"] is None
    check = check_seal(seal, "e" * 64, "b")
    assert check.keyless and check.trusted and not check.authentic
    assert not check_seal(seal, "f" * 64, "b").trusted
