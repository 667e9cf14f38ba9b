"""Data files never run code: crafted feature files, reports and report commands.

Every case goes through the CLI in a sandbox (see ``trust_support``) and asserts
the exit code, that no traceback reached the user, that the planted command did
not run, and that nothing outside the output folder and the cache changed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from evalkit.observe.archives import check_expr, check_target
from tests.hostile.trust_support import Sandbox, assert_clean
from tests.specs import REFERENCE, spec_text


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(784, 6)

    def forward(self, x):
        return torch.tanh(self.lin(x.flatten(1)))


def export_pt2(path: Path) -> Path:
    batch = torch.export.Dim("batch", min=1)
    ep = torch.export.export(_Net(), (torch.zeros(2, 1, 28, 28),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(path))
    return path


class _Payload:
    """Pickles to a call of os.system: whoever unpickles it runs the command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def rewrite_zip(src: Path, dst: Path, edit) -> Path:
    """Copy a zip, passing each (name, bytes) through ``edit`` (which may return None to drop it, or a list to add)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            for name, data in edit(info.filename, zin.read(info)) or []:
                zout.writestr(name, data)
    return dst


def _pickled_weight(marker: Path):
    def edit(name, data):
        if name.endswith("data/weights/model_weights_config.json"):
            cfg = json.loads(data)
            first = next(k for k, v in cfg["config"].items() if v["path_name"] == "weight_0")
            cfg["config"][first]["use_pickle"] = True
            return [(name, json.dumps(cfg).encode())]
        if name.endswith("data/weights/weight_0"):
            return [(name, pickle.dumps(_Payload(f"touch {marker}")))]
        return [(name, data)]
    return edit


def _pickled_sample_inputs(marker: Path):
    def edit(name, data):
        if name.endswith("data/sample_inputs/model.pt"):  # torch retries a failed weights_only load with full pickle
            return [(name, pickle.dumps(_Payload(f"touch {marker}")))]
        return [(name, data)]
    return edit


def _sympy_eval(marker: Path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            text = data.decode()
            # every symbolic size is handed to sympy.sympify, which evaluates Python
            text = text.replace('"expr_str": "', f'"expr_str": "__import__(\'os\').system(\'touch {marker}\') or ', 1)
            return [(name, text.encode())]
        return [(name, data)]
    return edit


def _os_target(marker: Path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            model = json.loads(data)
            node = model["graph_module"]["graph"]["nodes"][0]
            node["target"] = "torch.os.system"  # resolved by getattr from torch, then called by the graph
            node["inputs"] = [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}]
            return [(name, json.dumps(model).encode())]
        return [(name, data)]
    return edit


def _extra_pickle(marker: Path):
    def edit(name, data):
        out = [(name, data)]
        if name.endswith("archive_format"):
            out.append((name.rsplit("/", 1)[0] + "/data/constants.pkl", pickle.dumps(_Payload(f"touch {marker}"))))
        return out
    return edit


# 300 against 300: enough for FID's N floor, still under a second with pixel features.
REF_300 = dict(REFERENCE, range=[0, 300])
REPLAY_300 = {"model": "dataset", "params": {"range": [5000, 5300]}}


def _features_spec(features):
    return spec_text(name="hostile-features", reference=REF_300, features=features, subjects=[REPLAY_300],
                     sampling={"n": 300, "batch_size": 100, "seed": 1},
                     requirements=[{"metric": "fid", "at_most": 1000}])


@pytest.fixture(scope="module")
def plain_pt2(tmp_path_factory):
    return export_pt2(tmp_path_factory.mktemp("pt2") / "net.pt2")


def test_the_plain_export_works(tmp_path, plain_pt2):
    box = Sandbox(tmp_path)
    (box.work / "net.pt2").write_bytes(plain_pt2.read_bytes())
    spec = box.write("spec.yaml", _features_spec(features="net.pt2"))
    res = box.evalkit("run", str(spec), "--out", "out", "--quiet", "--format", "json")
    assert_clean(res, 0)
    report = json.loads((box.work / "out" / "report.json").read_text())
    assert report["reference"]["feature_dim"] == 6


@pytest.mark.parametrize("craft", [_pickled_weight, _sympy_eval, _os_target, _extra_pickle],
                         ids=["use_pickle-weight", "sympy-eval", "torch.os.system-target", "stray-pickle-entry"])
def test_crafted_pt2_is_refused_and_runs_nothing(tmp_path, plain_pt2, craft):
    box = Sandbox(tmp_path)
    marker = tmp_path / "PWNED"
    rewrite_zip(plain_pt2, box.work / "evil.pt2", craft(marker))
    spec = box.write("spec.yaml", _features_spec(features="evil.pt2"))
    before = box.snapshot()
    res = box.evalkit("run", str(spec), "--out", "out", "--quiet", "--format", "json")
    assert_clean(res, 3)
    assert "evil.pt2: refused" in res.err
    assert not marker.exists()
    # the run history beside the report folder indexes the broken run (a documented write, tests/history)
    (box.work / "history.sqlite").unlink()
    assert not marker.exists()
    assert box.changed_outside(before, box.work / "out") == []


def test_pickled_sample_inputs_are_never_read(tmp_path, plain_pt2):
    """torch retries a failed restricted load of the sample inputs with a full unpickle; evalkit drops them unread."""
    box = Sandbox(tmp_path)
    marker = tmp_path / "PWNED"
    rewrite_zip(plain_pt2, box.work / "evil.pt2", _pickled_sample_inputs(marker))
    spec = box.write("spec.yaml", _features_spec(features="evil.pt2"))
    res = box.evalkit("run", str(spec), "--out", "out", "--quiet", "--format", "json")
    assert_clean(res, 0)
    assert not marker.exists()


def test_the_crafted_files_are_real_exploits_under_plain_torch(tmp_path, plain_pt2):
    """Without evalkit's check, torch.export.load runs the planted command (shown in a child process)."""
    crafts = {"weight": _pickled_weight, "sympy": _sympy_eval, "inputs": _pickled_sample_inputs}
    files = {k: rewrite_zip(plain_pt2, tmp_path / f"{k}.pt2", c(tmp_path / f"RAN-{k}")) for k, c in crafts.items()}
    script = "import torch\nfor f in %r:\n    try: torch.export.load(f)\n    except Exception: pass\n" % [str(f) for f in files.values()]
    subprocess.run([os.sys.executable, "-c", script], capture_output=True, timeout=300)
    assert sorted(p.name for p in tmp_path.glob("RAN-*")) == ["RAN-inputs", "RAN-sympy", "RAN-weight"]


