"""runner/identity.py: the weights identity, recomputed here from the files' bytes."""

from __future__ import annotations

import hashlib

from evalkit.runner.identity import changed_files, weights_identity


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_one_weights_file_is_its_own_digest_and_several_are_digested_together():
    w = {"role": "weights", "path": "g.safetensors", "sha256": _sha(b"weights")}
    c = {"role": "checkpoint", "path": "ck.pt", "sha256": _sha(b"checkpoint")}
    m = {"role": "module", "path": "gen.py", "sha256": _sha(b"source")}
    assert weights_identity([]) is None
    assert weights_identity([w]) == _sha(b"weights")
    lines = sorted([f"weights {_sha(b'weights')}", f"checkpoint {_sha(b'checkpoint')}", f"module {_sha(b'source')}"])
    expected = _sha(("evalkit-weights-v1\n" + "\n".join(lines)).encode())
    assert weights_identity([m, w, c]) == weights_identity([c, m, w]) == expected
    assert weights_identity([c]) != _sha(b"checkpoint")  # a lone checkpoint is not mistaken for built-in weights


def test_changed_files_names_each_file_whose_digest_differs():
    old = [{"role": "checkpoint", "path": "ck.pt", "sha256": "1"}, {"role": "module", "path": "gen.py", "sha256": "2"}]
    new = [{"role": "checkpoint", "path": "ck.pt", "sha256": "9"}, {"role": "module", "path": "gen.py", "sha256": "2"},
           {"role": "weights", "path": "w.st", "sha256": "3"}]
    assert changed_files(old, new) == ["ck.pt (checkpoint)", "w.st (weights)"]
    assert changed_files(new, new) == []
    assert changed_files(["not a record"], []) == []  # a forged listing is compared, not trusted
