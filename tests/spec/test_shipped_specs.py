"""Every spec shipped in specs/ and the full example of docs/specs.md are valid."""

import re
from pathlib import Path

import pytest

from evalkit import parse_spec
from evalkit.plan import make_plan
from evalkit.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_spec_validates_and_plans(path):
    make_plan(load_spec(path))


def test_full_spec_example_parses():
    text = (ROOT / "docs" / "specs.md").read_text()
    block = re.search(r"## A full spec\n\n```yaml\n(.*?)```", text, re.S).group(1)
    spec = parse_spec(block, "docs/specs.md")
    assert spec.subjects[1].model == "mypackage.gen:load_generator"


def test_user_module_beside_the_spec_is_importable(tmp_path):
    (tmp_path / "mygen_beside.py").write_text(
        "import torch\n"
        "class G:\n"
        "    image_shape = (1, 4, 4)\n"
        "    num_classes = None\n"
        "    def sample(self, n, *, labels, generator):\n"
        "        return torch.rand(n, 1, 4, 4, generator=generator)\n"
    )
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: b\nfeatures: pixels\nclassifier: null\nsubjects: [{model: 'mygen_beside:G', params: {x: 1}}]\n"
                    "requirements: [{check: finite, at_least: 0.5}]\n")
    from evalkit import SpecError

    with pytest.raises(SpecError, match="unknown parameter 'x'"):
        make_plan(load_spec(spec))
