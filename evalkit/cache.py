"""On-disk cache of reference features, keyed by content: data, extractor code and weights, evalkit version.

An entry is an evalkit store record (safetensors: raw tensor bytes and a JSON
header, never a pickle) whose metadata repeats its key and carries an HMAC-SHA256
of the key, dtype, shape and tensor bytes. The HMAC key is a per-user secret kept
*outside* the cache folder (``$EVALKIT_CACHE_KEY``, else
``$XDG_CONFIG_HOME/evalkit/cache.key`` or ``~/.config/evalkit/cache.key``),
created on first use with mode 0600. Whoever can write the cache folder but not
read that key cannot forge an entry: a plain checksum could be recomputed, an
HMAC cannot. An entry that fails to load or to verify is rebuilt, with a warning,
never used. Without a usable key (unreadable, or readable by other users) the
cache is bypassed: features are recomputed every run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ._errors import DataError, UsageError
from ._io import NotRegularFile, read_regular

log = logging.getLogger(__name__)
KEY_MAX = 4096  # bytes: evalkit writes 65; a larger "key" is some other file
CACHE_VERSION = "features-v2"  # v2: HMAC-signed store records
RECORD_KIND = "feature-cache"
_warned: set[str] = set()


def cache_dir() -> Path:
    if env := os.environ.get("EVALKIT_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evalkit"


def key_path() -> Path:
    if env := os.environ.get("EVALKIT_CACHE_KEY"):
        return Path(env)
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "evalkit" / "cache.key"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def cache_secret() -> bytes | None:
    """The per-user HMAC key, created (0600) on first use; None when it cannot be used safely."""
    path = key_path()
    try:
        if cache_dir().resolve() in (path.resolve().parent, *path.resolve().parents):
            _warn_once(f"cache key {path} lies inside the cache folder, where it protects nothing; the cache is bypassed")
            return None
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        st = path.stat()
        if st.st_mode & 0o077:
            _warn_once(f"cache key {path} is readable by other users (mode {st.st_mode & 0o777:o}); "
                       f"run `chmod 600 {path}`. The cache is bypassed until then")
            return None
        secret = _key_text(path).strip().encode()
    except FileExistsError:  # another process created it between our check and open: read theirs
        return cache_secret()
    except NotRegularFile as exc:  # a FIFO would block the read forever: refused, never bypassed silently
        raise UsageError(f"$EVALKIT_CACHE_KEY / cache key {path}: {exc.strerror}; point it at the key file "
                         "evalkit made (or a new path, where it makes one)") from None
    except OSError as exc:
        _warn_once(f"cannot use the cache key {path} ({exc.strerror or exc}); the feature cache is bypassed")
        return None
    if len(secret) < 32:
        _warn_once(f"cache key {path} is too short to be one evalkit made; the cache is bypassed")
        return None
    return secret


def _key_text(path: Path) -> str:
    """The key file's text: a regular file of at most KEY_MAX bytes, in UTF-8 (UsageError naming it otherwise)."""
    raw = read_regular(path, limit=KEY_MAX, why="evalkit's keys are 65 bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"$EVALKIT_CACHE_KEY / cache key {path}: is not UTF-8 text (byte {exc.start} is "
                         f"0x{raw[exc.start]:02x}); evalkit's keys are 64 hex digits: point it at the key file "
                         "evalkit made, or remove this one so a new key is made") from None


def key_problem() -> str | None:
    """Why the cache key cannot be used at all (a FIFO, a device, not UTF-8): for preflight, exit 2.

    An absent key is fine (it is made on first use); a key readable by others, or too short,
    only bypasses the cache, with a warning, as it always did."""
    path = key_path()
    try:
        if not path.exists():
            return None
        _key_text(path)
    except UsageError as exc:
        return str(exc)
    except NotRegularFile as exc:
        return (f"$EVALKIT_CACHE_KEY / cache key {path}: {exc.strerror}; point it at the key file evalkit made "
                "(or a new path, where it makes one)")
    except OSError:
        return None  # unreadable: cache_secret warns and bypasses the cache
    return None


def _mac(secret: bytes, key: str, t: Tensor) -> str:
    h = hmac.new(secret, digestmod=hashlib.sha256)
    h.update(f"{key}\n{t.dtype}\n{tuple(t.shape)}\n".encode())
    h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _read_entry(path: Path, key: str, secret: bytes) -> tuple[Tensor | None, str]:
    """(the entry's tensor, "") when it loads and its HMAC verifies, else (None, why not)."""
    from .store import load_record

    try:
        tensors, meta = load_record(path, kind=RECORD_KIND)
    except DataError as exc:
        return None, f"unreadable ({exc})"
    t = tensors.get("value")
    if t is None or meta.get("key") != key or not hmac.compare_digest(str(meta.get("hmac", "")), _mac(secret, key, t)):
        return None, "stale, corrupt or forged (its HMAC does not verify)"
    return t, ""


def _load(path: Path, key: str, secret: bytes) -> Tensor | None:
    t, why = _read_entry(path, key, secret)
    if t is None:
        log.warning("feature cache entry %s is %s; rebuilding it", path, why)
    return t


def _entry(key_parts: list[str]) -> tuple[str, Path]:
    key = hashlib.sha256("\n".join([CACHE_VERSION, *key_parts]).encode()).hexdigest()
    return key, cache_dir() / f"{key}.safetensors"


def lookup(key_parts: list[str]) -> tuple[Tensor | None, str]:
    """The cached tensor for ``key_parts`` without building it: (tensor, "") or (None, why not, in words)."""
    key, path = _entry(key_parts)
    if not path.exists():
        return None, f"the feature cache {cache_dir()} holds no entry for it (removed, or never built on this machine)"
    secret = cache_secret()
    if secret is None:
        return None, f"the cache key {key_path()} is not usable (see the warning above)"
    t, why = _read_entry(path, key, secret)
    if t is None:
        return None, (f"its cache entry {path} does not verify under this user's cache key {key_path()} "
                      f"({why}: written under another key, e.g. another $EVALKIT_CACHE_KEY, or damaged)")
    return t, ""


def cached_tensor(key_parts: list[str], build: Callable[[], Tensor], enabled: bool = True) -> Tensor:
    """Return the tensor for ``key_parts`` from the cache, or build, store and return it."""
    key, path = _entry(key_parts)
    secret = cache_secret() if enabled else None
    if secret is not None and path.exists():
        t = _load(path, key, secret)
        if t is not None:
            return t
    t = build().detach().to("cpu").contiguous()
    if secret is not None:
        from .store import save_record

        try:
            save_record(path, {"value": t}, {"key": key, "hmac": _mac(secret, key, t)}, kind=RECORD_KIND)
        except (OSError, DataError) as exc:
            log.warning("cannot write feature cache %s: %s", path, exc)
    return t
