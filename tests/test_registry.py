"""Registries: one decorator each, duplicates refused, user code joins by reference."""

import pytest
import torch

import evalkit
from evalkit import UsageError, registry
from evalkit.cache import cached_tensor, cache_dir


def test_duplicate_names_are_refused():
    registry.load_plugins()
    with pytest.raises(UsageError, match="already registered"):
        @evalkit.check("finite")
        def finite_again(obs):
            return obs.images.isfinite()


def test_a_user_check_registers_and_runs(write_spec, tmp_path):
    @evalkit.check("dark_corner", help="top-left pixel below `limit`")
    def dark_corner(obs, *, limit: float = 0.5):
        return obs.images[:, :, 0, 0].amax(1).cpu() < limit

    try:
        spec = write_spec("""\
            version: 1
            name: u
            features: pixels
            classifier: null
            subjects: [{model: "usergen:Blobs", params: {size: 16, channels: 1}}]
            sampling: {n: 100, batch_size: 50}
            requirements: [{check: dark_corner, args: {limit: 0.9}, at_least: 0.5}]
        """)
        rep = evalkit.run(spec, write=False)
        from tests.plugins.usergen import Blobs
        from evalkit.sample.sources import GeneratorSource

        src = GeneratorSource("b", Blobs(16, 1), 100, None, 0, 50, torch.device("cpu"))
        imgs = torch.cat([b.images for b in src.batches(100)])
        assert rep.subjects[0].requirements[0].passed == int((imgs[:, 0, 0, 0] < 0.9).sum())
    finally:
        registry.checks.unregister("dark_corner")


def test_entry_point_plugins_are_loaded(monkeypatch):
    from importlib import metadata

    class EP:
        name, value = "demo", "usergen_plugin"

        def load(self):
            @evalkit.measurement("demo_measure", help="always 1")
            def demo(obs):
                return torch.ones(len(obs))

    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [EP()] if group == registry.ENTRY_POINT_GROUP else [])
    try:
        registry.load_plugins()
        assert "demo_measure" in registry.measurements
    finally:
        registry.measurements.unregister("demo_measure")


def test_feature_cache_rebuilds_a_corrupt_entry(caplog):
    calls = []

    def build():
        calls.append(1)
        return torch.arange(6, dtype=torch.float64).reshape(2, 3)

    a = cached_tensor(["k1"], build)
    b = cached_tensor(["k1"], build)
    assert torch.equal(a, b) and len(calls) == 1
    (entry,) = [p for p in cache_dir().glob("*.safetensors") if p.stat().st_size > 0 and _key_is(p, "k1")]
    raw = bytearray(entry.read_bytes())
    raw[-1] ^= 0xFF  # flip bits in the tensor payload: the checksum no longer matches
    entry.write_bytes(bytes(raw))
    c = cached_tensor(["k1"], build)
    assert torch.equal(c, a) and len(calls) == 2
    assert "corrupt" in caplog.text or "unreadable" in caplog.text


def _key_is(path, part):
    import hashlib

    from evalkit.cache import CACHE_VERSION

    return path.stem == hashlib.sha256("\n".join([CACHE_VERSION, part]).encode()).hexdigest()
