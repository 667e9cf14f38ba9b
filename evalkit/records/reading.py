"""Reading a report back (a baseline, a report to reproduce or compare) as untrusted input.

Reports travel as CI artifacts and are handed to ``--baseline``, ``evalkit compare`` and
``evalkit reproduce``: the file may be truncated, hand-edited, from another evalkit
version or crafted. Reading it never runs code, never recurses without bound and never
lets an inconsistent count (``passed > n``, ``n = -2``) reach the statistics; every
problem is a ``ReportFileError`` naming the file, the field path and what is wrong.

Schema versions: ``schema_version`` is MAJOR.MINOR (``records.model``). A report of
the same major version written by a newer evalkit may carry fields this one does not
know; they are ignored (logged), so an older evalkit in CI still reads a newer
baseline. A different major version, or a missing or mistyped field, is refused.
"""

from __future__ import annotations

import json
import os
import logging
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .._errors import EXIT_USAGE, DataError
from .._io import read_regular
from ..spec.model import MAX_SAMPLES
from .model import REPORT_SCHEMA_VERSION, MetricResult, Report, RequirementResult, SubjectResult, schema_major

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64  # a report is about 8 levels deep; anything near this is not a report
MAX_PROBLEMS = 12
_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")  # ASCII digits only: "١.2" and "01.2" are refused
MAX_MAGNITUDE = 1e12  # no metric value or bound evalkit writes comes near this: beyond it a report is forged
# The range of each built-in metric's value (a plugin's metric: finite, within MAX_MAGNITUDE).
# To move into MetricDecl once the metrics restructuring has merged.
VALUE_RANGES = {"fid": (0.0, MAX_MAGNITUDE), "density": (0.0, MAX_MAGNITUDE), "vendi": (1.0 - 1e-9, MAX_SAMPLES),
                **{m: (0.0, 1.0) for m in ("precision", "recall", "coverage", "class_tv", "memorized", "cas")}}


class ReportFileError(DataError):
    """A report file is missing, unreadable, or not a valid report; ``problems`` has one line each.

    Exit code 2: the file was named on the command line (``--baseline``, ``compare``,
    ``reproduce``) and nothing ran.
    """

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(f"{path}: not a usable evalkit report: " + "; ".join(problems[:MAX_PROBLEMS]) + more)