def test_torchscript_pickle_with_a_python_global_is_refused(tmp_path):
    """TorchScript's own unpickler resolves only torch types: a global like os.system is an error, never a call."""
    traced = torch.jit.trace(_Net(), torch.zeros(2, 1, 28, 28))
    plain = tmp_path / "net.pt"
    traced.save(str(plain))
    box = Sandbox(tmp_path / "box")
    marker = tmp_path / "PWNED"

    def edit(name, data):
        return [(name, pickle.dumps(_Payload(f"touch {marker}"), protocol=2) if name.endswith("/data.pkl") else data)]

    rewrite_zip(plain, box.work / "evil.pt", edit)
    spec = box.write("spec.yaml", _features_spec(features="evil.pt"))
    res = box.evalkit("run", str(spec), "--out", "out", "--quiet", "--format", "json")
    assert_clean(res, 3)
    assert "evil.pt" in res.err and not marker.exists()


def test_a_pickle_file_named_pt_is_refused(tmp_path):
    box = Sandbox(tmp_path)
    marker = tmp_path / "PWNED"
    (box.work / "weights.pt").write_bytes(pickle.dumps(_Payload(f"touch {marker}")))
    spec = box.write("spec.yaml", _features_spec(features="weights.pt"))
    res = box.evalkit("run", str(spec), "--out", "out", "--quiet", "--format", "json")
    assert_clean(res, 3)
    assert "weights.pt: refused" in res.err and not marker.exists()


@pytest.mark.parametrize("expr,ok", [
    ("s0", True), ("Max(1, s0)", True), ("2*s77 + 1", True), ("Symbol('s77', positive=True, integer=True)", True),
    ("FloorDiv(s0, 2)", True), ("__import__('os').system('x')", False), ("s0.__class__", False),
    ("exec('x')", False), ("lambda: 1", False), ("s0[0]", False),
])
def test_shape_expressions(expr, ok):
    assert (check_expr(expr) is None) is ok


@pytest.mark.parametrize("target,ok", [
    ("torch.ops.aten.linear.default", True), ("_operator.getitem", True), ("torch.sym_max", True),
    ("torch.os.system", False), ("torch.ops.aten.from_file.default", False), ("builtins.eval", False),
    ("torch.load", False), ("#custom_op", False), ("torch.ops.mylib.evil.default", False),
])
def test_call_targets(target, ok):
    assert (check_target(target) is None) is ok


# ---------------------------------------------------------------- reports are data: evalkit reproduce

def _repro_spec(subject_name="replay"):
    return spec_text(name="repro", subjects=[{"model": "dataset", "name": subject_name, "params": {"range": [5000, 5100]}}],
                     requirements=[{"name": "never", "where": "ink < 0", "at_least": 0.5}])


