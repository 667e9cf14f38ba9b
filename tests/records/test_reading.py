"""The bracket-depth scan that guards the JSON parser, against a recursive count written here."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.records import reading

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{"a', max_size=3), inner, max_size=3),
    max_leaves=30,
)


def depth(v) -> int:
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_scan_counts_nesting_outside_strings(value):
    raw = json.dumps(value).encode()
    assert reading.nesting_depth(raw) == depth(value)
    assert reading.nesting_depth(raw, 1) == min(depth(value), 2)
