"""Seals on saved state: what evalkit saved is verified before it is believed.

Journal records, ``journal/manifest.json``, ``journal/sNNN/subject.json`` and the sample
store carry a *seal* (``SEAL_VERSION`` 1)::

    {"v": 1, "sha256": "<content digest>", "hmac": "<HMAC-SHA256>" | null, "key": "<key id>" | null}

* ``sha256`` is the content digest (:func:`content_digest`): SHA-256 over the record's
  metadata as canonical JSON (sorted keys, no whitespace, the ``seal`` key left out) and
  every tensor's name, dtype, shape and bytes, in name order. It detects damage and is
  what ``report.json`` records of its sample store (``samples_sha256``), so a store can be
  checked against the report beside it on any machine.
* ``hmac`` is HMAC-SHA256, under the user's cache key (``evalkit.cache.cache_secret``: the
  per-user secret outside the cache folder), of ``binding + "\\n" + sha256``. The binding
  names what the record belongs to (``evalkit-journal/<run id>`` for a journal, so a record
  of another run, even of the same spec, does not verify in this one). Whoever can write
  the output folder but not read the key cannot forge a record: a digest can be
  recomputed after an edit, an HMAC cannot.
* ``key`` is a short id of the key (a hash of it, which reveals nothing of the key), so
  a reader can tell "sealed under another user's or machine's key" from "edited".

Without a usable key the ``hmac`` is null and records are checked by digest only (a
warning says so once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping

from .cache import cache_secret, key_path

__all__ = ["SEAL_VERSION", "SealCheck", "content_digest", "make_seal", "check_seal", "seal_json", "check_json_seal",
           "key_usable"]

log = logging.getLogger(__name__)
SEAL_VERSION = 1
_warned: set[str] = set()


def _canonical(meta: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in meta.items() if k != "seal"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True).encode()


def content_digest(meta: Mapping[str, Any], tensors: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of the metadata (canonical JSON, without ``seal``) and of every tensor, in name order."""
    import torch

    h = hashlib.sha256(b"evalkit-content-v1\n")
    h.update(_canonical(meta))
    given = tensors or {}
    for name in sorted(given):
        t = given[name].detach().to("cpu").contiguous()
        h.update(f"\n{name}\n{str(t.dtype)}\n{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"evalkit-key-id\n" + secret).hexdigest()[:16]


def _mac(secret: bytes, binding: str, digest: str) -> str:
    return hmac.new(secret, f"{binding}\n{digest}".encode(), hashlib.sha256).hexdigest()


def key_usable() -> bool:
    return cache_secret() is not None


def make_seal(digest: str, binding: str) -> dict[str, Any]:
    """The seal of content whose digest is ``digest``, bound to ``binding``."""
    secret = cache_secret()
    return {"v": SEAL_VERSION, "sha256": digest,
            "hmac": None if secret is None else _mac(secret, binding, digest),
            "key": None if secret is None else _key_id(secret)}


@dataclass(frozen=True)
class SealCheck:
    """What a seal proves: ``intact`` (the content matches its digest), ``authentic`` (its HMAC
    verifies under this user's key), and in words why not (empty when both hold)."""

    intact: bool
    authentic: bool
    why: str = ""
    keyless: bool = False  # no usable key here: nothing can be authenticated

    @property
    def trusted(self) -> bool:
        """Intact, and authentic where this machine can tell (digest only without a key, warned)."""
        return self.intact and (self.authentic or self.keyless)


def check_seal(seal: Any, digest: str, binding: str) -> SealCheck:
    """Check ``seal`` (as read back) against the content's recomputed ``digest`` and ``binding``."""
    if not isinstance(seal, dict) or seal.get("v") != SEAL_VERSION or not isinstance(seal.get("sha256"), str):
        return SealCheck(False, False, "it carries no seal (written by an older evalkit, or the seal was removed)")
    if not hmac.compare_digest(seal["sha256"], digest):
        return SealCheck(False, False, "its content does not match its digest (edited or damaged)")
    secret = cache_secret()
    if secret is None:
        _warn_once(f"the cache key {key_path()} is not usable: saved state is checked by content digest only "
                   "and cannot be authenticated (an edit that also rewrites the digest goes unnoticed)")
        return SealCheck(True, False, "no usable cache key to authenticate it", keyless=True)
    mac = seal.get("hmac")
    if not isinstance(mac, str):
        return SealCheck(True, False, "it carries no HMAC (written without a cache key, or the HMAC was removed)")
    if seal.get("key") != _key_id(secret):
        return SealCheck(True, False, f"it was sealed under another cache key than {key_path()} "
                                      "(another user or machine, or another $EVALKIT_CACHE_KEY)")
    if not hmac.compare_digest(mac, _mac(secret, binding, digest)):
        return SealCheck(True, False, "its HMAC does not verify (edited, or copied from another run or record)")
    return SealCheck(True, True)


def seal_json(obj: dict[str, Any], binding: str) -> dict[str, Any]:
    """``obj`` with its seal under ``seal`` (for a JSON file such as the journal's manifest)."""
    return {**{k: v for k, v in obj.items() if k != "seal"}, "seal": make_seal(content_digest(obj), binding)}


def check_json_seal(obj: dict[str, Any], binding: str) -> SealCheck:
    try:
        digest = content_digest(obj)
    except (TypeError, ValueError) as exc:
        return SealCheck(False, False, f"its content cannot be digested ({exc})")
    return check_seal(obj.get("seal"), digest, binding)


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)
