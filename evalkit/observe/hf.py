"""DINOv2 and CLIP feature spaces from local Hugging Face weights (``features: dinov2`` / ``clip``).

- ``dinov2``: FD-DINOv2 as dgm-eval reports it (Stein et al., 2023): the CLS token of the last
  layer's output after the final layernorm (dgm-eval's ``DINOv2Encoder`` calls the torch.hub
  ViT-L/14, whose ``forward`` returns ``x_norm_clstoken``; here ``Dinov2Model``'s
  ``last_hidden_state[:, 0]``, the same tensor). Width: the config's ``hidden_size``.
- ``clip``: the image embedding CMMD uses (Jayasumana et al., 2024): CLIP's projected image
  embedding (``visual_projection`` of the post-layernorm CLS token), L2-normalised. Width: the
  config's ``projection_dim``.

The weights are a ``save_pretrained`` folder (``feature_weights:`` in the spec), or a model id
found in the local Hugging Face cache; nothing is ever downloaded (``local_files_only=True``)
and only safetensors are read (``use_safetensors=True``: a pickled ``pytorch_model.bin`` could
run code). Every way a folder can be wrong is a :class:`SpecError` naming the file and the fix,
raised when the extractor is built, which ``evalkit validate`` does before anything samples
(``preflight.feature_weights_problems``).

Preprocessing follows the folder's ``preprocessor_config.json`` (else the published
checkpoints' processors), in torch on evalkit's (N, C, H, W) images in [0, 1]: grey replicated
to RGB, rounded to uint8 levels (the processors read 8-bit images), the shortest edge resized
bicubic with antialiasing, a centre crop, and the processor's mean and std. Where dgm-eval
differs: it resizes straight to 224 x 224 without a crop, so on square images FD-DINOv2 values
from the two see the border 12.5 % differently and are not comparable digit for digit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._builtins import IMAGENET_MEAN_STD, OPENAI_CLIP_MEAN_STD
from .._digest import file_sha256
from .._errors import SpecError
from ..contract import Preprocessing
from .features import Extractor, in_fixed_rows

IMAGENET, OPENAI_CLIP = IMAGENET_MEAN_STD, OPENAI_CLIP_MEAN_STD


@dataclass(frozen=True)
class Architecture:
    """What evalkit knows of one feature space: the config types it reads, the model it
    looks for when no folder is named, where else it looks, and its published preprocessing."""

    name: str
    model_types: tuple[str, ...]
    default_id: str
    env: str
    shortest_edge: int | None  # None: the config's image_size
    crop: int | None
    mean_std: tuple[tuple[float, ...], tuple[float, ...]]


ARCHITECTURES = {
    "dinov2": Architecture("dinov2", ("dinov2",), "facebook/dinov2-large", "EVALKIT_DINOV2_WEIGHTS",
                           256, 224, IMAGENET),
    "clip": Architecture("clip", ("clip", "clip_vision_model"), "openai/clip-vit-large-patch14-336",
                         "EVALKIT_CLIP_WEIGHTS", None, None, OPENAI_CLIP),
}

WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def _how_to_get(arch: Architecture) -> str:
    return (f"on a machine with network run `huggingface-cli download {arch.default_id} --local-dir {arch.name}-weights` "
            "and copy that folder here (docs/features.md)")


def _cached_snapshot(model_id: str) -> Path | None:
    """The local Hugging Face cache's snapshot of ``model_id``, never a download."""
    try:
        from huggingface_hub import snapshot_download

        # the cache folder read now, not when huggingface_hub was imported (it fixes its default then)
        cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
        return Path(snapshot_download(model_id, local_files_only=True, cache_dir=cache))
    except Exception:  # noqa: BLE001 - not in the cache (or no hub library): the caller says where it looked
        return None