@pytest.fixture
def repro_box(tmp_path):
    box = Sandbox(tmp_path)
    spec = box.write("spec.yaml", _repro_spec())
    assert_clean(box.evalkit("run", str(spec), "--out", "run", "--quiet"), 1)
    return box


def _craft_report(box: Sandbox, marker: Path) -> Path:
    rep = json.loads((box.work / "run" / "report.json").read_text())
    rep["spec"]["subjects"][0].update(model="os:system", params={"command": f"touch {marker}"})
    crafted = box.work / "crafted"
    crafted.mkdir()
    (crafted / "report.json").write_text(json.dumps(rep))
    return crafted


def test_reproduce_refuses_a_report_whose_spec_imports_code(repro_box, tmp_path):
    marker = tmp_path / "PWNED"
    crafted = _craft_report(repro_box, marker)
    before = repro_box.snapshot()
    res = repro_box.evalkit("reproduce", str(crafted), "replay", "0", "--out", "png")
    assert_clean(res, 2)
    assert "os:system" in res.err and "--trust-report" in res.err and "--spec" in res.err
    assert not marker.exists() and not (repro_box.work / "png").exists()
    assert repro_box.changed_outside(before) == []


def test_reproduce_with_the_users_spec_compares_and_refuses_a_different_subject(repro_box, tmp_path):
    marker = tmp_path / "PWNED"
    crafted = _craft_report(repro_box, marker)
    res = repro_box.evalkit("reproduce", str(crafted), "replay", "0", "--spec", "spec.yaml", "--out", "png")
    assert_clean(res, 2)
    assert "differs" in res.err and "model" in res.err and not marker.exists()


def test_reproduce_with_the_users_spec_writes_the_samples(repro_box):
    res = repro_box.evalkit("reproduce", "run", "replay", "0", "3", "--spec", "spec.yaml", "--out", "png")
    assert_clean(res, 0)
    # classes are asked i.i.d. from (seed, index), so the file names carry whatever class index 0 and 3 asked
    names = sorted(p.name for p in (repro_box.work / "png").iterdir())
    assert len(names) == 2 and names[0].startswith("replay-000000-class") and names[1].startswith("replay-000003-class")


def test_trust_report_prints_the_imports_first(repro_box):
    rep = json.loads((repro_box.work / "run" / "report.json").read_text())
    rep["spec"]["subjects"][0].update(model="tests.plugins.usergen:Blobs", params={"size": 28, "channels": 1})
    rep["spec"]["sampling"]["labels"] = "uniform"
    (repro_box.work / "run" / "report.json").write_text(json.dumps(rep))
    res = repro_box.evalkit("reproduce", "run", "replay", "0", "--trust-report", "--out", "png")
    assert "--trust-report: importing tests.plugins.usergen:Blobs (subjects[0].model)" in res.err
    assert "Traceback" not in res.text


# ---------------------------------------------------------------- suggested commands, pasted into a real shell

HOSTILE_NAMES = [
    "x$(touch {m})y",
    "a; touch {m}; b",
    "it's \"quoted\" `touch {m}`",
    "two\nlines; touch {m}",
    "back\\slash $HOME && touch {m} | cat",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["subst", "semicolon", "quotes-backticks", "newline", "misc"])
def test_suggested_reproduce_command_survives_a_real_shell(tmp_path, name):
    box = Sandbox(tmp_path)
    marker = tmp_path / "PWNED"
    name = name.format(m=marker)
    spec = box.write("spec.yaml", _repro_spec(subject_name=name))
    assert_clean(box.evalkit("run", str(spec), "--out", "run", "--quiet", "--format", "markdown"), 1)
    md = (box.work / "run" / "report.md").read_text()
    block = md.split("```sh\n", 1)[1].split("\n```", 1)[0]
    # paste it into bash with `evalkit` standing for a function that records its arguments
    script = "evalkit() { printf '%s\\0' \"$@\" > args.bin; }\n" + block + "\n"
    subprocess.run(["bash", "-c", script], cwd=box.work, timeout=60, check=True)
    words = (box.work / "args.bin").read_bytes().decode().split("\0")[:-1]
    assert words == ["reproduce", "REPORT", name, "--spec", str(spec)]
    assert not marker.exists()


# ---------------------------------------------------------------- the cache cannot lie

def _cache_spec(features):
    return spec_text(name="cache", reference=REF_300, features=features,
                     subjects=[dict(REPLAY_300, name="replay")], sampling={"n": 300, "batch_size": 100, "seed": 1},
                     report={"formats": ["json"]}, requirements=[{"metric": "fid", "at_most": 100000}])

