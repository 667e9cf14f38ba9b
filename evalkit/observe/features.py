"""Feature extractors: the embedding behind the distribution metrics.

A registered feature entry is a factory ``f(image_shape, device) -> Extractor``.
A spec may also name ``module:attribute`` (a callable images -> features, or a
factory with the same signature) or a TorchScript file (``*.pt``/``*.ts``), so
Inception, DINOv2 or CLIP features work from local files; nothing is downloaded.
``classifier:`` takes the same three forms, returning (N, K) class logits
(:func:`make_classifier`; :func:`probe_classifier` checks one at validation).
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any, Callable, cast, overload

import torch
from torch import Tensor, nn

from .. import registry
from ..contract import Preprocessing
from ..protocols import FeatureExtractor
from .._digest import file_sha256
from .._errors import CheckpointError, DataError, EvalkitError, SpecError, present


def net_rows(device: torch.device) -> int:
    """The fixed number of rows every network call gets (see :func:`in_fixed_rows`). On CPU, 16:
    the bundled classifier at batch size 250 then costs 0.9x a direct call, at 10 1.5x, at 1 6x
    (``benchmarks/fixed_rows.md``); on an accelerator, 256 (launch overhead dominates small calls)."""
    return 16 if device.type == "cpu" else 256


@overload
def in_fixed_rows(fn: Callable[[Tensor], Tensor], images: Tensor) -> Tensor: ...
@overload
def in_fixed_rows(fn: Callable[[Tensor], tuple[Any, ...]], images: Tensor) -> tuple[Any, ...]: ...


def in_fixed_rows(fn: Callable[[Tensor], Tensor | tuple[Any, ...]], images: Tensor) -> Tensor | tuple[Any, ...]:
    """``fn(images)``, computed in calls of exactly :func:`net_rows` rows (the last padded with
    zeros), so a sample's features and logits do not depend on the samples that share its batch.

    Why: a network's kernels are chosen by the input's shape, and their float rounding with them.
    The bundled classifier's features of the same images at batch sizes 13 and 6 were 3e-6 apart,
    enough to move a sample across a k-NN ball's edge and change a coverage interval; at one fixed
    shape every row's output was bitwise the same whatever its neighbours and position (and thread
    count). So ``sampling.batch_size`` changes no number in the report. Rows are independent for
    any network in eval mode; one that mixes rows (batch statistics) is not a feature map."""
    rows = net_rows(images.device)
    if len(images) == 0:
        return fn(images)
    parts: list[Any] = []  # all Tensors, or all tuples of (Tensor or None)
    for s in range(0, len(images), rows):
        chunk = images[s:s + rows]
        m = len(chunk)
        if m < rows:
            chunk = torch.cat([chunk, chunk.new_zeros((rows - m, *chunk.shape[1:]))])
        out = fn(chunk)
        parts.append(tuple(None if t is None else t[:m] for t in out) if isinstance(out, tuple) else out[:m])
    if not isinstance(parts[0], tuple):
        return torch.cat(parts)
    return tuple(None if parts[0][j] is None else torch.cat([p[j] for p in parts]) for j in range(len(parts[0])))


class Extractor:
    """Maps images (N, C, H, W) in [0, 1] to features (N, dim); may also give class logits."""

    name: str
    dim: int
    digest: str  # identifies weights + code version, for the reference-feature cache
    num_classes: int | None = None
    preprocessing: Preprocessing | None = None  # what it does to images before its network, when declared

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
    def _probe(name: str, fn, image_shape, device, rows: int, role: str = "features"):
        try:
            with torch.no_grad():
                return fn(torch.zeros(rows, *image_shape, device=device))
        except EvalkitError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"{role} {name!r}: fails on a batch of {rows} images of shape {tuple(image_shape)} "
                f"({type(exc).__name__}: {str(exc)[:300]}); it must take any batch size (export with a dynamic batch dimension)"
            ) from None

    def features(self, images: Tensor) -> Tensor:
        return self.fn(images).float()


class ModuleClassifier(Extractor):
    """A user classifier: a torch module, callable or model file mapping images (N, C, H, W)
    in [0, 1] to class logits (N, K).

    It is only a classifier: it gives logits and nothing else, so its "features" are those
    logits (what :class:`ModuleFeatures` would give for the same callable). A spec that
    wants another embedding names it as ``features:`` (a registered extractor, or a second
    ``module:attribute`` exposing the network's penultimate layer). ``K`` is the declared
    ``num_classes`` when the object has one, and must then equal the logits' width.
    """

    def __init__(self, name: str, fn: Callable[[Tensor], Tensor], image_shape, device, digest: str,
                 declared: int | None = None):
        self.name, self.fn, self.digest = name, fn, digest
        ModuleFeatures._probe(name, fn, image_shape, device, 3, "classifier")
        probe = ModuleFeatures._probe(name, fn, image_shape, device, 2, "classifier")
        self.num_classes = self.dim = logits_width(name, probe, image_shape, declared)

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():  # evaluation only: no autograd graph kept per batch
            out = self.fn(images)
        if not isinstance(out, Tensor) or tuple(out.shape) != (images.shape[0], self.num_classes):
            raise CheckpointError(
                f"classifier {self.name!r}: gave {_shape_of(out)} on a batch of {images.shape[0]} images, "
                f"but (N, {self.num_classes}) class logits when it was built; it must give (N, K) logits for every batch"
            )
        logits = out.float()
        return logits, logits

    def features(self, images: Tensor) -> Tensor:
        return self.features_and_logits(images)[0]


def _shape_of(out) -> str:
    return str(tuple(out.shape)) if isinstance(out, Tensor) else f"a {type(out).__name__}"


def logits_width(name: str, probe, image_shape, declared) -> int:
    """K, from a classifier's output on two images: (2, K) logits, K >= 2, equal to a declared count."""
    shape = ", ".join(map(str, image_shape))
    if isinstance(probe, (tuple, list)):
        raise SpecError(
            f"classifier {name!r}: returned a {type(probe).__name__} on (2, {shape}); a classifier returns class "
            "logits only, one (N, K) tensor; name its features separately as `features:` (see docs/plugins.md)")
    if not isinstance(probe, Tensor) or probe.ndim != 2 or probe.shape[0] != 2:
        raise SpecError(
            f"classifier {name!r} gives no class logits: it must map images (N, C, H, W) to a (N, K) tensor of "
            f"logits, one column per class; on (2, {shape}) it returned {_shape_of(probe)}")
    width = int(probe.shape[1])
    if width < 2:
        raise SpecError(f"classifier {name!r}: gives logits for {width} class(es) on (2, {shape}); "
                        "a classifier needs at least 2 classes (one column of logits per class)")
    if declared is not None and (isinstance(declared, bool) or not isinstance(declared, int) or declared != width):
        raise SpecError(f"classifier {name!r}: declares num_classes = {declared!r}, but its logits have {width} "
                        "columns; make `num_classes` equal the logits' width (or leave it out to read it from them)")
    return width


def class_count_problem(classes: int, subject: str, subject_classes: int | None) -> str | None:
    """Why a classifier of ``classes`` classes cannot judge a subject of ``subject_classes``, or None.

    A subject's classes are 0..C-1 and a label check asks the classifier to predict them,
    so the classifier must know at least C classes. More is allowed: a generator trained
    on the first C classes of a dataset is judged by a classifier of the whole dataset.
    """
    if subject_classes is None or classes >= subject_classes:
        return None
    return (f"the classifier gives {classes} classes (0..{classes - 1}), but subject {subject!r} has "
            f"{subject_classes} (0..{subject_classes - 1}): classes {classes}..{subject_classes - 1} could never "
            "be predicted; use a classifier with the subject's classes")


def make_classifier(name: str, image_shape: tuple[int, int, int], device: torch.device,
                    base_dir: Path | None = None) -> FeatureExtractor:
    """Build the classifier a spec's ``classifier:`` names, for images of ``image_shape``.

    A registered extractor that gives logits, a ``module:attribute`` (a callable or module
    returning (N, K) logits, or an :class:`Extractor` factory whose ``features_and_logits``
    gives them) or a TorchScript / torch.export file returning (N, K) logits. The result's
    ``num_classes`` is K; a name that gives no logits is a :class:`SpecError`.
    """
    registry.load_plugins()
    if name in registry.features:
        return _checked_classifier(name, make_extractor(name, image_shape, device, base_dir), image_shape, device)
    if not registry.is_reference(name):
        path = model_file(name, base_dir, "classifier")
        graph = _load_graph_file(path, device)
        return ModuleClassifier(name, graph, image_shape, device, f"file:{file_sha256(path)}",
                                _declared_classes(graph))
    origin = registry.resolve_reference(name)
    obj = _built_classifier(name, origin, image_shape, device)
    if isinstance(obj, Extractor):
        return _checked_classifier(name, obj, image_shape, device)
    # what a factory built is known by the factory's module too (and the weights either declares)
    digest = f"user:{name}:{source_digest(obj)}" + ("" if obj is origin else f":{source_digest(origin)}")
    declared = _declared_classes(obj)
    declared = _declared_classes(origin) if declared is None and obj is not origin else declared
    if isinstance(obj, nn.Module):
        obj = obj.to(device).eval()
    return ModuleClassifier(name, obj, image_shape, device, digest, declared)


def _built_classifier(name: str, obj, image_shape, device):
    """What a ``module:attribute`` classifier names, built: a factory ``f(image_shape, device)``
    or an Extractor class is called with them; another class (an ``nn.Module`` subclass) is
    instantiated with no arguments; a callable or module instance is used as it is."""
    if not (inspect.isclass(obj) or (callable(obj) and _takes_shape(obj))):
        return obj
    if _takes_shape(obj) or (inspect.isclass(obj) and issubclass(obj, Extractor)):
        built = obj(image_shape, device)
        return _checked(name, built, obj) if isinstance(built, Extractor) else built
    try:
        return obj()
    except EvalkitError:
        raise
    except Exception as exc:
        raise SpecError(f"classifier {name!r}: the class cannot be built without arguments ({type(exc).__name__}: "
                        f"{str(exc)[:300]}); name an instance (`clf = MyNet(...)` in the module) or a factory "
                        "`make(image_shape, device)`") from None


def _declared_classes(obj):
    """A classifier's declared class count (a ``num_classes`` attribute, kept by torch.jit.script), or None."""
    try:
        return getattr(obj, "num_classes", None)
    except Exception:  # noqa: BLE001 - a ScriptModule or user object with an odd __getattr__: treat as undeclared
        return None


def _checked_classifier(name: str, built: FeatureExtractor, image_shape, device) -> FeatureExtractor:
    """An :class:`Extractor` (registered or a user subclass) that really gives (N, K) logits."""
    try:
        with torch.no_grad():
            _, logits = built.features_and_logits(torch.zeros(2, *image_shape, device=device))
    except EvalkitError:
        raise
    except Exception as exc:
        raise CheckpointError(f"classifier {name!r}: fails on a batch of 2 images of shape {tuple(image_shape)} "
                              f"({type(exc).__name__}: {str(exc)[:300]})") from None
    if logits is None:
        raise SpecError(f"classifier {name!r} gives no class logits (it is a feature extractor only); "
                        "name a classifier: a registered one such as 'fashion-classifier', a module:attribute or "
                        "a TorchScript file returning (N, K) logits")
    # the protocol only reads `num_classes`; the checked count is recorded on the object itself
    setattr(built, "num_classes", logits_width(name, logits, image_shape, built.num_classes))
    return built


def probe_classifier(name: str, image_shape: tuple[int, int, int], base_dir: Path | None = None) -> int:
    """The class count of the classifier ``name`` on images of ``image_shape``, for validation.

    Builds it on the CPU and runs it on two blank images; every way it can fail (unknown
    name, no logits, a declared count its logits contradict, a file that does not load,
    a model that fails on the shape) is a :class:`SpecError` naming the classifier.
    """
    try:
        built = make_classifier(name, cast("tuple[int, int, int]", tuple(image_shape)), torch.device("cpu"), base_dir)
        return int(present(built.num_classes, f"the class count of classifier {name!r}"))  # checked by make_classifier
    except SpecError:
        raise
    except EvalkitError as exc:  # a model file that does not load, a model failing on the shape: the spec's choice
        raise SpecError(str(exc)) from None


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


def make_extractor(name: str, image_shape: tuple[int, int, int], device: torch.device, base_dir: Path | None = None,
                   weights: Path | None = None) -> FeatureExtractor:
    """Build the extractor a spec names, for images of ``image_shape``. ``weights`` (the spec's
    ``feature_weights:``, resolved) reaches a registered factory that declares ``reads_weights``;
    with None such a factory looks where it documents, and says where it looked."""
    registry.load_plugins()
    if name in registry.features:
        entry = registry.features.get(name)
        factory = entry.obj
        if entry.decl.reads_weights:  # declared: its factory takes `weights=` (protocols.FeatureFactory plus one keyword)
            built = cast("Callable[..., FeatureExtractor]", factory)(image_shape, device, weights=weights)
        else:
            built = factory(image_shape, device)
        if getattr(built, "preprocessing", None) is None and entry.decl.preprocessing is not None:
            setattr(built, "preprocessing", entry.decl.preprocessing)  # the declared facts, on the object the report reads
        return _checked(name, built, factory)
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
    path = model_file(name, base_dir, "features")
    return ModuleFeatures(name, _load_graph_file(path, device), image_shape, device, digest=f"file:{file_sha256(path)}")


def model_file(name: str, base_dir: Path | None, key: str) -> Path:
    """The TorchScript / torch.export file a spec's ``features:`` or ``classifier:`` names."""
    path = Path(name).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.suffix in (".pt", ".ts", ".pth", ".jit", ".pt2") or path.exists():
        if not path.is_file():
            raise SpecError(f"{key}: model file {str(path)!r} not found")
        return path
    raise SpecError(registry.features.unknown_message(name))


def _checked(name: str, built: FeatureExtractor, factory) -> FeatureExtractor:
    """A built extractor with a usable width, keyed by content when it is user code."""
    if not isinstance(getattr(built, "dim", None), int) or built.dim <= 0:
        raise SpecError(f"features {name!r}: feature width must be a positive integer, got {getattr(built, 'dim', None)!r}")
    module = getattr(inspect.getmodule(factory), "__name__", "")
    if not module.startswith("evalkit."):  # user code: its digest must follow its source and weights
        # the protocol only reads `digest`; on the object it is a plain attribute, rewritten here
        setattr(built, "digest", f"{getattr(built, 'digest', name)}:{source_digest(factory)}:{source_digest(built)}")
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
