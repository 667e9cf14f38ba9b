"""A diffusers pipeline folder as a subject: its samples against a direct pipeline call made here,
the report at two batch sizes and after a kill and resume, `evalkit reproduce`, the weights identity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")

from evalkit.cli import main  # noqa: E402
from evalkit.plan import make_plan  # noqa: E402
from evalkit.reproduce import reproduce  # noqa: E402
from evalkit.runner.build import build_source  # noqa: E402
from evalkit.runner.context import RunContext  # noqa: E402
from evalkit.runner.references import References  # noqa: E402
from evalkit.sample.diffusers import DiffusersGenerator  # noqa: E402
from evalkit.sample.sources import block_seed  # noqa: E402
from evalkit.spec.load import load_spec  # noqa: E402
from tests.runner.test_resume import comparable, evalkit  # noqa: E402
from tests.specs import write_spec_file  # noqa: E402
from tests.tiny_pipelines import STEPS, ddim_pipeline, ddpm_pipeline, dit_pipeline  # noqa: E402

SEED, BLOCK, N = 5, 4, 12
LABELS = [3, 999, 0, 41, 7]  # asked in turn: known here without evalkit's label stream


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipes")
    return d, {"ddpm": ddpm_pipeline(d / "ddpm"), "ddim": ddim_pipeline(d / "ddim"), "dit": dit_pipeline(d / "dit")}


def _spec(folder: Path, filename: str, params: dict, *, batch_size: int = BLOCK, labels=None) -> Path:
    sampling = {"n": N, "batch_size": batch_size, "block_size": BLOCK, "seed": SEED}
    if labels is not None:
        sampling["labels"] = labels
    return write_spec_file(folder, filename, reference=None, sampling=sampling,
                           subjects=[{"model": "diffusers", "params": {"num_inference_steps": STEPS, **params}}],
                           requirements=[{"name": "in range", "check": "in_range", "at_least": 0.5},
                                         {"name": "bright", "where": "mean > 0.5", "at_least": 0.1},
                                         {"metric": "vendi", "at_least": 1.0}])


def _direct(pipe, seed: int, n: int, labels: list[int] | None, **call) -> torch.Tensor:
    """Block b drawn by the pipeline itself: evalkit's block seed, one seed per sample drawn from it,
    one generator per sample."""
    out = []
    for b in range(-(-n // BLOCK)):
        k = min(BLOCK, n - b * BLOCK)
        g = torch.Generator().manual_seed(block_seed(seed, b))
        gens = [torch.Generator().manual_seed(int(s)) for s in torch.randint(0, 2**63 - 1, (k,), generator=g)]
        if labels is None:
            out.append(pipe(batch_size=k, generator=gens, output_type="pt", **call).images)
        else:
            asked = [labels[i % len(labels)] for i in range(b * BLOCK, b * BLOCK + k)]
            out.append(pipe(class_labels=asked, generator=gens, output_type="pt", **call).images)
    return torch.cat(out)


def _sampled(spec: Path) -> torch.Tensor:
    """The subject's samples through the run's own code (plan, build_source, batches)."""
    plan = make_plan(load_spec(spec))
    dev = torch.device("cpu")
    source, _ = build_source(RunContext(plan, dev, References(plan.spec, dev)), plan.subjects[0])
    return torch.cat([b.images for b in source.batches(plan.spec.sampling.batch_size)])


@pytest.mark.parametrize("case", ["ddpm", "ddpm+ddim", "ddpm+dpm", "ddim", "dit", "dit-unguided"])
def test_samples_equal_a_direct_pipeline_call(pipes, case):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    d, built = pipes
    name, _, swap = case.partition("+")
    kind = name.split("-")[0]
    pipe, params, call = built[kind], {"path": kind}, {"num_inference_steps": STEPS}
    if swap:
        params["scheduler"] = swap
        cls = {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}[swap]
        # as a user swaps it: on the loaded pipeline (an in-memory config's `_use_default_values` would
        # make from_config take DPM's own timestep spacing, not the saved one)
        pipe = type(pipe).from_pretrained(d / kind)
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
    if case == "dit-unguided":
        params["guidance_scale"] = call["guidance_scale"] = 1.0
    labels = LABELS if kind == "dit" else None
    got = _sampled(_spec(d, f"{case}.yaml", params, labels=labels))
    want = _direct(pipe, SEED, N, labels, **call)
    assert got.shape == (N, *((3, 8, 8) if kind == "dit" else (1, 8, 8))) and got.dtype == torch.float32
    assert torch.equal(got, want)
    assert 0.0 <= float(got.min()) and float(got.max()) <= 1.0 and float(got.std()) > 0.01
    # a sample's noise is its own: drawn alone (a batch of one), it is the same image up to the numerics
    g = torch.Generator().manual_seed(block_seed(SEED, 1))
    third = int(torch.randint(0, 2**63 - 1, (BLOCK,), generator=g)[2])
    one = {"class_labels": [LABELS[(BLOCK + 2) % len(LABELS)]]} if labels else {"batch_size": 1}
    alone = pipe(generator=[torch.Generator().manual_seed(third)], output_type="pt", **one, **call).images[0]
    assert torch.allclose(got[BLOCK + 2], alone, atol=1e-5)


def test_the_generator_object_refuses_what_validation_refuses(pipes, tmp_path):
    from evalkit._errors import SpecError

    d, _ = pipes
    with pytest.raises(SpecError, match="no model_index.json"):
        DiffusersGenerator(d / "ddpm" / "unet")
    with pytest.raises(SpecError, match="DDIMPipeline always samples with DDIM"):
        DiffusersGenerator(d / "ddim", scheduler="dpm")


def _files_identity(folder: Path) -> str:
    names = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
             "scheduler/scheduler_config.json"]
    lines = sorted("weights " + hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names)
    return hashlib.sha256(("evalkit-weights-v1\n" + "\n".join(lines)).encode()).hexdigest()


def _report(out: Path) -> dict:
    r = comparable(out)
    for k in ("spec", "spec_sha256", "spec_path"):  # the batch size is in the spec; nothing else may differ
        r.pop(k, None)
    return r


def test_the_cli_run_at_two_batch_sizes_identity_and_reproduce(pipes, tmp_path):
    d, built = pipes
    small = _spec(d, "b4.yaml", {"path": "ddpm"}, batch_size=BLOCK)
    big = _spec(d, "b12.yaml", {"path": "ddpm"}, batch_size=N)
    assert main(["run", str(small), "--out", str(tmp_path / "b4"), "--quiet"]) == 0
    assert main(["run", str(big), "--out", str(tmp_path / "b12"), "--quiet"]) == 0
    whole = _report(tmp_path / "b4")
    assert whole == _report(tmp_path / "b12")
    sub = json.loads((tmp_path / "b4" / "report.json").read_text())["subjects"][0]
    assert sub["requirements"][0]["verdict"] == "PASS" and sub["n"] == N
    assert sub["weights_sha256"] == _files_identity(d / "ddpm")
    # `evalkit reproduce` of sample 6 gives the direct call's image (quantized as the PNG holds it)
    paths = reproduce(tmp_path / "b4", sub["name"], [6], out=tmp_path / "png", spec=small)
    want = _direct(built["ddpm"], SEED, N, None, num_inference_steps=STEPS)[6, 0]
    assert np.array_equal(np.asarray(Image.open(paths[0])), (want * 255).round().byte().numpy())


@pytest.mark.slow  # two `python -m evalkit` processes, each importing torch and diffusers
def test_a_killed_run_resumes_to_the_same_report(pipes, tmp_path):
    d, _ = pipes
    spec = _spec(d, "resume.yaml", {"path": "dit", "guidance_scale": 1.5}, labels=LABELS)
    # both runs in a child at one thread: a transformer's float rounding depends on the thread count (this
    # tiny DiT's images differ in the last bits between 1 and 2 threads), the zoo's conv nets' do not
    assert evalkit("run", spec, "--out", tmp_path / "whole", "--quiet").returncode in (0, 1)
    killed = tmp_path / "killed"  # between observing a batch and journaling it
    assert evalkit("run", spec, "--out", killed, "--quiet", kill="mid-batch:2").returncode == -9
    assert not (killed / "report.json").exists()
    evalkit("run", spec, "--resume", killed, "--quiet")
    assert _report(killed) == _report(tmp_path / "whole")
