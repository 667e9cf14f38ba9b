"""class_balance said PASS for a non-significant test; a spec naming it now gets the replacement."""

import pytest

from evalkit._errors import SpecError
from evalkit.plan import make_plan
from evalkit.spec.load import load_spec


def test_a_spec_naming_class_balance_is_refused_with_the_replacement(write_spec):
    spec = load_spec(write_spec("""\
    version: 1
    name: cb
    features: pixels
    subjects:
      - model: dataset
    sampling: {n: 100, batch_size: 50}
    requirements:
      - {metric: class_balance, at_least: 0.05}
    """))
    with pytest.raises(SpecError) as err:
        make_plan(spec)
    text = str(err.value) + " ".join(getattr(err.value, "problems", None) or [])
    assert "requirements[0].metric" in text or "requirements.0.metric" in text
    assert "class_tv, at_most" in text
