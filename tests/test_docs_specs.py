"""Every spec shown anywhere runs: each full spec block in README.md and docs/*.md, and every
spec in specs/, is validated (`make_plan`, the same check as `evalkit validate`) and then run
end to end, in a folder that holds the real files the blocks name (docs/models.md's generator
module, a factory package with a safetensors checkpoint, a classifier module, a folder of
RGB PNGs, an `.npz` of samples).

What is shrunk to keep the suite fast, and nothing else: `n` and `batch_size` (to at most 40 / 20),
a diffusion model's `steps` (to 2) and the slice of a bundled dataset a reference reads.
Everything a block says about models, features, classifiers, requirements and formats is
run as written."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import evalkit
from evalkit import parse_spec
from evalkit.plan import make_plan
from tests.test_readme_walkthrough import CLASSIFIER  # one 4-class quadrant classifier for both

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


SHOWN = [(f"{p.name}-{i}", b) for p in DOCS for i, b in enumerate(_blocks(p.read_text(), "yaml")) if b.startswith("version:")]
SHIPPED = [(f"specs/{p.name}", p.read_text()) for p in sorted((ROOT / "specs").glob("*.yaml"))]

# A factory with a real checkpoint: docs/specs.md's `mypackage.gen:load_generator` + `ckpt/g.safetensors`.
FACTORY = '''\
import torch
from safetensors.torch import load_file
from torch import nn


class Conditional(nn.Module):
    image_shape = (1, 28, 28)
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.net = nn.Sequential(nn.Linear(16, 28 * 28), nn.Sigmoid())

    def sample(self, n, *, labels, generator):
        z = torch.randn(n, 8, generator=generator, device=generator.device)
        return self.net(torch.cat([z, self.embed(labels)], dim=1)).view(n, 1, 28, 28)


def load_generator(*, device, checkpoint=None):
    g = Conditional()
    g.load_state_dict(load_file(checkpoint))
    return g.to(device)
'''



def _readme_generator() -> str:
    """The `class Generator` module of docs/models.md, which the README's `mygen:Generator` names."""
    text = (ROOT / "docs" / "models.md").read_text()
    for block in _blocks(text, "python"):
        if "class Generator" in block:
            return block
    raise AssertionError("docs/models.md shows no `class Generator` module")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The files the shown specs name, made for real."""
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    home = tmp_path_factory.mktemp("docs-world")
    (home / "mygen.py").write_text(_readme_generator())
    (home / "myclf.py").write_text(CLASSIFIER)
    (home / "mypackage").mkdir()
    (home / "mypackage" / "__init__.py").write_text("")
    (home / "mypackage" / "gen.py").write_text(FACTORY)
    (home / "ckpt").mkdir()
    torch.manual_seed(0)
    net = torch.nn.Module()
    net.embed = torch.nn.Embedding(10, 8)
    net.net = torch.nn.Sequential(torch.nn.Linear(16, 28 * 28), torch.nn.Sigmoid())
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(home / "ckpt" / "g.safetensors"))
    rng = np.random.default_rng(0)
    for folder, count in (("real_images", 40), ("more_samples", 20)):
        (home / folder).mkdir()
        for k in range(count):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(home / folder / f"{k:02d}.png")
    np.savez(home / "samples.npz", images=rng.random((20, 3, 32, 32)).astype(np.float32), layout="NCHW")
    return home


def _shrunk(text: str) -> str:
    """The block with only its sizes made small (see the module docstring)."""
    text = re.sub(r"\bn: (\d+)", lambda m: f"n: {min(int(m.group(1)), 40)}", text)
    text = re.sub(r"\bbatch_size: (\d+)", lambda m: f"batch_size: {min(int(m.group(1)), 20)}", text)
    text = re.sub(r"\bsteps: \d+", "steps: 2", text)
    # a bundled dataset's reference or training split: its first 600 images
    return re.sub(r"\{dataset: fashion-mnist, split: (\w+)(, range: \[\d+, \d+\])?\}",
                  r"{dataset: fashion-mnist, split: \1, range: [0, 600]}", text)


def test_the_docs_show_specs():
    assert len(SHOWN) >= 4 and len(SHIPPED) >= 3


@pytest.mark.parametrize("where, block", SHOWN + SHIPPED, ids=[w for w, _ in SHOWN + SHIPPED])
def test_every_shown_spec_validates_and_runs(where, block, world, tmp_path, monkeypatch):
    monkeypatch.chdir(world)
    monkeypatch.syspath_prepend(str(world))
    spec_path = world / (re.sub(r"\W", "_", where) + ".yaml")
    spec_path.write_text(block)
    plan = make_plan(parse_spec(block, str(spec_path)))  # as written: what `evalkit validate` checks
    assert plan.subjects

    spec_path.write_text(_shrunk(block))
    out = tmp_path / "out"
    report = evalkit.run(spec_path, out=out, device="cpu")
    assert report.exit_code in (0, 1), f"{where}: exit {report.exit_code}"
    data = json.loads((out / "report.json").read_text())
    broken = {s["name"]: s.get("error") for s in data["subjects"] if s["status"] != "ok"}
    assert not broken, f"{where}: {broken}"
    names = {r["name"] for s in data["subjects"] for r in s["requirements"]}
    assert len(names) == len(parse_spec(block, where).requirements)
    for fmt, file in {"markdown": "report.md", "junit": "junit.xml", "html": "report.html"}.items():
        if re.search(rf"formats: \[[^]]*\b{fmt}\b", block):
            assert (out / file).stat().st_size > 0, f"{where}: {file} not written"
