"""Every YAML block shown in the README and docs/ parses as a spec, and the "Your own model"
walkthrough of docs/models.md (where the README sends a user with their own model) runs as
written: its generator module and spec, beside a folder of real RGB PNGs and a 4-class
classifier module (the page names it `myclf:classify`)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from evalkit import parse_spec

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), re.S)


SPEC_BLOCKS = [(p.name, i, b) for p in DOCS for i, b in enumerate(_blocks(p, "yaml")) if b.startswith("version:")]


def test_the_docs_show_specs():
    assert len(SPEC_BLOCKS) >= 4


@pytest.mark.parametrize("where, i, block", SPEC_BLOCKS, ids=[f"{w}-{i}" for w, i, _ in SPEC_BLOCKS])
def test_every_spec_block_parses(where, i, block):
    parse_spec(block, where)  # names, arguments and bounds checked against the registries


CLASSIFIER = (
    "import torch\n"
    "from torch import nn\n"
    "class Quadrants(nn.Module):\n"
    "    num_classes = 4\n"
    "    def forward(self, x):\n"
    "        h, w = x.shape[2] // 2, x.shape[3] // 2\n"
    "        q = [x[:, :, :h, :w], x[:, :, :h, w:], x[:, :, h:, :w], x[:, :, h:, w:]]\n"
    "        return torch.stack([4 * t.mean(dim=(1, 2, 3)) for t in q], dim=1)\n"
    "classify = Quadrants()\n"
)


def own_model_section() -> str:
    """docs/models.md's "Your own model" section, up to the next heading of its level."""
    text = (ROOT / "docs" / "models.md").read_text()
    start = text.index("## Your own model")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_readme_sends_its_reader_to_the_walkthrough():
    assert "docs/models.md#your-own-model" in (ROOT / "README.md").read_text()


def test_readme_own_model_walkthrough_runs(tmp_path):
    from PIL import Image

    import evalkit

    section = own_model_section()
    (tmp_path / "mygen.py").write_text(_blocks_in(section, "python")[0])
    (tmp_path / "myclf.py").write_text(CLASSIFIER)
    spec_text = _blocks_in(section, "yaml")[0]
    real = tmp_path / "real_images"
    real.mkdir()
    rng = np.random.default_rng(0)
    for k in range(40):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(real / f"{k:02d}.png")
    spec = tmp_path / "audit.yaml"
    spec.write_text(spec_text.replace("n: 400, batch_size: 100", "n: 40, batch_size: 20"))
    out = tmp_path / "out"
    report = evalkit.run(spec, out=out, device="cpu")
    assert report.exit_code in (0, 1)
    data = json.loads((out / "report.json").read_text())
    (subject,) = data["subjects"]
    assert subject["status"] == "ok", subject.get("error")
    names = [r["name"] for r in subject["requirements"]]
    assert names == ["pixels in range", "right class", "fid"]
    rng_req = subject["requirements"][0]
    assert (rng_req["passed"], rng_req["n"]) == (40, 40)  # a sigmoid's outputs lie in [0, 1]


def _blocks_in(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)
