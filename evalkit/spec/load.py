"""Read a spec from YAML, keeping the line and column of every value.

We compose the YAML node graph with PyYAML's *safe* composer (no ``!!python``
tags), then build plain Python data ourselves, which lets us (a) record a mark
for every field path, (b) bound nesting depth and the size after alias expansion
(so a "billion laughs" file is refused instead of eating memory), and (c) turn
pydantic's errors into ``file:line:col: field.path: message`` lines.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .. import registry
from .._errors import EvalkitError, SpecError
from .._io import read_regular
from .locations import Marks, dotted, format_location
from .model import Spec

MAX_DEPTH = 40
MAX_NODES = 100_000
MAX_BYTES = 5_000_000

_PLAIN_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _Builder:
    def __init__(self) -> None:
        self.marks: Marks = {}
        self.count = 0

    def build(self, node: yaml.Node, path: tuple, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Refused(node, f"the document expands to more than {MAX_NODES} values (nested aliases?); refusing it")
        if depth > MAX_DEPTH:
            raise _Refused(node, f"nesting deeper than {MAX_DEPTH} levels; refusing it")
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTIONS:
            raise _Refused(node, f"tag {node.tag!r} is not allowed in a spec (only plain YAML values are)")
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(knode, "YAML merge keys ('<<') are not supported in specs; write the keys out")
                key = self.build(knode, path + ("<key>",), depth + 1)
                if isinstance(key, (dict, list)):
                    raise _Refused(knode, "a mapping key must be a plain value")
                if key in out:
                    raise _Refused(knode, f"duplicate key {key!r}")
                self.marks[path + (key,)] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
                self.marks[path + (key, "<key>")] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                out[key] = self.build(vnode, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        value = _Scalar().construct_scalar_value(node)
        if isinstance(value, float) and not math.isfinite(value):
            # strict JSON has no NaN/Infinity, and no bound or setting means anything as one
            raise _Refused(node, f"{node.value!r} is not a finite number; a spec holds finite numbers only")
        return value


class _Scalar(yaml.SafeLoader):
    """Only used for its scalar resolution (int, float, bool, null, str)."""

    def __init__(self) -> None:  # no stream: we call the constructor directly
        yaml.constructor.SafeConstructor.__init__(self)

    def construct_scalar_value(self, node: yaml.Node) -> Any:
        if node.tag not in self.yaml_constructors or node.tag.startswith("tag:yaml.org,2002:python"):
            raise _Refused(node, f"tag {node.tag!r} is not allowed in a spec (only plain YAML values are)")
        if node.tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"):
            raise _Refused(node, f"tag {node.tag!r} is not allowed in a spec (only plain YAML values are)")
        return self.construct_object(node, deep=True)


class _Refused(Exception):
    def __init__(self, node: yaml.Node, message: str):
        self.line, self.col = node.start_mark.line + 1, node.start_mark.column + 1
        super().__init__(message)


def _is_model(t: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(t, type) and issubclass(t, BaseModel)


def _model_in(annotation: Any) -> type | None:
    """The pydantic model an annotation holds: ``Model``, ``Model | None``, ``list[Model]``, ``list[Model] | None``."""
    args = getattr(annotation, "__args__", None) or ()
    found = next((a for a in (annotation, *args) if _is_model(a)), None)
    if found is None:  # one level further: list[Model] inside a union
        found = next((x for a in args for x in (getattr(a, "__args__", None) or ()) if _is_model(x)), None)
    return found


def _fields_at(model: type, loc: tuple) -> list[str]:
    """Field names valid at ``loc`` (for 'did you mean' on unknown keys)."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the same model as the list's items
        if not _is_model(cur) or part not in cur.model_fields:
            return []
        cur = _model_in(cur.model_fields[part].annotation)
    return list(cur.model_fields) if _is_model(cur) else []


def _problems(exc: ValidationError, source: str | None, marks: Marks, data: Any) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"]) + tuple(getattr((err.get("ctx") or {}).get("error"), "path", ()))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = loc[-1]
            valid = _fields_at(Spec, loc[:-1])
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else (f" (valid keys: {', '.join(valid)})" if valid else "")
            where = format_location(source, marks, loc + ("<key>",))
            lines.append(f"{where}: {dotted(loc)}: unknown key {key!r}{hint}")
            continue
        where = format_location(source, marks, loc)
        value = _value_at(data, loc)
        shown = f" (got {value!r})" if value is not _MISSING and not isinstance(value, (dict, list)) else ""
        if err["type"] == "missing":
            lines.append(f"{where}: {dotted(loc)}: required field is missing")
        else:
            lines.append(f"{where}: {dotted(loc)}: {msg}{shown}")
    return lines


