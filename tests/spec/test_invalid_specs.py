"""Invalid specs, one field broken at a time: exit 2 at `evalkit validate`, the field's file:line:col, no traceback, nothing written.

Each case breaks one field of a valid spec on a line of its own, so the line and
column the message must name are known from the text (1-based: at the broken value;
for an unknown name, at the entry; for a missing field, at the mapping that lacks it).
"""

import contextlib
import io

import pytest

from evalkit.cli import main

BASE = """\
version: 1
name: broken
features: pixels
classifier: null
subjects:
  - model: fashion-vae
    params:
      temperature: 1.0
sampling:
  n: 20
  batch_size: 10
requirements:
  - check: in_range
    args:
      low: 0.0
    at_least: 0.5
  - metric: fid
    at_most: 100
reference: {dataset: fashion-mnist, split: test, range: [0, 100]}
"""

CASES = {  # what to replace -> (with what, line, column of the reported field)
    "unknown check": ("  - check: in_range", "  - check: in_rang", 13, 5),
    "unknown metric": ("  - metric: fid", "  - metric: fidd", 17, 5),
    "unknown model": ("  - model: fashion-vae", "  - model: fashion-vea", 6, 5),
    "bad argument value": ("      low: 0.0", "      low: lots", 15, 12),
    "out-of-range param": ("      temperature: 1.0", "      temperature: -3.0", 8, 20),
    "out-of-range number": ("  n: 20", "  n: 0", 10, 6),
    "wrong type": ("  batch_size: 10", "  batch_size: [10]", 11, 15),
    "missing required field": ("name: broken\n", "", 1, 1),
}


def _validate(path):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["validate", str(path)])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_broken_field_is_exit_2_with_its_place(tmp_path, case):
    old, new, line, col = CASES[case]
    assert old in BASE
    spec = tmp_path / "s.yaml"
    spec.write_text(BASE.replace(old, new, 1))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, text = _validate(spec)
    assert code == 2, (code, text)
    assert "Traceback" not in text, text
    assert f"s.yaml:{line}:{col}" in text, text
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_the_unbroken_spec_validates(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(BASE)
    code, text = _validate(spec)
    assert code == 0, text
