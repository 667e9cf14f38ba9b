"""Look-alike and invisible names: subject and requirement names a reader cannot tell apart.

Two names that print the same but differ in their characters (a U+2010 hyphen for
``-``, a Cyrillic ``а`` for the Latin ``a``, a zero-width space, a trailing space)
make reports, ``--baseline`` pairing and ``regression.tolerance`` keys silently
disagree. ``name_warnings`` finds them without importing anything heavy: each name
is reduced to a *skeleton* (NFKC, invisible characters and outer spaces dropped,
hyphens, quotes and spaces unified, common Cyrillic/Greek letters mapped to the Latin
ones they look like) and two different names with one skeleton are reported together.
A name holding invisible characters, outer spaces or letters of two scripts is
reported on its own too. The table is small on purpose (the letters that occur in
practice); see docs/spec-validation.md.
"""

from __future__ import annotations

import unicodedata

# Letters that render like Latin ones (Cyrillic and Greek), mapped to the Latin letter.
_CONFUSABLE = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ν": "v", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z",
})
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
           "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"'}


def _invisible(ch: str) -> bool:
    """Format characters (zero-width space, joiners, BOM, bidi marks) and other non-printing ones."""
    return unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cn") or ch in "\u115f\u1160\u3164\uffa0"


def skeleton(name: str) -> str:
    """What ``name`` looks like: names with one skeleton read the same on a screen."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if not _invisible(ch))
    text = "".join("-" if ch in _DASHES else _QUOTES.get(ch, ch) for ch in text)
    text = " ".join(text.split())  # any run of (Unicode) spaces reads as one space; outer ones not at all
    return text.translate(_CONFUSABLE)


def _scripts(name: str) -> set[str]:
    out = set()
    for ch in name:
        if ch.isalpha():
            word = unicodedata.name(ch, "").split(" ")[0]
            out.add(word if word in ("LATIN", "CYRILLIC", "GREEK") else "OTHER")
    return out


def shown(name: str) -> str:
    """``name`` with every character outside printable ASCII written as its code point, so two
    look-alikes show their difference (``right cl<U+0430>ss``)."""
    return "".join(ch if ch.isascii() and ch.isprintable() else f"<U+{ord(ch):04X}>" for ch in name)


def odd_name(name: str) -> str | None:
    """Why ``name`` alone is hard to read right, or None."""
    if name != name.strip():
        return "has leading or trailing spaces"
    hidden = sorted({f"U+{ord(ch):04X}" for ch in name if _invisible(ch)})
    if hidden:
        return f"holds invisible characters ({', '.join(hidden)})"
    dashes = sorted({f"U+{ord(ch):04X}" for ch in name if ch in _DASHES})
    if dashes:
        return f"holds a dash that is not '-' ({', '.join(dashes)})"
    if {"LATIN", "CYRILLIC"} <= _scripts(name) or {"LATIN", "GREEK"} <= _scripts(name):
        return "mixes Latin letters with Cyrillic or Greek ones that look alike"
    return None


def name_warnings(kind: str, names: list[tuple[tuple, str]]) -> list[tuple[tuple, str]]:
    """(field path, message) for each look-alike pair and each odd name among ``names``
    ((field path, name) pairs of one kind: subjects or requirements)."""
    out: list[tuple[tuple, str]] = []
    first: dict[str, tuple[tuple, str]] = {}
    for path, name in names:
        why = odd_name(name)
        if why:
            out.append((path, f"{kind} name {name!r} ({shown(name)}) {why}; write it in plain characters"))
        key = skeleton(name)
        if key in first and first[key][1] != name:
            other_path, other = first[key]
            out.append((path, f"{kind} names {other!r} ({shown(other)}) and {name!r} ({shown(name)}) look alike "
                              "but are different names; rename one so reports, baselines and tolerances "
                              "cannot confuse them"))
        first.setdefault(key, (path, name))
    return out
