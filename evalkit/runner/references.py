"""What every subject is compared with: reference and training features, built once per
image shape and cached on disk, and the extractors that compute them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import progress, registry
from .._version import __version__
from .._errors import DataError, SpecError, present
from .._io import open_regular
from ..cache import cached_tensor
from ..data.images import open_images
from ..observe.features import in_fixed_rows, make_classifier, make_extractor
from ..observe.indexes import MemorizationIndex
from ..observe.sanity import FeatureCheck, imported_reference, reference_check
from ..observe.preprocess import Resized
from ..protocols import FeatureExtractor
from ..spec.model import Reference, Spec

FEATURE_BATCH = 500


def open_reference(spec: Spec, ref: Reference, what: str):
    """(images, description, SHA-256 of the data) of the spec's ``reference:`` or ``training:``."""
    if ref.dataset is not None:
        data = registry.datasets.get(ref.dataset).obj(split=ref.split, range=ref.range)
        return data, f"{ref.dataset}:{ref.split}" + (f"[{ref.range[0]}:{ref.range[1]}]" if ref.range else ""), data.digest
    path = spec.resolve_path(ref.path or "")
    data = open_images(path, ref.format)
    data.check_all()
    if ref.range:
        raise SpecError(f"{spec.where(what, 'range')}: {what}.range applies to datasets only")
    h = hashlib.sha256()
    if path.is_file():
        _hash_file(h, path)
    else:
        for f in data.files:
            h.update(f.name.encode())
            _hash_file(h, f)
    return data, str(path), h.hexdigest()


def _hash_file(h, path: Path) -> None:
    """Feed a regular file to ``h`` in chunks (never a FIFO or a device, never whole in memory)."""
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def features_of(data, extractor: FeatureExtractor, device: torch.device, bar: progress.Task | None = None) -> Tensor:
    out = []
    with torch.no_grad(), (bar or progress.task("", enabled=False)) as bar:
        for s in range(0, len(data), FEATURE_BATCH):
            x = data.slice(s, min(len(data), s + FEATURE_BATCH)).to(device)
            out.append(in_fixed_rows(extractor.features, x).cpu())  # computed as the samples' are
            bar.update(len(x))
    feats = torch.cat(out)
    bad = ~torch.isfinite(feats).all(1)
    if bad.any():
        raise DataError(f"reference features hold NaN/Inf in {int(bad.sum())} of {len(feats)} rows")
    return feats


def labelled_images(spec: Spec, ref: Reference, what: str) -> tuple[Tensor, Tensor]:
    data, _, _ = open_reference(spec, ref, what)
    if data.labels is None:
        raise DataError(f"{what} images carry no labels; metric 'cas' needs labelled real images")
    return data.slice(0, len(data)), data.labels