def locate(name: str, weights: Path | None) -> Path:
    """The folder the ``name`` feature space reads: ``weights`` (a folder, or a model id found in
    the local Hugging Face cache), else ``$EVALKIT_<NAME>_WEIGHTS``, else the cache's copy of
    the published model; a :class:`SpecError` naming each place looked at when none is there."""
    arch = ARCHITECTURES[name]
    if weights is not None:
        if weights.exists():
            return weights
        model_id = _model_id(weights)
        snapshot = _cached_snapshot(model_id) if model_id else None
        if snapshot is not None:
            return snapshot
        raise SpecError(f"features {name!r}: feature_weights {str(weights)!r} not found (no such folder"
                        + (", and no such model in the local Hugging Face cache" if _model_id(weights) else "")
                        + f"); {_how_to_get(arch)}")
    env = os.environ.get(arch.env)
    if env:
        if Path(env).exists():
            return Path(env)
        raise SpecError(f"features {name!r}: ${arch.env} names {env!r}, which does not exist; {_how_to_get(arch)}")
    snapshot = _cached_snapshot(arch.default_id)
    if snapshot is not None:
        return snapshot
    raise SpecError(f"features {name!r} needs local weights: no `feature_weights:` in the spec, no ${arch.env}, and "
                    f"{arch.default_id!r} is not in the local Hugging Face cache; {_how_to_get(arch)}, then set "
                    "`feature_weights: <that folder>`")


def _model_id(weights: Path) -> str | None:
    """``org/name`` when a missing path reads as a Hugging Face model id."""
    parts = weights.parts[-2:]
    return "/".join(parts) if len(weights.parts) >= 2 and len(parts) == 2 and not weights.suffix else None


def read_config(name: str, folder: Path) -> dict[str, Any]:
    """The folder's config.json, checked to be ``name``'s architecture, with safetensors weights."""
    arch = ARCHITECTURES[name]
    if not folder.is_dir():
        raise SpecError(f"features {name!r}: feature_weights {str(folder)!r} is a file; name the folder "
                        "`save_pretrained` wrote (holding config.json and model.safetensors)")
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise SpecError(f"features {name!r}: {cfg_path} not found; feature_weights must be a folder written by "
                        f"`save_pretrained` ({_how_to_get(arch)})")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(f"features {name!r}: {cfg_path} is not readable JSON ({exc})") from None
    found = config.get("model_type") if isinstance(config, dict) else None
    if found not in arch.model_types:
        raise SpecError(f"features {name!r}: {cfg_path} has model_type {found!r}, expected "
                        f"{' or '.join(map(repr, arch.model_types))}; name a {name} checkpoint folder")
    if not any((folder / w).is_file() for w in WEIGHTS):
        pickled = [p for p in PICKLED if (folder / p).is_file()]
        if pickled:
            raise SpecError(f"features {name!r}: {folder / pickled[0]} is a pickle, which evalkit never loads (it "
                            "can run code); convert it once with `Model.from_pretrained(folder)."
                            "save_pretrained(folder, safe_serialization=True)`, which writes model.safetensors")
        raise SpecError(f"features {name!r}: {folder} holds no model.safetensors; {_how_to_get(arch)}")
    return config


