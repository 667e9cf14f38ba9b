"""Feature extractors: the embedding behind the distribution metrics.

A registered feature entry is a factory ``f(image_shape, device) -> Extractor``.
A spec may also name ``module:attribute`` (a callable images -> features, or a
factory with the same signature) or a TorchScript file (``*.pt``/``*.ts``), so
Inception, DINOv2 or CLIP features work from local files; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from .. import registry
from .._digest import file_sha256
from .._errors import CheckpointError, DataError, EvalkitError, SpecError


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
        probe = self._probe(name, fn, image_shape, device, 3)
        probe = self._probe(name, fn, image_shape, device, 2)  # two sizes: a fixed-batch export fails here, not mid-run
        if not isinstance(probe, Tensor) or probe.ndim != 2 or probe.shape[0] != 2:
            raise SpecError(
                f"features {name!r}: must map images (N, C, H, W) to a (N, d) tensor; "
                f"on (2, {', '.join(map(str, image_shape))}) it returned {getattr(probe, 'shape', type(probe).__name__)}"
            )
        if probe.shape[1] == 0:
            raise DataError(f"features {name!r}: returns 0-dimensional features (shape {tuple(probe.shape)}); every "
                            "distribution metric would compare empty vectors (FID 0), so it is refused")
        self.dim = int(probe.shape[1])

    @staticmethod
    def _probe(name: str, fn, image_shape, device, rows: int):
        try:
            with torch.no_grad():
                return fn(torch.zeros(rows, *image_shape, device=device))
        except EvalkitError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"features {name!r}: fails on a batch of {rows} images of shape {tuple(image_shape)} "
                f"({type(exc).__name__}: {str(exc)[:300]}); it must take any batch size (export with a dynamic batch dimension)"
            ) from None

    def features(self, images: Tensor) -> Tensor:
        return self.fn(images).float()


def source_digest(obj) -> str:
    """SHA-256 over the source file of the module defining ``obj`` and the weights it declares.

    A user extractor is keyed by what it computes, not by its name: editing its code
    or its weights changes the digest, so cached reference features are rebuilt.
    Weights are declared as ``weights_file`` / ``weights_files`` on the object.
    """
    h = hashlib.sha256()
    module = inspect.getmodule(obj)
    src = getattr(module, "__file__", None) if module is not None else None
    h.update(f"module:{getattr(module, '__name__', '?')}\n".encode())
    if src and Path(src).is_file():
        h.update(file_sha256(Path(src)).encode())
    for w in declared_weights(obj):
        h.update(f"\nweights:{w}:".encode())
        h.update(file_sha256(w).encode() if w.is_file() else b"missing")
    return h.hexdigest()


def declared_weights(obj) -> list[Path]:
    files = getattr(obj, "weights_files", None) or ()
    one = getattr(obj, "weights_file", None)
    if isinstance(files, (str, Path)):
        files = [files]
    return [Path(f) for f in [*files, *([one] if one else [])] if isinstance(f, (str, Path))]


def make_extractor(name: str, image_shape: tuple[int, int, int], device: torch.device, base_dir: Path | None = None) -> Extractor:
    """Build the extractor a spec names, for images of ``image_shape``."""
    registry.load_plugins()
    if name in registry.features:
        factory = registry.features.get(name).obj
        return _checked(name, factory(image_shape, device), factory)
    if registry.is_reference(name):
        obj = registry.resolve_reference(name)
        if inspect.isclass(obj) or (callable(obj) and _takes_shape(obj)):
            built = obj(image_shape, device)
            if isinstance(built, Extractor):
                return _checked(name, built, obj)
            obj = built
        digest = f"user:{name}:{source_digest(obj)}"
        if isinstance(obj, nn.Module):
            obj = obj.to(device).eval()
        return ModuleFeatures(name, obj, image_shape, device, digest=digest)
    path = Path(name).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.suffix in (".pt", ".ts", ".pth", ".jit", ".pt2") or path.exists():
        if not path.is_file():
            raise SpecError(f"features: model file {str(path)!r} not found")
        return ModuleFeatures(name, _load_graph_file(path, device), image_shape, device, digest=f"file:{file_sha256(path)}")
    raise SpecError(registry.features.unknown_message(name))


def _checked(name: str, built: Extractor, factory) -> Extractor:
    """A built extractor with a usable width, keyed by content when it is user code."""
    if not isinstance(getattr(built, "dim", None), int) or built.dim <= 0:
        raise SpecError(f"features {name!r}: feature width must be a positive integer, got {getattr(built, 'dim', None)!r}")
    module = getattr(inspect.getmodule(factory), "__name__", "")
    if not module.startswith("evalkit."):  # user code: its digest must follow its source and weights
        built.digest = f"{getattr(built, 'digest', name)}:{source_digest(factory)}:{source_digest(built)}"
    return built


def _load_graph_file(path: Path, device: torch.device):
    """A TorchScript or torch.export file, opened only after :mod:`.archives` found no pickled or compiled part."""
    import warnings

    from .archives import check_torchscript, safe_pt2_bytes

    if path.suffix == ".pt2":
        data = safe_pt2_bytes(path)
    else:
        check_torchscript(path)
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream, but it is what users hold
            warnings.simplefilter("ignore", DeprecationWarning)
            if path.suffix == ".pt2":  # torch.export archive, from the checked in-memory copy
                return torch.export.load(data).module().to(device)
            return torch.jit.load(str(path), map_location=device).eval()
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a TorchScript (.pt) or torch.export (.pt2) file evalkit can load ({type(exc).__name__}: {exc})"
        ) from None


def _takes_shape(fn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[0] in ("image_shape", "shape")


def pixel_extractor(image_shape, device) -> Extractor:
    """The registered ``pixels`` extractor (declared in ``evalkit._builtins``)."""
    return PixelFeatures(image_shape)
