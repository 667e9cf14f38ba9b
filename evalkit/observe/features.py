"""Feature extractors: the embedding behind the distribution metrics.

A registered feature entry is a factory ``f(image_shape, device) -> Extractor``.
A spec may also name ``module:attribute`` (a callable images -> features, or a
factory with the same signature) or a TorchScript file (``*.pt``/``*.ts``), so
Inception, DINOv2 or CLIP features work from local files; nothing is downloaded.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from .. import registry
from .._digest import file_sha256
from .._errors import CheckpointError, SpecError


class Extractor:
    """Maps images (N, C, H, W) in [0, 1] to features (N, dim); may also give class logits."""

    name: str
    dim: int
    digest: str  # identifies weights + code version, for the reference-feature cache
    num_classes: int | None = None

    def features(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.features(images), None


class PixelFeatures(Extractor):
    """Flattened pixels (a baseline embedding; the metric then compares raw images)."""

    def __init__(self, image_shape: tuple[int, int, int]):
        self.name, self.dim = "pixels", int(torch.Size(image_shape).numel())
        self.digest = "pixels-v1"

    def features(self, images: Tensor) -> Tensor:
        return images.reshape(images.shape[0], -1).float()


class ModuleFeatures(Extractor):
    """A torch module or callable returning (N, d) features."""

    def __init__(self, name: str, fn: Callable[[Tensor], Tensor], image_shape, device, digest: str):
        self.name, self.fn, self.digest = name, fn, digest
        with torch.no_grad():
            probe = fn(torch.zeros(2, *image_shape, device=device))
        if not isinstance(probe, Tensor) or probe.ndim != 2 or probe.shape[0] != 2:
            raise SpecError(
                f"features {name!r}: must map images (N, C, H, W) to a (N, d) tensor; "
                f"on (2, {', '.join(map(str, image_shape))}) it returned {getattr(probe, 'shape', type(probe).__name__)}"
            )
        self.dim = int(probe.shape[1])

    def features(self, images: Tensor) -> Tensor:
        return self.fn(images).float()


def make_extractor(name: str, image_shape: tuple[int, int, int], device: torch.device, base_dir: Path | None = None) -> Extractor:
    """Build the extractor a spec names, for images of ``image_shape``."""
    registry.load_plugins()
    if name in registry.features:
        return registry.features.get(name).obj(image_shape, device)
    if registry.is_reference(name):
        obj = registry.resolve_reference(name)
        if inspect.isclass(obj) or (callable(obj) and _takes_shape(obj)):
            built = obj(image_shape, device)
            if isinstance(built, Extractor):
                return built
            obj = built
        if isinstance(obj, nn.Module):
            obj = obj.to(device).eval()
        return ModuleFeatures(name, obj, image_shape, device, digest=f"user:{name}")
    path = Path(name).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.suffix in (".pt", ".ts", ".pth", ".jit", ".pt2") or path.exists():
        if not path.is_file():
            raise SpecError(f"features: model file {str(path)!r} not found")
        import warnings

        try:
            with warnings.catch_warnings():  # TorchScript is deprecated upstream, but it is what users hold
                warnings.simplefilter("ignore", DeprecationWarning)
                if path.suffix == ".pt2":  # torch.export archive
                    module = torch.export.load(str(path)).module().to(device)
                else:
                    module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as exc:
            raise CheckpointError(
                f"{path}: not a TorchScript (.pt) or torch.export (.pt2) file evalkit can load ({type(exc).__name__}: {exc})"
            ) from None
        return ModuleFeatures(name, module, image_shape, device, digest=f"file:{file_sha256(path)}")
    raise SpecError(registry.features.unknown_message(name))


def _takes_shape(fn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[0] in ("image_shape", "shape")


def pixel_extractor(image_shape, device) -> Extractor:
    """The registered ``pixels`` extractor (declared in ``evalkit._builtins``)."""
    return PixelFeatures(image_shape)
