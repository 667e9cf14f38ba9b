"""DINOv2 and CLIP features (``observe.hf``) from tiny random models saved in the test: evalkit's
features against direct ``transformers`` calls, its preprocessing against ``AutoImageProcessor``,
the folders it refuses, and whole runs through the CLI."""

import json

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from evalkit._errors import SpecError
from evalkit.cli import main
from evalkit.observe import hf
from evalkit.protocols import FeatureExtractor
from evalkit.records.reading import read_report

from tests.specs import write_spec_file

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
CPU = torch.device("cpu")


def _tiny_dinov2(folder, edge=32, crop=32):
    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8)
    transformers.Dinov2Model(cfg).eval().save_pretrained(folder)
    transformers.BitImageProcessor(size={"shortest_edge": edge}, crop_size={"height": crop, "width": crop},
                                   do_center_crop=True, resample=3, image_mean=IMAGENET_MEAN,
                                   image_std=IMAGENET_STD).save_pretrained(folder)
    return folder


def _clip_vision(**kw):
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                patch_size=8, **kw)


def _tiny_clip(folder, full=True, edge=32):
    torch.manual_seed(1)
    if full:
        cfg = transformers.CLIPConfig(text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                       num_attention_heads=2, vocab_size=64),
                                      vision_config=_clip_vision(), projection_dim=16)
        transformers.CLIPModel(cfg).eval().save_pretrained(folder)
    else:
        cfg = transformers.CLIPVisionConfig(**_clip_vision(projection_dim=16))
        transformers.CLIPVisionModelWithProjection(cfg).eval().save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": edge}, crop_size={"height": 32, "width": 32},
                                    image_mean=CLIP_MEAN, image_std=CLIP_STD).save_pretrained(folder)
    return folder


def _images(n, c, h, w, seed=0):
    """Images on 8-bit levels (what a PNG holds), so evalkit's rounding to uint8 changes nothing."""
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed)).float() / 255


def _by_hand(images, mean, std):
    """The pixel values of images already at the network's 32 x 32: grey to RGB, (x - mean) / std."""
    x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


# ---- features against transformers --------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_dinov2_is_the_cls_token_after_the_final_layernorm(tmp_path, channels):
    folder = _tiny_dinov2(tmp_path / "dino")
    images = _images(5, channels, 32, 32)
    ext = hf.dinov2((channels, 32, 32), CPU, weights=folder)
    model = transformers.Dinov2Model.from_pretrained(folder).eval()
    with torch.no_grad():
        out = model(pixel_values=_by_hand(images, IMAGENET_MEAN, IMAGENET_STD), output_hidden_states=True)
        # the last layer's output, through the final layernorm, CLS row: built from the parts
        want = model.layernorm(out.hidden_states[-1])[:, 0]
    got = ext.features(images)
    assert isinstance(ext, FeatureExtractor) and ext.dim == 32 and got.shape == (5, 32)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert ext.preprocessing.size == (32, 32) and ext.preprocessing.normalize == (tuple(IMAGENET_MEAN), tuple(IMAGENET_STD))


@pytest.mark.parametrize("full", [True, False], ids=["CLIPModel", "CLIPVisionModelWithProjection"])
def test_clip_is_the_normalised_projected_image_embedding(tmp_path, full):
    folder = _tiny_clip(tmp_path / "clip", full=full)
    images = _images(4, 3, 32, 32, seed=1)
    ext = hf.clip((3, 32, 32), CPU, weights=folder)
    pixels = _by_hand(images, CLIP_MEAN, CLIP_STD)
    with torch.no_grad():
        if full:
            model = transformers.CLIPModel.from_pretrained(folder).eval()
            vision = model.vision_model(pixel_values=pixels)
            emb = model.visual_projection(vision.pooler_output)
        else:
            emb = transformers.CLIPVisionModelWithProjection.from_pretrained(folder).eval()(pixel_values=pixels).image_embeds
    want = emb / emb.norm(dim=1, keepdim=True)
    got = ext.features(images)
    assert ext.dim == 16
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(4))


