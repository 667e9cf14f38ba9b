"""Feature files are data: check a ``.pt2`` / TorchScript archive before torch opens it.

``torch.export.load`` is not safe on a file from someone else: it unpickles any
weight or constant flagged ``use_pickle`` (with ``weights_only=False``), falls back
to a full unpickle of the sample inputs when the restricted one fails, unpickles
"opaque" constants with :mod:`pickle`, hands shape expressions to
``sympy.sympify`` (which evaluates Python), resolves call targets by walking
attributes from ``torch`` (``torch.os.system`` is reachable), and loads compiled
shared libraries (AOTInductor). So evalkit opens a ``.pt2`` itself, as a zip, and
hands torch an in-memory copy only when every part of it is plain data:

* every entry is one the plain ``torch.export.save`` layout names (graph JSON,
  raw weight/constant bytes, their JSON configs, version stamps, ``extra/`` text);
  pickles, shared libraries and custom/opaque objects are refused;
* no weight or constant is flagged ``use_pickle``;
* every operator the graph calls is an ``aten``/``prims`` operator or one of a
  few arithmetic helpers, named by its full path;
* every shape expression is arithmetic over shape symbols;
* the sample inputs (a pickle, unused for features) are dropped from the copy.

A TorchScript file (``torch.jit.load``) is different: its ``data.pkl`` and
``constants.pkl`` are read by TorchScript's own C++ unpickler, which resolves
globals only to torch's tensor-rebuild functions and to TorchScript classes
compiled from the archive's own ``code/`` (never to a Python callable), and its
code runs in the TorchScript interpreter. We still refuse entries that are not
part of that layout (a stray pickle or shared library has no business there).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from .._errors import CheckpointError

MAX_ARCHIVE_BYTES = 64 << 30  # sum of declared uncompressed sizes (a ViT-g is ~4 GB)
MAX_ENTRIES = 100_000
MAX_JSON_BYTES = 256 << 20
MAX_EXPR_CHARS = 2000

_PT2_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id", "version"}
_PT2_PATTERNS = [
    re.compile(r"models/[A-Za-z0-9_.-]+\.json"),
    re.compile(r"data/weights/[A-Za-z0-9_.-]+_weights_config\.json"),
    re.compile(r"data/weights/weight_\d+"),
    re.compile(r"data/constants/[A-Za-z0-9_.-]+_constants_config\.json"),
    re.compile(r"data/constants/tensor_\d+"),
    re.compile(r"data/sample_inputs/[A-Za-z0-9_.-]+\.pt"),  # dropped before torch sees it
    re.compile(r"extra/[A-Za-z0-9_./-]+\.(json|txt)"),
]
# Arithmetic the exporter emits outside aten (symbolic sizes); nothing here reaches the outside world.
_PLAIN_TARGETS = {
    *(f"_operator.{f}" for f in ("getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow",
                                  "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_", "pos", "abs")),
    *(f"math.{f}" for f in ("ceil", "floor", "trunc", "sqrt")),
    *(f"torch.{f}" for f in ("sym_int", "sym_float", "sym_max", "sym_min", "sym_not", "sym_sqrt", "sym_ite",
                              "sym_sum", "_sym_sqrt")),
}
_OP_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+")
# aten operators that touch files: a feature file computes on tensors, nothing else.
_FORBIDDEN_OPS = {"from_file", "_print", "save", "load"}
# Shape expressions are sympy text: symbols like s0/u3, integers, arithmetic and a few named functions.
_EXPR_FUNCS = {"Max", "Min", "FloorDiv", "CeilDiv", "Mod", "PythonMod", "ModularIndexing", "CleanDiv", "IntTrueDiv",
               "FloatTrueDiv", "TruncToInt", "RoundToInt", "CeilToInt", "FloorToInt", "ToFloat", "Abs", "Eq", "Ne",
               "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "sqrt", "oo", "int_oo", "True", "False", "Pow",
               "TruncToFloat", "OpaqueUnaryFn_sqrt", "Identity", "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or",
               # Symbol('s0', positive=True, integer=True): a symbol's declaration
               "Symbol", "Integer", "Float", "Rational", "positive", "negative", "integer", "nonnegative", "real",
               "finite", "zero", "nonzero", "commutative"}
_EXPR_CHARS = re.compile(r"[A-Za-z0-9_+\-*/%(),. <>=!']*")
_EXPR_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYMBOL = re.compile(r"[a-z]{1,12}\d+")

_TS_PATTERNS = [
    re.compile(r"(data|constants|traced_inputs)\.pkl"),  # TorchScript's restricted C++ unpickler, see above
    re.compile(r"(data|constants|traced_inputs)/\d+"),
    re.compile(r"code/.+\.(py|debug_pkl|pkl)"),
    re.compile(r"\.data/.+"),
    re.compile(r"(version|byteorder)"),
    re.compile(r"extra/.+"),
]


def _refuse(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: refused: {why}; evalkit loads feature files only when they hold no pickled "
                           "or compiled parts (see 'What evalkit trusts' in the README)")


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _refuse(path, f"not a zip archive ({exc})") from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _refuse(path, f"{len(infos)} entries (at most {MAX_ENTRIES})")
    total = sum(i.file_size for i in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise _refuse(path, f"it unpacks to {total} bytes (at most {MAX_ARCHIVE_BYTES})")
    return zf


def _split_root(path: Path, names: list[str]) -> tuple[str, list[str]]:
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or any("/" not in n for n in names):
        raise _refuse(path, "entries are not under one archive folder")
    root = roots.pop()
    return root, [n.split("/", 1)[1] for n in names]


def _read_json(path: Path, zf: zipfile.ZipFile, name: str) -> Any:
    info = zf.getinfo(name)
    if info.file_size > MAX_JSON_BYTES:
        raise _refuse(path, f"{name} is {info.file_size} bytes")
    try:
        return json.loads(zf.read(name))
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError) as exc:
        raise _refuse(path, f"{name} is not readable JSON ({type(exc).__name__})") from None


def _walk(obj: Any) -> Iterator[tuple[Any, Any]]:
    """(key, value) of every mapping entry in a JSON value, iteratively (no recursion limit)."""
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                yield k, v
                stack.append(v)
        elif isinstance(cur, list):
            stack.extend(cur)


def _check_payload_config(path: Path, name: str, config: Any) -> None:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _refuse(path, f"{name} has no 'config' mapping")
    for fqn, meta in entries.items():
        if not isinstance(meta, dict):
            raise _refuse(path, f"{name}: entry {fqn!r} is not a mapping")
        if meta.get("use_pickle"):
            raise _refuse(path, f"{name}: {fqn!r} is stored as a pickle (use_pickle)")
        pn = meta.get("path_name")
        if not isinstance(pn, str) or not re.fullmatch(r"(weight|tensor)_\d+", pn):
            raise _refuse(path, f"{name}: {fqn!r} is a {pn!r} payload, not a raw tensor")


def check_expr(expr: Any) -> str | None:
    """Why a serialized shape expression is unsafe to hand to sympy, or None if it is plain arithmetic."""
    if not isinstance(expr, str) or len(expr) > MAX_EXPR_CHARS:
        return "a shape expression is not a short string"
    if not _EXPR_CHARS.fullmatch(expr) or "__" in expr or re.search(r"(?<![0-9])\.|\.(?![0-9])", expr):
        return f"shape expression {expr[:60]!r} holds characters beyond arithmetic"
    for word in _EXPR_WORD.findall(expr):
        if word not in _EXPR_FUNCS and not _SYMBOL.fullmatch(word):
            return f"shape expression {expr[:60]!r} names {word!r}"
    return None


def check_target(target: Any) -> str | None:
    """Why a graph node's call target is not allowed, or None."""
    if not isinstance(target, str):
        return "a call target is not a name"
    if target in _PLAIN_TARGETS:
        return None
    if _OP_TARGET.fullmatch(target):
        if target.split(".")[3] in _FORBIDDEN_OPS:
            return f"the graph calls {target}, which touches files"
        return None
    return f"the graph calls {target[:80]!r}, which is not an aten/prims operator"


