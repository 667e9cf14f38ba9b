"""report/escape.py: hostile text comes out inert in each format, checked against hand-written outputs."""

import json
import math
import shlex
import xml.dom.minidom

from evalkit.report import escape as E


def test_a_shell_line_splits_back_into_the_same_words():
    words = ["evalkit", "reproduce", "x$(touch y)", "a; b", "it's \"q\"", "two\nlines", ""]
    assert shlex.split(E.shell_command(*words)) == words
    assert E.shell_command("plain", "words") == "plain words"


def test_terminal_text_shows_controls_and_drops_colour():
    assert E.visible("\x1b[31mred\x1b[0m bell\x07 nul\x00 tab\t") == "red bell\\x07 nul\\x00 tab\\t"
    assert E.visible("a\u202eb") == "a\\u202eb"  # a bidi override would reorder what the reader sees
    assert E.visible("one\ntwo", keep_newlines=True) == "one\ntwo" and E.visible("one\ntwo") == "one\\ntwo"
    assert E.strip_ansi("\x1b]0;title\x07text") == "text"


def test_xml_text_parses_in_any_xml_parser():
    text = E.xml_text("bad \x01\x0b chars \ufffe kept: \t\n")
    assert text == "bad \\x01\\x0b chars \\ufffe kept: \t\n"
    xml.dom.minidom.parseString(f"<a>{text}</a>")  # raises on a forbidden character


def test_markdown_text_is_literal():
    assert E.md_text("*bold* `code` [link](x) a|b <b>&") == \
        "\\*bold\\* \\`code\\` \\[link\\](x) a\\|b &lt;b&gt;&amp;"
    assert E.md_text("in_range _em_") == "in_range \\_em\\_"  # an underscore inside a word is no emphasis


def test_markdown_code_fences_outgrow_the_backticks_inside():
    assert E.md_code("x") == "`x`"
    assert E.md_code("a ``b`` c") == "```a ``b`` c```"
    assert E.md_code("`edge") == "`` `edge ``"
    assert E.md_block("has ```\nfences") == "````\nhas ```\nfences\n````"
    assert E.md_cell_code("a|b") == "`a\\|b`"


def test_strict_json_spells_non_finite_floats():
    value = {"a": [math.nan, math.inf, -math.inf, 1.5], "b": "x"}
    out = E.strict_json(value)
    assert out == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": "x"}
    json.loads(json.dumps(out, allow_nan=False))  # strict parsers accept it