def test_digest_follows_the_weights(tmp_path):
    a = hf.dinov2((1, 32, 32), CPU, weights=_tiny_dinov2(tmp_path / "a"))
    b = hf.dinov2((1, 32, 32), CPU, weights=_tiny_dinov2(tmp_path / "b"))
    assert a.digest == b.digest  # same seed, same bytes
    model = transformers.Dinov2Model.from_pretrained(tmp_path / "b")
    with torch.no_grad():
        model.layernorm.bias.add_(0.1)
    model.save_pretrained(tmp_path / "b")
    assert hf.dinov2((1, 32, 32), CPU, weights=tmp_path / "b").digest != a.digest


# ---- preprocessing against AutoImageProcessor --------------------------------------------
#
# Tolerance: transformers resizes an 8-bit PIL image with PIL's bicubic filter in two passes, each
# rounded to 8 bits, in fixed point; evalkit does the same passes in float64 and rounds as PIL
# does, so the two differ by PIL's fixed-point rounding: at most 1 level of 255 on a few pixels.
# (One float bicubic step, torch's interpolate(antialias=True), was up to 15 levels off on noise.)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 40, 48), (3, 64, 64)], ids=["grey-up", "rgb-wide", "rgb-down"])
def test_preprocessing_matches_the_image_processor(tmp_path, shape):
    folder = _tiny_dinov2(tmp_path / "dino", edge=40, crop=32)
    images = _images(3, *shape, seed=2)
    r = hf.recipe("dinov2", folder, 32)
    got = hf.preprocess(images, r)
    proc = transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)
    pil = [Image.fromarray((img.permute(1, 2, 0).squeeze(-1).numpy() * 255).round().astype(np.uint8)).convert("RGB")
           for img in images]
    want = torch.from_numpy(np.asarray(proc(pil, return_tensors="np")["pixel_values"]))
    assert got.shape == want.shape == (3, 3, 32, 32)
    levels = (got - want).abs() * torch.tensor(IMAGENET_STD)[:, None, None] * 255
    assert float(levels.max()) <= 1.0 + 1e-3 and float(levels.mean()) <= 0.01


def test_recipe_defaults_without_a_preprocessor_config(tmp_path):
    folder = _tiny_dinov2(tmp_path / "dino")
    (folder / "preprocessor_config.json").unlink()
    r = hf.recipe("dinov2", folder, 32)
    assert (r.shortest_edge, r.crop, r.mean) == (256, (224, 224), tuple(IMAGENET_MEAN))
    clip_folder = _tiny_clip(tmp_path / "clip")
    (clip_folder / "preprocessor_config.json").unlink()
    r = hf.recipe("clip", clip_folder, 32)
    assert (r.shortest_edge, r.crop, r.std) == (32, (32, 32), tuple(CLIP_STD))


# ---- refused folders ------------------------------------------------------------------


def test_a_pickle_only_folder_is_refused_naming_the_file_and_the_fix(tmp_path):
    folder = _tiny_dinov2(tmp_path / "dino")
    state = transformers.Dinov2Model.from_pretrained(folder).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(SpecError, match=r"pytorch_model\.bin is a pickle.*safe_serialization=True"):
        hf.dinov2((1, 32, 32), CPU, weights=folder)


def test_another_architecture_is_refused_naming_both_model_types(tmp_path):
    folder = _tiny_clip(tmp_path / "clip")
    with pytest.raises(SpecError, match=r"config\.json has model_type 'clip', expected 'dinov2'"):
        hf.dinov2((3, 32, 32), CPU, weights=folder)
    folder = _tiny_dinov2(tmp_path / "dino")
    with pytest.raises(SpecError, match=r"model_type 'dinov2', expected 'clip' or 'clip_vision_model'"):
        hf.clip((3, 32, 32), CPU, weights=folder)


def test_a_missing_folder_and_no_weights_are_refused_saying_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("EVALKIT_DINOV2_WEIGHTS", raising=False)
    with pytest.raises(SpecError, match=r"not found.*huggingface-cli download facebook/dinov2-large"):
        hf.dinov2((1, 32, 32), CPU, weights=tmp_path / "nowhere")
    with pytest.raises(SpecError, match=r"no `feature_weights:`.*EVALKIT_DINOV2_WEIGHTS.*not in the local Hugging Face"):
        hf.dinov2((1, 32, 32), CPU)
    monkeypatch.setenv("EVALKIT_DINOV2_WEIGHTS", str(_tiny_dinov2(tmp_path / "dino")))
    assert hf.dinov2((1, 32, 32), CPU).dim == 32  # the environment variable is the fallback
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpecError, match="is a file"):
        hf.dinov2((1, 32, 32), CPU, weights=tmp_path / "file")


