"""Imports follow the pipeline, no two modules import each other, and the commands that
only read specs never import torch.

The layers, lowest first (docs/architecture.md states the same rule), each a folder of
the package or a few top-level modules. A module may import its own layer or a lower
one, never a higher one, nor a sibling of its tier (report and compare both sit on
judge and neither reads the other); every import counts, also those inside functions,
since a lazy import is still a dependency.

    foundation   _version, _errors, boundary, progress, _io, _digest, store, contract, observation, metric_io, protocols,
                 registry, _builtins, cache
    libraries    metrics/ (the maths), data/ (image readers, datasets)
    spec         spec/ (the spec schema, its YAML loader, the where: grammar)
    records      records/ (what a run found: the report, sample and comparison records and their readers)
    plan         plan.py (the one validation)
    sample       sample/
    observe      observe/, zoo/ (the bundled models and extractors)
    judge        judge/
    report       report/ (the renderers: every report format, the comparison's renderings)
      | compare  compare/ (--baseline matching and regression annotation; `evalkit compare`'s table)
    history      history/ (the run history: the SQLite index of reports, trends, blessed baselines, the site)
    run          runner/
    api          api.py, reproduce.py, preflight.py, outfolder.py, testing.py (contract checks for plugin tests),
                 evaluator.py (evalkit.Evaluator, in a training loop), placeholder.py (its `evalkit:in_training`)
    front        cli.py, __init__.py, __main__.py, pytest_plugin.py, model_cards.py
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "evalkit"

# tiers, lowest first; the layers of one tier are siblings: neither may import the other
TIERS = [
    {"foundation": ["evalkit._version", "evalkit._errors", "evalkit.boundary", "evalkit.progress", "evalkit._io",
                    "evalkit._digest", "evalkit.store", "evalkit.contract", "evalkit.observation", "evalkit.metric_io",
                    "evalkit.protocols", "evalkit.registry", "evalkit._builtins", "evalkit.cache", "evalkit._seal"]},
    {"libraries": ["evalkit.metrics", "evalkit.data"]},
    {"spec": ["evalkit.spec"]},
    {"records": ["evalkit.records"]},
    {"plan": ["evalkit.plan"]},
    {"sample": ["evalkit.sample"]},
    {"observe": ["evalkit.observe", "evalkit.zoo"]},
    {"judge": ["evalkit.judge"]},
    {"report": ["evalkit.report"], "compare": ["evalkit.compare"]},
    {"history": ["evalkit.history"]},
    {"run": ["evalkit.runner", "evalkit.run"]},
    {"api": ["evalkit.api", "evalkit.reproduce", "evalkit.preflight", "evalkit.outfolder", "evalkit.testing",
             "evalkit.evaluator", "evalkit.placeholder"]},
    {"front": ["evalkit.cli", "evalkit.__main__", "evalkit.pytest_plugin", "evalkit.model_cards", "evalkit"]},
]
LAYERS = [(name, prefixes, tier) for tier, layers in enumerate(TIERS) for name, prefixes in layers.items()]

# Two-module circles that are the design, not a tangle: the registry declares the built-ins
# on first use (registry.load_plugins -> _builtins.declare) and _builtins declares through it.
ALLOWED_CIRCLES = [
    {"evalkit.registry", "evalkit._builtins"},
]


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of the layer ``module`` belongs to (its longest matching prefix)."""
    best, depth = None, -1
    for i, (_, prefixes, _) in enumerate(LAYERS):
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


def import_graph(read=lambda path: path.read_text()) -> dict[str, set[str]]:
    """Module -> the evalkit modules it imports, for every module of the package."""
    return {module_name(path): imports_of(path, read(path)) for path in sorted(PKG.rglob("*.py"))}


def back_edges(read=lambda path: path.read_text()) -> list[str]:
    found = []
    for me, deps in import_graph(read).items():
        mine = layer_of(me)
        for dep in sorted(deps):
            theirs = layer_of(dep)
            higher = LAYERS[theirs][2] > LAYERS[mine][2]
            sibling = LAYERS[theirs][2] == LAYERS[mine][2] and theirs != mine
            if higher or sibling:
                found.append(f"{me} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})")
    return found


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The import circles: every strongly connected set of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_later_stage():
    assert back_edges() == []


def test_the_check_can_fail():
    # a planted back-edge (the spec importing the runner, inside a function) is caught
    spec = PKG / "spec" / "model.py"
    planted = "\ndef _f():\n    from ..runner import execute\n"
    edges = back_edges(lambda path: path.read_text() + (planted if path == spec else ""))
    assert "evalkit.spec.model (spec) imports evalkit.runner (run)" in edges


def test_siblings_do_not_import_each_other():
    # a renderer reaching into the comparison engine is caught, though compare is no higher than report
    render = PKG / "report" / "render.py"
    planted = "\ndef _f():\n    from ..compare.baseline import compare\n"
    edges = back_edges(lambda path: path.read_text() + (planted if path == render else ""))
    assert "evalkit.report.render (report) imports evalkit.compare.baseline (compare)" in edges


def test_records_are_a_folder_below_the_plan_and_renderers_read_no_comparison():
    by_name = {name: tier for name, _, tier in LAYERS}
    assert by_name["spec"] < by_name["records"] < by_name["plan"]
    assert by_name["judge"] < by_name["compare"] == by_name["report"] < by_name["run"]
    for folder in ("records", "report", "compare"):
        assert (PKG / folder / "__init__.py").is_file()
        assert layer_of(f"evalkit.{folder}.anything") == layer_of(f"evalkit.{folder}")


def test_no_import_circles_but_the_allowed_ones():
    found = circles(import_graph())
    assert [c for c in found if c not in ALLOWED_CIRCLES] == []
    # the allowed list only shrinks: an entry whose circle is gone is removed with it
    assert [c for c in ALLOWED_CIRCLES if c not in found] == []


def test_the_circle_check_can_fail():
    # a planted three-module circle, every import inside a function, is found whole
    planted = {PKG / "spec" / "locations.py": "\ndef _f():\n    from . import expr\n",
               PKG / "spec" / "expr.py": "\ndef _g():\n    from . import limits\n",
               PKG / "spec" / "limits.py": "\ndef _h():\n    from . import locations\n"}
    found = circles(import_graph(lambda path: path.read_text() + planted.get(path, "")))
    assert {"evalkit.spec.locations", "evalkit.spec.expr", "evalkit.spec.limits"} in found
    assert circles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"d"}}) == []  # a chain is no circle, nor a self-import


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