def read_report(path: str | Path) -> Report:
    """Read a ``report.json`` (or a report folder) back into a ``Report``.

    The file is untrusted input: it passes every check of this module, or
    ``ReportFileError`` (a ``DataError``) names the file and what is wrong with it."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    data = _load_json(p)
    ignored: list[str] = []
    data = _drop_unknown(Report, data, "", ignored)
    try:
        report = Report.model_validate(data)
    except ValidationError as exc:
        raise ReportFileError(p, [_pydantic_line(e) for e in exc.errors()]) from None
    problems = loose_counts(Report, data, "") + consistency_problems(report)
    if problems:
        raise ReportFileError(p, problems)
    if ignored:
        log.warning("%s: ignored %d field(s) this evalkit does not know (a newer evalkit wrote them): %s",
                    p, len(ignored), ", ".join(ignored[:8]) + (" ..." if len(ignored) > 8 else ""))
    return report


def read_finished_report(path: str | Path, role: str) -> Report:
    """A report of a finished run, for ``role`` (a baseline, a contender of compare): a partial report
    (``report.partial.json``, any format's partial file) or one marked ``interrupted: true`` is refused,
    its counts being those of a run that stopped part-way. (``--baseline-partial`` is another thing:
    a finished baseline that pairs only some subjects.)"""
    from .. import registry

    p = Path(path)
    json_path = p / "report.json" if p.is_dir() else p
    partial = {e.decl.partial_file for e in registry.formats.declared() if e.decl.partial_file}
    if json_path.name in partial:
        raise ReportFileError(json_path, [f"a partial report (what an interrupted run leaves) cannot be {role}; "
                                          "finish the run with `evalkit run --resume` and use its report.json"])
    report = read_report(json_path)
    if report.interrupted:
        raise ReportFileError(json_path, [f"interrupted: true: the run stopped part-way, so it cannot be {role}; "
                                          "finish it with `evalkit run --resume`"])
    return report


def _load_json(p: Path) -> dict[str, Any]:
    data = visible_strings(_parse(p, _read_bytes(p)))
    data["schema_version"] = _checked_version(p, data.get("schema_version"))
    return data


def _read_bytes(p: Path) -> bytes:
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise ReportFileError(p, ["not a file"])
        if size > MAX_REPORT_BYTES:
            raise ReportFileError(p, [f"{size} bytes; a report is at most {MAX_REPORT_BYTES} bytes"])
        return read_regular(p, limit=MAX_REPORT_BYTES, why="a report's limit")  # a FIFO never blocks the read
    except FileNotFoundError:
        raise ReportFileError(p, ["file not found"]) from None
    except OSError as exc:
        raise ReportFileError(p, [f"cannot be read ({exc.strerror or exc})"]) from None


def _parse(p: Path, raw: bytes) -> dict[str, Any]:
    # a file with few brackets cannot be deep: the byte-by-byte scan runs only on the others
    depth = nesting_depth(raw, MAX_DEPTH) if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH else 0
    if depth > MAX_DEPTH:
        raise ReportFileError(p, [f"JSON nested {depth} levels deep; a report is at most {MAX_DEPTH}"])
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ReportFileError(p, [f"not UTF-8 text (byte {exc.start})"]) from None
    except json.JSONDecodeError as exc:
        raise ReportFileError(p, [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from None
    except (ValueError, RecursionError) as exc:
        raise ReportFileError(p, [str(exc)]) from None
    if not isinstance(data, dict):
        raise ReportFileError(p, [f"a report is a JSON object, this file holds a JSON {_json_type(data)}"])
    return data


def _checked_version(p: Path, version: Any) -> str:
    """The report's schema version as MAJOR.MINOR: strict ASCII, of this evalkit's MAJOR (the
    unversioned layout's integer 1 reads as "1.0"), else ``ReportFileError``."""
    ours = schema_major(REPORT_SCHEMA_VERSION)
    well_formed = (version == 1 and type(version) is int) or (isinstance(version, str) and _VERSION.fullmatch(version))
    if not well_formed or schema_major(version) != ours:
        shown = str(version)[:40] if isinstance(version, (list, dict)) else repr(version)[:40]
        form = "" if well_formed else " (not ASCII MAJOR.MINOR such as \"1.3\", digits without leading zeros)"
        raise ReportFileError(p, [f"schema_version: {shown}{form}; this evalkit ({REPORT_SCHEMA_VERSION}) reads major "
                                  f"version {ours} only (compare with the evalkit that wrote it, or re-run the baseline)"])
    return version if isinstance(version, str) else f"{version}.0"


MAX_SAVED_JSON_BYTES = 64 * 1024 * 1024


def read_json_object(path: str | Path, what: str, error: type[DataError] = DataError) -> dict[str, Any]:
    """A saved JSON object (a journal manifest, a subject record), read as untrusted input:
    ``error`` naming the file and what is wrong when it is missing, not a regular file, too
    large, not UTF-8, not JSON, nested deeper than a report can be, or not an object."""
    p = Path(path)
    try:
        if not os.path.lexists(p):
            raise error(f"{p}: the {what} is missing (file not found)")
        raw = read_regular(p, limit=MAX_SAVED_JSON_BYTES, why=f"evalkit writes a {what} of at most that")
    except OSError as exc:
        raise error(f"{p}: the {what} cannot be read ({exc.strerror or exc})") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and (depth := nesting_depth(raw, MAX_DEPTH)) > MAX_DEPTH:
        raise error(f"{p}: the {what} is JSON nested {depth}+ levels deep; evalkit writes at most {MAX_DEPTH}")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise error(f"{p}: the {what} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{p}: the {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{p}: the {what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{p}: the {what} must be a JSON object, this file holds a JSON {_json_type(data)}")
    return visible_strings(data)


_T = TypeVar("_T")


def visible_strings(data: _T) -> _T:
    """``data`` with every lone surrogate in its strings (and keys) shown as a ``\\udXXX`` escape:
    JSON may spell one (``"\\ud800"``), no UTF-8 writer can write one, so it is made visible where
    it is read, never left to break a writer later."""
    stack: list[Any] = [data]
    while stack:  # iterative: a deep document cannot exhaust the stack
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in list(items):
            if isinstance(v, str) and _SURROGATE.search(v):
                node[k] = show_surrogates(v)
            elif isinstance(v, (dict, list)):
                stack.append(v)
            if isinstance(k, str) and _SURROGATE.search(k):
                node[show_surrogates(k)] = node.pop(k)
    return data


_SURROGATE = re.compile("[\ud800-\udfff]")


def show_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (unencodable in UTF-8) written as a visible ``\\udXXX``."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"holds {name}, which is not JSON (reports hold only finite numbers or null)")


def nesting_depth(raw: bytes, stop_above: int | None = None) -> int:
    """Deepest bracket nesting outside strings, counted without recursion (before parsing);
    the scan stops as soon as the depth passes ``stop_above``."""
    depth = deepest = 0
    in_string = escaped = False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _json_type(v: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(v), type(v).__name__)


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(record class, is a list of them) inside a field annotation such as ``list[X]`` or ``X | None``."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            return args[0], True
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(annotation):
            m, many = _model_of(a)
            if m is not None:
                return m, many
    return None, False


def _drop_unknown(model: type[BaseModel], data: Any, where: str, ignored: list[str]) -> Any:
    """``data`` without the keys ``model`` does not declare (recording their paths in ``ignored``)."""
    if not isinstance(data, dict):
        return data  # pydantic says what is wrong with it
    out = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        path = f"{where}.{key}" if where else str(key)
        if field is None:
            ignored.append(path)
            continue
        sub, many = _model_of(field.annotation)
        if sub is not None and many and isinstance(value, list):
            value = [_drop_unknown(sub, v, f"{path}[{i}]", ignored) for i, v in enumerate(value)]
        elif sub is not None and not many:
            value = _drop_unknown(sub, value, path, ignored)
        out[key] = value
    return out


def _is_int_field(annotation: Any) -> bool:
    """An ``int`` or ``int | None`` field (a count, a seed): JSON must give it an integer."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args == [int]
    return False


def loose_counts(model: type[BaseModel], data: Any, where: str) -> list[str]:
    """The integer fields whose JSON value is a boolean or a string (``n: true``, ``n: "60"``):
    pydantic would read them as 1 and 60; a report evalkit wrote never holds them."""
    if not isinstance(data, dict):
        return []
    out = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        path = f"{where}.{key}" if where else str(key)
        if _is_int_field(field.annotation) and isinstance(value, (bool, str)):
            out.append(f"{path}: {_short(value)} is a JSON {_json_type(value)}, not an integer")
            continue
        sub, many = _model_of(field.annotation)
        if sub is not None and many and isinstance(value, list):
            for i, v in enumerate(value):
                out += loose_counts(sub, v, f"{path}[{i}]")
        elif sub is not None and not many:
            out += loose_counts(sub, value, path)
    return out


def _pydantic_line(err: ErrorDetails) -> str:
    loc = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(err["loc"]))
    got = err.get("input")
    shown = "" if err["type"] == "missing" else f" (got {_short(got)})"
    return f"{loc or '<top>'}: {err['msg'].lower() if err['type'] == 'missing' else err['msg']}{shown}"


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, (dict, list)) else f"a JSON {_json_type(v)}"
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- consistency


def consistency_problems(report: Report) -> list[str]:
    """Counts and bounds that cannot come from a real run: each one line naming the field."""
    out: list[str] = _spec_problems(report.spec)
    for i, s in enumerate(report.subjects):
        out += _subject_problems(f"subjects[{i}]", s)
    return out


# the spec fields readers of a report walk, and the JSON type each must have
_SPEC_SHAPES: dict[str, type | tuple[type, ...]] = {"requirements": list, "sampling": dict, "subjects": list, "reference": (dict, type(None)),
                "regression": (dict, type(None)), "report": (dict, type(None))}


def _spec_problems(spec: dict[str, Any]) -> list[str]:
    conf = spec.get("confidence", 0.95)
    out = [] if type(conf) in (int, float) and 0 < conf < 1 else [f"spec.confidence: {_short(conf)} is not in (0, 1)"]
    out += [f"spec.{key}: a JSON {_json_type(spec[key])}, expected a JSON {'array' if kind is list else 'object'}"
           for key, kind in _SPEC_SHAPES.items() if key in spec and not isinstance(spec[key], kind)]
    for key in ("requirements", "subjects"):
        if isinstance(spec.get(key), list):
            out += [f"spec.{key}[{i}]: a JSON {_json_type(e)}, expected a JSON object"
                    for i, e in enumerate(spec[key]) if not isinstance(e, dict)][:3]
    return out


def _subject_problems(where: str, s: SubjectResult) -> list[str]:
    out = []
    for name in ("n", "n_planned", "nonfinite"):
        if not 0 <= getattr(s, name) <= MAX_SAMPLES:
            out.append(f"{where}.{name}: {getattr(s, name)} is not a count of 0..{MAX_SAMPLES} samples")
    if s.nonfinite > s.n:
        out.append(f"{where}.nonfinite: {s.nonfinite} of n = {s.n} samples")
    for j, r in enumerate(s.requirements):
        out += _requirement_problems(f"{where}.requirements[{j}]", r)
    for j, m in enumerate(s.metrics):
        out += _metric_problems(f"{where}.metrics[{j}]", m)
    return out


def _metric_problems(w: str, m: MetricResult) -> list[str]:
    out = []
    if not 0 <= m.n <= MAX_SAMPLES or (m.n_reference is not None and not 0 <= m.n_reference <= MAX_SAMPLES):
        out.append(f"{w}.n: {m.n} is not a count of 0..{MAX_SAMPLES} samples")
    if not 0 < m.confidence < 1:
        out.append(f"{w}.confidence: {m.confidence} is not in (0, 1)")
    if not all(math.isfinite(x) and abs(x) <= MAX_MAGNITUDE for x in (m.value, m.lower, m.upper)):
        out.append(f"{w}: value and bounds must be finite numbers of magnitude at most {MAX_MAGNITUDE:g}")
        return out
    if m.lower > m.upper:
        out.append(f"{w}: lower {m.lower} is above upper {m.upper}")
    lo, hi = VALUE_RANGES.get(m.registered, (-MAX_MAGNITUDE, MAX_MAGNITUDE))
    if not lo <= m.value <= hi:
        out.append(f"{w}.value: {m.value} lies outside the range of {m.registered} ([{lo:g}, {hi:g}])")
    return out


def _requirement_problems(w: str, r: RequirementResult) -> list[str]:
    out = []
    if r.n is not None and r.n > MAX_SAMPLES:
        out.append(f"{w}.n: {r.n} is more than the {MAX_SAMPLES} samples a spec may ask for")
    if any(not 0 <= x.n <= MAX_SAMPLES for x in r.looks) or any(x.passed > x.n or x.passed < 0 for x in r.looks):
        out.append(f"{w}.looks: a look's passed/n is not a count of 0..{MAX_SAMPLES}")
    if not 0 < r.confidence < 1:
        out.append(f"{w}.confidence: {r.confidence} is not in (0, 1)")
    out += _count_problems(w, r)
    out += _bound_problems(w, r)
    for k, c in enumerate(r.per_class):
        if c.n < 0 or c.passed < 0 or c.passed > c.n:
            out.append(f"{w}.per_class[{k}]: passed {c.passed} of n = {c.n} is not a count")
    return out


def _count_problems(w: str, r: RequirementResult) -> list[str]:
    out = [f"{w}.{name}: {v} is negative" for name in ("n", "passed", "undefined")
           if (v := getattr(r, name)) is not None and v < 0]
    if r.kind != "rate":
        return out
    if (r.n is None) != (r.passed is None):
        out.append(f"{w}: a rate needs both passed and n")
    elif r.n is not None and r.passed is not None and r.passed > r.n >= 0:
        out.append(f"{w}.passed: {r.passed} passed of n = {r.n} samples")
    if r.n is not None and r.undefined > r.n >= 0:
        out.append(f"{w}.undefined: {r.undefined} undefined of n = {r.n} samples")
    return out


def _bound_problems(w: str, r: RequirementResult) -> list[str]:
    out = []
    for name in ("value", "lower", "upper", "target", "at_least", "at_most"):
        v = getattr(r, name)
        if v is None:
            continue
        if not math.isfinite(v):
            out.append(f"{w}.{name}: {v} is not a finite number")
        elif r.kind == "rate" and name in ("value", "lower", "upper") and not 0 <= v <= 1:
            out.append(f"{w}.{name}: {v} is a rate and must lie in [0, 1]")
        elif abs(v) > MAX_MAGNITUDE:
            out.append(f"{w}.{name}: {v} is beyond any value evalkit writes")
    return out or _agreement_problems(w, r)


def _agreement_problems(w: str, r: RequirementResult) -> list[str]:
    """A rate's value must be passed/n and lie within its bounds (1.0 in [0.95, 1] from 10 of 60 is forged)."""
    eps = 1e-9
    if r.kind != "rate" or not r.n or r.passed is None or r.passed > r.n:
        return []
    out = []
    if r.value is not None and abs(r.value - r.passed / r.n) > eps:
        out.append(f"{w}.value: {r.value} is not passed/n = {r.passed}/{r.n}")
    if r.lower is not None and r.upper is not None and not r.lower - eps <= r.passed / r.n <= r.upper + eps:
        out.append(f"{w}: bounds [{r.lower}, {r.upper}] do not hold the observed rate {r.passed}/{r.n}")
    return out
