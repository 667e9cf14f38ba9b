"""Imports follow the pipeline, and the commands that only read specs never import torch.

The layers, lowest first (docs/architecture.md states the same rule). A module may
import its own layer or a lower one, never a higher one; every import counts,
also those inside functions, since a lazy import is still a dependency.

    foundation   _version, _errors, boundary, progress, _io, _digest, store, contract, registry, _builtins, cache
    libraries    metrics (the maths), data (image readers, datasets)
    spec         spec/ (the spec schema, its YAML loader, the where: grammar)
    records      records/ (what a run found: the report and sample records and their readers)
    plan         plan.py (the one validation)
    sample       sample/
    observe      observe/, zoo/ (the bundled models and extractors)
    judge        judge/
    compare      compare/ (baseline matching, regression annotation, evalkit compare)
    report       report/ (rendering)
    run          runner/
    api          api.py, reproduce.py, preflight.py, outfolder.py, testing.py (contract checks for plugin tests)
    front        cli.py, __init__.py, __main__.py, pytest_plugin.py, model_cards.py
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "evalkit"

LAYERS = [
    ("foundation", ["evalkit._version", "evalkit._errors", "evalkit.boundary", "evalkit.progress", "evalkit._io", "evalkit._digest", "evalkit.store", "evalkit.contract",
                    "evalkit.registry", "evalkit._builtins", "evalkit.cache"]),
    ("libraries", ["evalkit.metrics", "evalkit.data"]),
    ("spec", ["evalkit.spec"]),
    ("records", ["evalkit.records"]),
    ("plan", ["evalkit.plan"]),
    ("sample", ["evalkit.sample"]),
    ("observe", ["evalkit.observe", "evalkit.zoo"]),
    ("judge", ["evalkit.judge"]),
    ("compare", ["evalkit.compare"]),
    ("report", ["evalkit.report"]),
    ("run", ["evalkit.runner", "evalkit.run"]),
    ("api", ["evalkit.api", "evalkit.reproduce", "evalkit.preflight", "evalkit.outfolder", "evalkit.testing"]),
    ("front", ["evalkit.cli", "evalkit.__main__", "evalkit.pytest_plugin", "evalkit.model_cards", "evalkit"]),
]


def layer_of(module: str) -> int:
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and p.count(".") > depth:
                best, depth = i, p.count(".")
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_imports.py and docs/architecture.md")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, text: str) -> set[str]:
    """Every evalkit module ``path`` (whose source is ``text``) imports, relative imports resolved."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "evalkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "evalkit":
                continue
            # `from . import registry` imports the module evalkit.registry, not the package
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists()
                        or (PKG.parent / sub.replace(".", "/")).is_dir() else target)
    return out


def back_edges(read=lambda path: path.read_text()) -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        me = module_name(path)
        mine = layer_of(me)
        for dep in sorted(imports_of(path, read(path))):
            theirs = layer_of(dep)
            if theirs > mine:
                found.append(f"{me} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})")
    return found


def test_no_module_imports_a_later_stage():
    assert back_edges() == []


def test_the_check_can_fail():
    # a planted back-edge (the spec importing the runner, inside a function) is caught
    spec = PKG / "spec" / "model.py"
    planted = "\ndef _f():\n    from ..runner import execute\n"
    edges = back_edges(lambda path: path.read_text() + (planted if path == spec else ""))
    assert "evalkit.spec.model (spec) imports evalkit.runner (run)" in edges


def test_zoo_imports_neither_api_nor_private_names_of_other_packages():
    for path in (PKG / "zoo").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module != "api", path
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                assert not private, f"{path.name} imports private {private} from ..{node.module}"


SNIPPETS = {
    "--version": "from evalkit.cli import main; main(['--version'])",
    "schema": "from evalkit.cli import main; main(['schema'])",
    "validate": "from evalkit.cli import main; main(['validate', {spec!r}])",
    "list": "from evalkit.cli import main; main(['list'])",
    "import evalkit": "import evalkit; evalkit.registry.load_plugins() if hasattr(evalkit, 'registry') else None",
}


@pytest.mark.parametrize("command", sorted(SNIPPETS))
def test_reading_specs_does_not_import_torch(command, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: s\nfeatures: pixels\nclassifier: null\nsubjects: [{model: fashion-ddpm, params: {steps: 5}}]\n"
                    "reference: {dataset: fashion-mnist}\n"
                    "requirements:\n  - {where: '0.02 < ink < 0.8', at_least: 0.5}\n  - {metric: fid, at_most: 50}\n"
                    "  - {check: not_blank, at_least: 0.9}\n")
    code = SNIPPETS[command].format(spec=str(spec))
    probe = f"""
import sys, io, contextlib, json
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        {code}
except SystemExit as e:
    pass
print(json.dumps(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules)))
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(PKG.parent), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    heavy = json.loads(res.stdout.strip().splitlines()[-1])
    assert "torch" not in heavy, f"`evalkit {command}` imported torch"