EXTRACTOR = """\
from pathlib import Path

from safetensors.torch import load_file

WEIGHTS = Path(__file__).with_name("proj.safetensors")


def features(images):
    proj = load_file(str(WEIGHTS))["proj"]
    return images.flatten(1)[:, {cols}] @ proj


features.weights_file = WEIGHTS
"""


def _fid_and_digest(box: Sandbox, out: str, *extra: str) -> tuple[float, str]:
    assert_clean(box.evalkit("run", "spec.yaml", "--out", out, "--quiet", *extra), 0)
    rep = json.loads((box.work / out / "report.json").read_text())
    return rep["subjects"][0]["metrics"][0]["value"], rep["reference"]["extractor_digest"]


def _fresh_module(box: Sandbox, module: str, cols: str) -> None:
    import sys

    (box.work / f"{module}.py").write_text(EXTRACTOR.format(cols=cols))
    sys.modules.pop(module, None)  # each CLI run is a new process; in this one, forget the old import


def test_editing_an_extractor_or_its_weights_rebuilds_the_cache(tmp_path):
    from safetensors.torch import save_file

    box = Sandbox(tmp_path)
    module = f"feat_{os.getpid()}_{id(box)}"
    box.write("spec.yaml", _cache_spec(features=f"{module}:features"))
    g = torch.Generator().manual_seed(0)
    save_file({"proj": torch.randn(200, 8, generator=g)}, str(box.work / "proj.safetensors"))
    _fresh_module(box, module, "100:300")
    fid_a, dig_a = _fid_and_digest(box, "a")
    _fresh_module(box, module, "300:500")  # edit the code
    fid_b, dig_b = _fid_and_digest(box, "b")
    fid_b_nocache, _ = _fid_and_digest(box, "b-nocache", "--no-cache")
    assert dig_b != dig_a and fid_b == fid_b_nocache and fid_b != fid_a
    save_file({"proj": torch.randn(200, 8, generator=g)}, str(box.work / "proj.safetensors"))  # edit the weights
    _fresh_module(box, module, "300:500")
    fid_c, dig_c = _fid_and_digest(box, "c")
    fid_c_nocache, _ = _fid_and_digest(box, "c-nocache", "--no-cache")
    assert dig_c not in (dig_a, dig_b) and fid_c == fid_c_nocache and fid_c != fid_b


def _small_features_box(tmp_path) -> Sandbox:
    """A sandbox whose spec uses an 8-d user extractor (FID's bootstrap on 784 pixels is slow on a small machine)."""
    from safetensors.torch import save_file

    box = Sandbox(tmp_path)
    module = f"feat_{os.getpid()}_{id(box)}"
    box.write("spec.yaml", _cache_spec(features=f"{module}:features"))
    save_file({"proj": torch.randn(200, 8, generator=torch.Generator().manual_seed(0))}, str(box.work / "proj.safetensors"))
    _fresh_module(box, module, "100:300")
    return box


def test_a_forged_cache_entry_is_rebuilt(tmp_path):
    """An entry rewritten with other features and a recomputed checksum (or another key's HMAC) is not trusted."""
    import hashlib
    import hmac

    from evalkit.store import load_record, save_record

    box = _small_features_box(tmp_path)
    fid, _ = _fid_and_digest(box, "a")
    entries = sorted(box.cache.glob("*.safetensors"))
    assert entries, "the first run caches the reference features"
    for forge in ("sha256", "other-key"):
        for entry in entries:
            tensors, meta = load_record(entry, kind="feature-cache")
            fake = torch.zeros_like(tensors["value"])
            raw = fake.numpy().tobytes()
            if forge == "sha256":
                meta["hmac"] = hashlib.sha256(raw).hexdigest()
            else:
                meta["hmac"] = hmac.new(b"attacker" * 8, raw, hashlib.sha256).hexdigest()
            save_record(entry, {"value": fake}, meta, kind="feature-cache")
        res = box.evalkit("run", "spec.yaml", "--out", f"forged-{forge}", "--quiet")
        assert_clean(res, 0)
        assert "forged" in res.err
        rep = json.loads((box.work / f"forged-{forge}" / "report.json").read_text())
        assert rep["subjects"][0]["metrics"][0]["value"] == fid


def test_cache_key_is_private_and_outside_the_cache(tmp_path):
    box = _small_features_box(tmp_path)
    _fid_and_digest(box, "a")
    key = box.key / "cache.key"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    assert not any(p.name == "cache.key" for p in box.cache.rglob("*"))
    key.chmod(0o644)  # a key others can read protects nothing: the cache is bypassed, with a warning
    res = box.evalkit("run", "spec.yaml", "--out", "b", "--quiet")
    assert_clean(res, 0)
    assert "readable by other users" in res.err