def test_a_model_id_is_read_from_the_local_cache_only(tmp_path, monkeypatch):
    """A snapshot laid out as the hub cache stores it is found by its id, offline."""
    cache = tmp_path / "hub"
    snap = cache / "models--org--tiny-dino" / "snapshots" / ("0" * 40)
    _tiny_dinov2(snap)
    (cache / "models--org--tiny-dino" / "refs").mkdir()
    (cache / "models--org--tiny-dino" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pathlib import Path

    assert hf.locate("dinov2", Path("org/tiny-dino")) == snap


# ---- whole runs through the CLI -------------------------------------------------------


def _run(spec, out, capsys):
    code = main(["run", str(spec), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


REQS = [{"metric": "cmmd", "at_most": 1e9}, {"metric": "fid", "at_most": 1e9}]


@pytest.mark.parametrize("space", ["dinov2", "clip"])
def test_a_grey_run_with_cmmd_and_fid(tmp_path, capsys, space):
    folder = (_tiny_dinov2 if space == "dinov2" else _tiny_clip)(tmp_path / space)
    spec = write_spec_file(tmp_path, features=space, feature_weights=str(folder.name),
                           sampling={"n": 40, "batch_size": 20, "seed": 1}, requirements=REQS)
    code, err = _run(spec, tmp_path / "o", capsys)
    assert code == 0, err
    sub = read_report(tmp_path / "o").subjects[0]
    cmmd, fid = sub.requirements
    # fid's upper bound may be withdrawn on 40 samples of 16-d features (its tail guard): not this test's subject
    assert cmmd.verdict == "PASS" and fid.verdict in ("PASS", "INCONCLUSIVE") and fid.value >= 0
    space_record = json.loads((tmp_path / "o" / "report.json").read_text())["reference"]["feature_space"]
    assert space_record["name"] == space and space_record["dim"] == (32 if space == "dinov2" else 16)
    assert space_record["digest"] == f"hf-{space}-v1:{hf.folder_digest(folder)}"
    assert space_record["preprocessing"]["size"] == [32, 32] and space_record["preprocessing"]["quantize"] == "uint8"


def test_an_rgb_run_with_cmmd_and_fid(tmp_path, capsys):
    from tests.plugins.usergen import Blobs

    g = torch.Generator().manual_seed(7)
    real = Blobs(size=24).sample(60, labels=None, generator=g)
    np.savez(tmp_path / "real.npz", images=(real.numpy() * 255).round().astype(np.uint8), layout="NCHW")
    _tiny_dinov2(tmp_path / "dino")
    spec = write_spec_file(tmp_path, features="dinov2", feature_weights="dino", reference={"path": "real.npz"},
                           subjects=[{"model": "usergen:make_blobs", "params": {"size": 24}}],
                           sampling={"n": 40, "batch_size": 20, "seed": 1}, requirements=REQS)
    code, err = _run(spec, tmp_path / "o", capsys)
    assert code == 0, err
    sub = read_report(tmp_path / "o").subjects[0]
    assert sub.image_shape == [3, 24, 24] and sub.requirements[0].verdict == "PASS"


@pytest.mark.parametrize("break_it,expected", [
    ("missing", "not found"),
    ("pickle", "pytorch_model.bin is a pickle"),
    ("other", "model_type 'clip', expected 'dinov2'"),
])
def test_validate_refuses_a_bad_folder_with_exit_2(tmp_path, capsys, break_it, expected):
    folder = tmp_path / "dino"
    if break_it == "pickle":
        _tiny_dinov2(folder)
        state = transformers.Dinov2Model.from_pretrained(folder).state_dict()
        (folder / "model.safetensors").unlink()
        torch.save(state, folder / "pytorch_model.bin")
    elif break_it == "other":
        _tiny_clip(folder)
    spec = write_spec_file(tmp_path, features="dinov2", feature_weights="dino", requirements=REQS)
    code = main(["validate", str(spec)])
    out = capsys.readouterr()
    assert code == 2
    assert expected in out.out + out.err and "Traceback" not in out.err