def _check_graph(path: Path, name: str, model: Any) -> None:
    for key, value in _walk(model):
        if key == "target":
            why = check_target(value)
        elif key == "expr_str":
            why = check_expr(value)
        elif key in ("as_custom_obj", "custom_obj", "as_opaque"):
            why = "the graph uses a custom (pickled) object"
        else:
            continue
        if why:
            raise _refuse(path, f"{name}: {why}")


def _check_pt2_layout(path: Path, rels: list[str]) -> None:
    """Only a plain torch.export layout, with a graph and each graph's payload configs."""
    for rel in rels:
        if rel not in _PT2_FIXED and not any(p.fullmatch(rel) for p in _PT2_PATTERNS):
            raise _refuse(path, f"it holds {rel!r}, which is not part of a plain torch.export archive")
    graphs = [rel[len("models/"):-len(".json")] for rel in rels if rel.startswith("models/")]
    if not graphs:
        raise _refuse(path, "it holds no exported graph (models/*.json)")
    for model in graphs:  # every graph needs its payload configs, or torch falls back to legacy pickles
        for cfg in (f"data/weights/{model}_weights_config.json", f"data/constants/{model}_constants_config.json"):
            if cfg not in rels:
                raise _refuse(path, f"it has no {cfg}")


def safe_pt2_bytes(path: Path) -> io.BytesIO:
    """A checked in-memory copy of a ``.pt2`` that ``torch.export.load`` can open without unpickling."""
    zf = _open_zip(path)
    with zf:
        names = zf.namelist()
        root, rels = _split_root(path, names)
        _check_pt2_layout(path, rels)
        for name, rel in zip(names, rels):
            if rel.endswith("_weights_config.json") or rel.endswith("_constants_config.json"):
                _check_payload_config(path, rel, _read_json(path, zf, name))
            elif rel.startswith("models/"):
                _check_graph(path, rel, _read_json(path, zf, name))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
            for info, rel in zip(zf.infolist(), rels):
                # the sample inputs are a pickle that torch may fully unpickle; features never need them
                w.writestr(info, b"" if rel.startswith("data/sample_inputs/") else zf.read(info))
    out.seek(0)
    return out


def check_torchscript(path: Path) -> None:
    """Refuse a TorchScript archive holding entries outside TorchScript's layout."""
    zf = _open_zip(path)
    with zf:
        _, rels = _split_root(path, zf.namelist())
    for rel in rels:
        if not any(p.fullmatch(rel) for p in _TS_PATTERNS):
            raise _refuse(path, f"it holds {rel!r}, which is not part of a TorchScript archive")