_MISSING = object()


def _value_at(data: Any, loc: tuple) -> Any:
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return cur


def spec_folder_on_path(source: str | None) -> None:
    """Make the spec's own folder importable, so `model: mygen:G` and `plugins: [mychecks]` find files beside it."""
    import sys

    base = str((Path(source).parent if source else Path.cwd()).resolve())
    if base not in sys.path:
        sys.path.append(base)


def _import_plugins(plugins: Any, source: str | None, marks: Marks) -> list[str]:
    """Import the spec's ``plugins:`` modules before its names are checked; one line per failure."""
    if not isinstance(plugins, list) or not plugins:
        return []  # absent, or not a list: pydantic reports the type
    spec_folder_on_path(source)
    problems = []
    for i, module in enumerate(plugins):
        if not isinstance(module, str):
            continue
        try:
            registry.import_plugin(module)
        except EvalkitError as exc:
            problems.append(f"{format_location(source, marks, ('plugins', i))}: plugins[{i}]: {exc}")
    return problems


def _check_nesting(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from PyYAML's event stream (an iterative parser, no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?:?"
                raise SpecError(f"{name}:{where}: nesting deeper than {MAX_DEPTH} levels; refusing it")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _compose(text: str, name: str) -> yaml.Node:
    """The YAML node graph of ``text`` (safe composer only), or ``SpecError`` at the YAML's own mark."""
    try:
        _check_nesting(text, name)  # before compose: PyYAML composes recursively and would hit RecursionError
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = exc.problem or str(exc)
        if "\t" in problem or "'\\t'" in problem:
            problem += " (YAML indents with spaces; replace the tab characters)"
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{name}: not valid YAML: {exc}") from None
    if node is None:
        raise SpecError(f"{name}:1:1: the spec holds no YAML document; start with `version: 1`")
    return node


def _build(node: yaml.Node, name: str) -> tuple[dict, Marks]:
    """Plain data and the marks of every field path; refuses what no spec holds."""
    builder = _Builder()
    try:
        data = builder.build(node, (), 0)
    except _Refused as exc:
        raise SpecError(f"{name}:{exc.line}:{exc.col}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{name}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{name}:1:1: a spec is a YAML mapping (key: value lines), got a {type(data).__name__}")
    return data, builder.marks


def parse_spec(text: str, source: str | None = None) -> Spec:
    """Parse and validate spec text; raise ``SpecError`` listing every problem."""
    name = source or "<spec>"
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise SpecError(f"{name}: file is larger than {MAX_BYTES} bytes; a spec is a short YAML file")
    if not text.strip():
        raise SpecError(f"{name}:1:1: the spec is empty; start with `version: 1`, a `name:`, `subjects:` and `requirements:`")
    data, marks = _build(_compose(text, name), name)
    if "version" in data and data["version"] != 1:
        raise SpecError(
            f"{format_location(source, marks, ('version',))}: version: this evalkit reads spec version 1, got {data['version']!r}"
        )
    plugin_problems = _import_plugins(data.get("plugins"), source, marks)
    if plugin_problems:
        raise SpecError(f"{name}: {len(plugin_problems)} problem(s)", plugin_problems)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, source, marks, data)
        raise SpecError(f"{name}: {len(problems)} problem(s)", problems) from None
    spec._source = source
    spec._marks = marks
    return spec


SPEC_MAX = 64 << 20  # bytes of a spec file


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{p}: spec file not found")
    if p.is_dir():
        raise SpecError(f"{p}: is a folder; give a spec file (.yaml)")
    try:
        text = read_regular(p, limit=SPEC_MAX, why="a spec is a page of YAML").decode("utf-8")
    except OSError as exc:  # a FIFO, a device, an over-large file: named, never read
        raise SpecError(f"{p}: cannot be read as a spec ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start}); is this a YAML file?") from None
    return parse_spec(text, str(p))