class References:
    """Extractors, reference features and the memorization index, shared by every subject."""

    def __init__(self, spec: Spec, device: torch.device, *, cache: bool = True, progress: bool = False):
        self.spec, self.device, self.cache = spec, device, cache
        self.progress = progress  # show a progress task while features are built (rank 0 only)
        self._extractors: dict[tuple, FeatureExtractor] = {}
        self._real: dict[tuple, Tensor] = {}
        self._training_indexes: dict[tuple, MemorizationIndex] = {}
        self._info: dict[tuple, dict[str, Any]] = {}
        self.reference_work: dict = {}  # work on the reference alone (FID moments), shared by every subject
        self.checks: dict[tuple, FeatureCheck | None] = {}  # the feature-space check per shape (observe/sanity.py)
        self._imported: dict[tuple, Any] = {}

    def extractor(self, name: str, shape: tuple) -> FeatureExtractor:
        """The extractor ``name`` for images of ``shape``, built once.

        The spec's user classifier (a ``module:attribute`` or a model file named by
        ``classifier:``) is built as a classifier: its output is read as (N, K) class
        logits. When ``features:`` names the same object it is the same extractor, and
        the logits are its features. A registered name serves as it declares itself.
        """
        key = (name, tuple(shape))
        if key not in self._extractors:
            registry.load_plugins()
            native = registry.features.fixed_input(name)
            if native is not None and native != tuple(shape):
                # a network of one input shape: built for it, fed the images through the spec's resize policy
                self._extractors[key] = Resized(self.extractor(name, native), native, self._resize_filter(name, shape, native))
                return self._extractors[key]
            if name == self.spec.classifier and name not in registry.features:
                self._extractors[key] = make_classifier(name, shape, self.device, self.spec.base_dir)
            else:
                self._extractors[key] = make_extractor(name, shape, self.device, self.spec.base_dir, self._weights(name))
        return self._extractors[key]

    def _weights(self, name: str) -> Path | None:
        """The spec's ``feature_weights:``, resolved, for the feature space that reads them."""
        w = self.spec.feature_weights
        return self.spec.resolve_path(w) if w and name == self.spec.features else None

    def _resize_filter(self, name: str, shape: tuple, native: tuple[int, int, int]) -> str:
        if self.spec.resize == "refuse":  # validate says this first; a run reached without it says it too
            raise SpecError(f"{_x(shape)} images, but {name!r} takes {_x(native)}; evalkit does not resize unless the "
                            "spec says how: add `resize: bicubic` (or bilinear, nearest, area)")
        return self.spec.resize

    def feature_space(self, shape: tuple, *others: tuple) -> dict[str, Any]:
        """The report's record of the feature space the distribution metrics were computed in: the
        network's name, weights digest and dim, its declared preprocessing, and evalkit's resizing of
        the subject's images or of the others compared with them (the reference)."""
        ex = self.extractor(self.spec.features, shape)
        base = getattr(ex, "base", ex)
        prep = getattr(base, "preprocessing", None)
        resized = [e.filter for e in (self.extractor(self.spec.features, s) for s in (shape, *others)) if isinstance(e, Resized)]
        return {"name": base.name, "digest": base.digest, "dim": int(ex.dim),
                "preprocessing": prep.as_dict() if prep is not None else None,
                "resize": resized[0] if resized else None}

    def real_features(self, shape: tuple) -> Tensor:
        if shape not in self._real:
            data, desc, digest = open_reference(self.spec, present(self.spec.reference, "the spec's reference"), "reference")
            ref_shape = tuple(data.image_shape)
            if ref_shape != tuple(shape) and not registry.features.maps_any_size(self.spec.features, self.spec.resize):
                raise DataError(
                    f"reference images are {_x(ref_shape)} but the subject's are {_x(shape)}; features "
                    f"{self.spec.features!r} compare images of one shape (name a feature space of a fixed input "
                    "with `resize:`, or one that declares its own resizing, such as inception-fid)"
                )
            ex = self.extractor(self.spec.features, ref_shape)  # the reference as it is; the subject's own way
            feats = cached_tensor([digest, ex.digest, __version__], lambda: features_of(
                data, ex, self.device, self._task(f"reference features of {desc} (cached for later runs)", len(data))),
                self.cache)
            self._real[shape] = feats
            self._info[shape] = {"source": desc, "n": len(feats), "sha256": digest, "features": ex.name,
                                 "feature_dim": int(feats.shape[1]), "extractor_digest": ex.digest,
                                 "feature_space": self.feature_space(shape, ref_shape)}
            self.checks[shape] = check = reference_check(self.spec, data, ex, feats, self.device, [digest, ex.digest, __version__], self.cache)
            self._info[shape]["features_check"] = check.as_dict() if check else {"status": "off"}
        return self._real[shape]

    def imported_moments(self, shape: tuple):
        """(mu, sigma) of ``reference: {statistics: ...}`` (float64 NumPy), or None when the reference gives images."""
        if self.spec.reference is None or self.spec.reference.statistics is None:
            return None
        if shape not in self._imported:
            stats, self._info[shape], self.checks[shape] = imported_reference(
                self.spec, self.extractor(self.spec.features, shape), shape, self.device, self.cache)
            self._imported[shape] = (stats.mu, stats.sigma)
            self._info[shape]["feature_space"] = self.feature_space(shape)
        return self._imported[shape]

    def _task(self, desc: str, total: int | None) -> progress.Task:
        return progress.task(desc, total, "img", enabled=self.progress)

    def info(self) -> dict[str, Any] | None:
        """The report's ``reference`` entry: the last reference features built, or None."""
        return list(self._info.values())[-1] if self._info else None

    def memorization(self, shape: tuple) -> MemorizationIndex:
        if shape not in self._training_indexes:
            data, desc, digest = open_reference(self.spec, present(self.spec.training, "the spec's training set"), "training")
            train_shape = tuple(data.image_shape)
            if train_shape != tuple(shape) and not registry.features.maps_any_size(self.spec.features, self.spec.resize):
                raise DataError(f"training images are {_x(train_shape)} but the subject's are {_x(shape)}; features "
                                f"{self.spec.features!r} compare images of one shape")
            ex = self.extractor(self.spec.features, train_shape)
            feats = cached_tensor(["train", digest, ex.digest, __version__], lambda: features_of(
                data, ex, self.device, self._task(f"training features of {desc} (cached for later runs)", len(data))),
                self.cache)

            def train_nn() -> Tensor:
                with self._task(f"nearest neighbours within the {len(feats)} training images (cached)", None):
                    return MemorizationIndex(feats).train_nn

            nn = cached_tensor(["train-nn", digest, ex.digest, __version__], train_nn, self.cache)
            self._training_indexes[shape] = MemorizationIndex(feats, nn)
        return self._training_indexes[shape]


def _x(shape) -> str:
    return "x".join(map(str, shape))
