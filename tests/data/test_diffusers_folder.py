"""A diffusers pipeline folder read at validate: facts from its configs, refusals (exit 2) that name
the file and the fix, and no torch imported to do it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.data.diffusers_folder import inspect_subject
from tests.specs import write_spec_file
from tests.tiny_pipelines import ddim_pipeline, ddpm_pipeline, dit_pipeline

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipes")
    ddpm_pipeline(d / "ddpm")
    ddim_pipeline(d / "ddim")
    dit_pipeline(d / "dit")
    dit_pipeline(d / "dit10", classes=10)
    ddpm_pipeline(d / "pickled", safe=False)
    return d


def _validate(folder: Path, capsys, params: dict, **parts) -> tuple[int, str]:
    spec = write_spec_file(folder, "spec.yaml", reference=parts.pop("reference", None),
                           subjects=[{"model": "diffusers", "params": params}], sampling={"n": 8, "batch_size": 4}, **parts)
    rc = main(["validate", str(spec)])
    return rc, capsys.readouterr().err


def test_facts_come_from_the_configs(folders):
    ddpm = inspect_subject({"path": "ddpm"}, folders)
    assert not ddpm.problems and (ddpm.num_classes, ddpm.image_shape) == (None, (1, 8, 8))
    assert ddpm.params["path"] == str(folders / "ddpm")  # resolved against the spec's folder
    dit = inspect_subject({"path": str(folders / "dit"), "guidance_scale": 1.5}, Path("/nonexistent"))
    # 4x4 latents, a VAE with two levels (one 2x upsampling), 3 output channels; num_embeds_ada_norm classes
    assert not dit.problems and (dit.num_classes, dit.image_shape) == (1000, (3, 8, 8))
    assert inspect_subject({"path": "dit10", "guidance_scale": 1.0}, folders).num_classes == 10


def test_a_good_folder_validates_without_importing_torch(folders):
    spec = write_spec_file(folders, "ok.yaml", reference=None, sampling={"n": 8, "batch_size": 4},
                           subjects=[{"model": "diffusers", "params": {"path": "ddpm", "scheduler": "ddim"}},
                                     {"model": "diffusers", "params": {"path": "dit", "num_inference_steps": 2}}])
    code = (f"import sys; from evalkit.cli import main; rc = main(['validate', {str(spec)!r}]); "
            "print(rc, 'torch' in sys.modules, 'diffusers' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.stdout.split()[-3:] == ["0", "False", "False"], p.stdout + p.stderr[-2000:]


def test_a_pickled_pipeline_is_refused_naming_the_file_and_the_fix(folders, capsys):
    assert (folders / "pickled" / "unet" / "diffusion_pytorch_model.bin").is_file()
    rc, err = _validate(folders, capsys, {"path": "pickled"})
    assert rc == 2
    assert "diffusion_pytorch_model.bin" in err and "safe_serialization=True" in err and "spec.yaml:" in err


def test_a_folder_that_is_not_a_pipeline_is_refused(folders, capsys):
    rc, err = _validate(folders, capsys, {"path": "ddpm/unet"})
    assert rc == 2 and "no model_index.json" in err and "ddpm/unet" in err
    rc, err = _validate(folders, capsys, {"path": "nowhere"})
    assert rc == 2 and "nowhere" in err and "is not a folder" in err


def test_an_unsupported_pipeline_class_is_refused_naming_it_and_the_supported(folders, capsys, tmp_path):
    other = tmp_path / "sd"
    shutil.copytree(folders / "ddpm", other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableDiffusionPipeline"}))
    rc, err = _validate(tmp_path, capsys, {"path": "sd"})
    assert rc == 2 and "StableDiffusionPipeline" in err
    assert all(name in err for name in ("DDPMPipeline", "DDIMPipeline", "DiTPipeline"))
    # a component naming code outside diffusers is never imported
    (other / "model_index.json").write_text(json.dumps({**index, "unet": ["my_module", "MyUNet"]}))
    rc, err = _validate(tmp_path, capsys, {"path": "sd"})
    assert rc == 2 and "my_module.MyUNet" in err and "model_index.json" in err
    # nor is a component the pipeline class does not have (from_pretrained would load it unchecked)
    (other / "model_index.json").write_text(json.dumps({**index, "safety_checker": ["diffusers", "UNet2DModel"]}))
    rc, err = _validate(tmp_path, capsys, {"path": "sd"})
    assert rc == 2 and "'safety_checker' is not one of DDPMPipeline's (unet, scheduler)" in err


def test_weights_under_another_name_are_refused_naming_what_is_there(folders, capsys, tmp_path):
    shutil.copytree(folders / "ddpm", tmp_path / "fp16")
    unet = tmp_path / "fp16" / "unet"
    (unet / "diffusion_pytorch_model.safetensors").rename(unet / "diffusion_pytorch_model.fp16.safetensors")
    rc, err = _validate(tmp_path, capsys, {"path": "fp16"})
    assert rc == 2 and "has no diffusion_pytorch_model.safetensors" in err
    assert "diffusion_pytorch_model.fp16.safetensors" in err and "safe_serialization=True" in err


@pytest.mark.parametrize("path, params, words", [
    ("dit", {"scheduler": "ddpm"}, "outside evalkit's seeds"),  # DiT's step gets no generator
    ("dit10", {}, "set `guidance_scale: 1`"),  # default guidance 4 asks class 1000 of a 10-class DiT
    ("ddpm", {"guidance_scale": 2.0}, "unconditional and takes no guidance_scale"),
    ("ddim", {"scheduler": "ddpm"}, "DDIMPipeline always samples with DDIM"),
    ("ddpm", {"num_inference_steps": 101}, "exceeds the scheduler's 100 training timesteps"),
    ("ddpm", {"scheduler": "euler"}, "scheduler 'euler' is not one of ddpm, ddim, dpm"),
])
def test_params_that_do_not_fit_the_pipeline_are_refused(folders, capsys, path, params, words):
    rc, err = _validate(folders, capsys, {"path": path, **params})
    assert rc == 2 and words in err, err


def test_the_image_shape_must_agree_with_the_reference(folders, capsys):
    rc, err = _validate(folders, capsys, {"path": "ddpm"}, reference={"dataset": "fashion-mnist", "range": [0, 20]},
                        requirements=[{"metric": "fid", "at_most": 100}])
    assert rc == 2 and "1x8x8" in err and "1x28x28" in err