# ---- preprocessing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """The processor's steps: shortest edge, crop (H, W), rescale and normalisation."""

    shortest_edge: int | None
    crop: tuple[int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def declared(self, size: tuple[int, int] | None) -> Preprocessing:
        return Preprocessing(size=self.crop or size, resize="bicubic", channels=3, value_range=(0.0, 1.0),
                             quantize=True, normalize=(self.mean, self.std))


def _edge(size: Any) -> int | None:
    if isinstance(size, int):
        return size
    if isinstance(size, dict):
        if "shortest_edge" in size:
            return int(size["shortest_edge"])
        if "height" in size:
            return min(int(size["height"]), int(size["width"] if "width" in size else size["height"]))
    return None


def _crop(crop: Any) -> tuple[int, int] | None:
    if isinstance(crop, int):
        return crop, crop
    if isinstance(crop, dict) and "height" in crop:
        return int(crop["height"]), int(crop["width"] if "width" in crop else crop["height"])
    return None


def recipe(name: str, folder: Path, image_size: int) -> Recipe:
    """The preprocessing of ``folder``'s preprocessor_config.json, else the published processor's
    (dinov2: shortest edge 256, crop 224, ImageNet mean/std; clip: both the config's image_size,
    OpenAI's mean/std). Steps the file switches off (``do_resize``...) are left out."""
    arch = ARCHITECTURES[name]
    edge: int | None = arch.shortest_edge or image_size
    side = arch.crop or image_size
    crop: tuple[int, int] | None = (side, side)
    mean, std = arch.mean_std
    path = folder / "preprocessor_config.json"
    if path.is_file():
        try:
            p = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SpecError(f"features {name!r}: {path} is not readable JSON ({exc})") from None
        edge = (_edge(p.get("size")) or edge) if p.get("do_resize", True) else None
        crop = (_crop(p.get("crop_size")) or crop) if p.get("do_center_crop", True) else None
        if p.get("do_normalize", True):
            mean, std = tuple(p.get("image_mean", mean)), tuple(p.get("image_std", std))
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return Recipe(edge, crop, tuple(map(float, mean)), tuple(map(float, std)))


def _cubic(t: Tensor) -> Tensor:
    """PIL's bicubic filter (Keys, a = -0.5) at offsets ``t``."""
    a, t = -0.5, t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = (((t - 5) * t + 8) * t - 4) * a
    return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


@functools.lru_cache(maxsize=32)
def resample_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_out, n_in) float64 weights of PIL's bicubic resampling along one axis: the filter
    widened by the downscale factor (its antialiasing), taps centred on (i + 0.5) n_in / n_out,
    weights renormalised to sum 1 where the taps leave the image (PIL's ``precompute_coeffs``)."""
    scale = n_in / n_out
    widen = max(scale, 1.0)
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    taps = torch.arange(n_in, dtype=torch.float64)
    lo = (centre - 2 * widen + 0.5).floor().clamp(min=0)  # PIL's xmin = int(centre - support + 0.5)
    hi = (centre + 2 * widen + 0.5).floor().clamp(max=n_in)
    w = _cubic((taps[None, :] - centre[:, None] + 0.5) / widen)
    w = w * ((taps[None, :] >= lo[:, None]) & (taps[None, :] < hi[:, None]))
    return w / w.sum(1, keepdim=True)


def _to_levels(x: Tensor) -> Tensor:
    return x.mul(255.0).round_().clamp_(0.0, 255.0).div_(255.0)


def pil_bicubic(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``x`` (N, C, H, W) on 8-bit levels resized to ``size`` as PIL's ``Image.resize(BICUBIC)``
    does it: the horizontal pass, rounded to 8 bits, then the vertical one, rounded again (PIL
    keeps an 8-bit image between its passes, which clips the first pass's overshoot: a torch
    ``interpolate(antialias=True)`` in one float step differed from PIL by up to 15 levels on noise)."""
    h, w = x.shape[-2:]
    out = x.double()
    if size[1] != w:
        out = _to_levels(out @ resample_matrix(w, size[1]).to(out.device).T)
    if size[0] != h:
        out = _to_levels(resample_matrix(h, size[0]).to(out.device) @ out)
    return out.to(x.dtype)


def preprocess(images: Tensor, r: Recipe) -> Tensor:
    """evalkit images (N, C, H, W) in [0, 1], C = 1 or 3, as the network's pixel values: within
    one 8-bit level of what transformers' PIL processors give for the same 8-bit images."""
    x = images.float().clamp(0.0, 1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = _to_levels(x)  # the 8-bit levels the processors read
    h, w = x.shape[-2:]
    if r.shortest_edge is not None:
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(r.shortest_edge * long / short)  # as transformers' get_resize_output_image_size
        size = (r.shortest_edge, new_long) if h <= w else (new_long, r.shortest_edge)
        x = pil_bicubic(x, size)
    if r.crop is not None:
        ch, cw = r.crop
        h, w = x.shape[-2:]
        if ch > h or cw > w:  # transformers pads with zeros where the crop is larger than the image
            x = F.pad(x, ((max(cw - w, 0) + 1) // 2, max(cw - w, 0) // 2, (max(ch - h, 0) + 1) // 2, max(ch - h, 0) // 2))
            h, w = x.shape[-2:]
        top, left = (h - ch) // 2, (w - cw) // 2
        x = x[..., top:top + ch, left:left + cw]
    mean = torch.tensor(r.mean, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(r.std, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - mean) / std


# ---- the extractors --------------------------------------------------------------------


def folder_digest(folder: Path) -> str:
    """SHA-256 over the folder's config, preprocessing and safetensors files (names and contents)."""
    h = hashlib.sha256()
    files = ["config.json", "preprocessor_config.json", *WEIGHTS]
    files += sorted(p.name for p in folder.glob("*.safetensors") if p.name not in WEIGHTS)
    for f in files:
        if (folder / f).is_file():
            h.update(f"{f}:{file_sha256(folder / f)}\n".encode())
    return h.hexdigest()


class HFFeatures(Extractor):
    """A DINOv2 or CLIP image encoder from a local folder, with the processor's preprocessing."""

    def __init__(self, name: str, folder: Path, device: torch.device):
        config = read_config(name, folder)
        self.name, self.device = name, device
        self.model, self.dim, image_size = _load(name, folder, config, device)
        self.recipe = recipe(name, folder, image_size)
        self.preprocessing = self.recipe.declared((image_size, image_size))
        self.digest = f"hf-{name}-v1:{folder_digest(folder)}"

    def _embed(self, pixels: Tensor) -> Tensor:
        if self.name == "dinov2":
            return self.model(pixel_values=pixels).last_hidden_state[:, 0]
        out = self.model.get_image_features(pixel_values=pixels) if hasattr(self.model, "get_image_features") \
            else self.model(pixel_values=pixels).image_embeds
        emb = out if isinstance(out, Tensor) else out.pooler_output  # transformers 5 returns an output object
        return F.normalize(emb, dim=-1)

    def features(self, images: Tensor) -> Tensor:
        # preprocessed within the fixed-row calls: a batch of 250 RGB images at 336 x 336 is 0.7 GB in float64
        with torch.no_grad():
            return in_fixed_rows(lambda x: self._embed(preprocess(x, self.recipe)), images.to(self.device)).float()


def _load(name: str, folder: Path, config: dict[str, Any], device: torch.device) -> tuple[Any, int, int]:
    """(model in eval mode, feature width, the network's image size) from a checked folder."""
    try:
        import transformers
    except ImportError:
        raise SpecError(f"features {name!r} reads its weights with the `transformers` package, which is not "
                        "installed: pip install 'evalkit[hf]' (or pip install transformers)") from None

    kind = config["model_type"]
    cls: Any = {"dinov2": transformers.Dinov2Model, "clip": transformers.CLIPModel,
           "clip_vision_model": transformers.CLIPVisionModelWithProjection}[kind]
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or mismatched file: the folder's fault, said as such
        raise SpecError(f"features {name!r}: {folder} does not load as {cls.__name__} "
                        f"({type(exc).__name__}: {str(exc)[:300]})") from None
    model = model.to(device).eval()
    cfg = model.config
    if kind == "dinov2":
        return model, int(cfg.hidden_size), int(cfg.image_size)
    vision = cfg.vision_config if kind == "clip" else cfg
    return model, int(cfg.projection_dim), int(vision.image_size)


def dinov2(image_shape: tuple[int, int, int], device: torch.device, weights: Path | None = None) -> HFFeatures:
    """The registered ``dinov2`` extractor (declared in ``evalkit._builtins``)."""
    _check_channels("dinov2", image_shape)
    return HFFeatures("dinov2", locate("dinov2", weights), device)


def clip(image_shape: tuple[int, int, int], device: torch.device, weights: Path | None = None) -> HFFeatures:
    """The registered ``clip`` extractor (declared in ``evalkit._builtins``)."""
    _check_channels("clip", image_shape)
    return HFFeatures("clip", locate("clip", weights), device)


def _check_channels(name: str, image_shape: tuple[int, int, int]) -> None:
    if image_shape[0] not in (1, 3):
        raise SpecError(f"features {name!r} reads grey (1-channel) or RGB (3-channel) images, "
                        f"got {image_shape[0]} channels (shape {tuple(image_shape)})")
