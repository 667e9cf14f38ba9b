"""Preflight's pure parts: file-name slugs, and output problems found without running anything."""

import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.preflight import SLUG_MAX, RunOutputs, output_problems, slug


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_slug_is_a_safe_short_file_name(text):
    s = slug(text)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", s)
    assert 0 < len(s) <= SLUG_MAX and not s.startswith(".")
    assert s not in (".", "..") and os.sep not in s


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200))
def test_distinct_names_get_distinct_slugs(a, b):
    if a != b:
        assert slug(a) != slug(b)


def test_plain_names_are_kept():
    assert slug("fashion-zoo") == "fashion-zoo"
    assert slug("a b") != "a-b"  # changed, so a digest keeps it apart from the real "a-b"


def test_output_problems_name_each_path(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    probs = output_problems(RunOutputs(tmp_path / "f" / "out", ["json"], junit=tmp_path / "d"))
    assert len(probs) == 2
    assert "is a file, so no folder" in probs[0] and "--junit" in probs[1]


def test_fresh_folder_has_no_problem(tmp_path):
    assert output_problems(RunOutputs(tmp_path / "new" / "deeper", ["json"], junit=tmp_path / "ci" / "j.xml")) == []
    assert not (tmp_path / "new").exists()  # preflight makes nothing
    assert sorted(Path(tmp_path).iterdir()) == []
