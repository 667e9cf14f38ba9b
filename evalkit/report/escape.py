"""Text from a spec, a model or an exception, made safe for each reader of the report.

Names and messages are chosen by whoever wrote the spec or the model, so they may
hold anything: control characters, ANSI colour codes, Markdown or HTML syntax,
shell metacharacters. Each output format gets its own function:

* ``shell_command``: a command line that a shell runs as the listed words, whatever
  they hold (``shlex.quote``);
* ``xml_text``: text valid in XML 1.0 (forbidden characters shown as ``\\x1b``);
* ``md_text`` / ``md_code`` / ``md_block``: Markdown that shows the text literally;
* ``visible``: terminal text with every control character shown, never obeyed.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["shell_command", "visible", "strip_ansi", "xml_text", "md_text", "md_code", "md_block", "bounded", "MAX_TEXT"]

MAX_TEXT = 20_000  # characters of one message or name in a written report; the rest is cut, its length stated


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` writable by every format: lone surrogates (which no UTF-8 writer can write) shown as
    ``\\udXXX``, and anything past ``limit`` characters cut with the full length stated."""
    text = _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if len(text) <= limit:
        return text
    return text[:limit] + f" ... [cut: {len(text)} characters in all]"


_SURROGATES = re.compile("[\ud800-\udfff]")

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# characters that open Markdown markup mid-line; "_" only where it can delimit emphasis (not in_range)
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _show(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shell_command(*words: str) -> str:
    """One shell line running ``words`` as given: pasted into sh/bash/zsh, nothing in them is interpreted."""
    return " ".join(shlex.quote(str(w)) for w in words)


def strip_ansi(text: str) -> str:
    """Drop ANSI colour/cursor sequences (an exception message coloured for a terminal)."""
    return _ANSI.sub("", text)


def visible(text: str, keep_newlines: bool = False) -> str:
    """Terminal-safe text: ANSI sequences dropped, other control characters shown as ``\\x..`` escapes."""
    text = strip_ansi(str(text))
    if keep_newlines:
        return "\n".join(_CONTROL.sub(lambda m: _show(m.group()), line) for line in text.split("\n"))
    return _CONTROL.sub(lambda m: _show(m.group()), text)


def xml_text(text: str) -> str:
    """Text every XML 1.0 parser accepts (still to be escaped for ``<``/``&`` by the writer)."""
    text = strip_ansi(str(text))
    return _XML_FORBIDDEN.sub(lambda m: _show(m.group()), text)


def md_text(text: str) -> str:
    """Markdown that renders ``text`` literally, on one line (safe in a table cell or a heading)."""
    text = visible(text)
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: str) -> str:
    """An inline code span holding ``text`` literally (fence longer than any backtick run inside)."""
    text = visible(text)
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_cell_code(text: str) -> str:
    """An inline code span safe inside a table row (``|`` cannot end the cell)."""
    return md_code(text).replace("|", "\\|")


def md_block(text: str, lang: str = "") -> str:
    """A fenced code block holding ``text`` literally, newlines included."""
    text = "\n".join(_CONTROL.sub(lambda m: _show(m.group()), line) for line in strip_ansi(text).split("\n"))
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, run + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def strict_json(value):
    """``value`` with every non-finite float spelled as a string ("NaN", "Infinity", "-Infinity").

    ``json.dumps`` would write bare ``NaN``, which strict JSON parsers (JavaScript's,
    Go's, jq) reject; pydantic reads these strings back as the same floats.
    """
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
