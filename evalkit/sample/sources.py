"""Sources stream (indices, images, labels) batches for one subject.

A generator source draws latents in fixed-size *blocks*; block b is sampled with
a ``torch.Generator`` seeded from (seed, b). The batch size only decides how many
blocks are observed together, so sample i is the same image whatever the batch
size, and whichever process draws block b under torchrun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, overload

import numpy as np
import torch
from torch import Tensor

from .._errors import DataError, SpecError, SubjectError, present
from ..boundary import user_code
from ..spec.model import Sampling


def block_seed(seed: int, block: int) -> int:
    """SplitMix64 of (seed, block): well-spread 63-bit seeds for neighbouring blocks."""
    z = (seed * 0x9E3779B97F4A7C15 + block + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


_MASK = 0xFFFFFFFFFFFFFFFF
# Labels come from their own SplitMix64 stream, apart from the latent blocks' seeds.
LABEL_STREAM = 0x5DEECE66D1A2B3C4


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic, as the algorithm means)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def iid_labels(seed: int, indices: np.ndarray | range, num_classes: int) -> Tensor:
    """Class of sample i drawn i.i.d. uniform over ``num_classes``: a pure function of (seed, i).

    One 64-bit hash per sample, so the label of sample i is the same whatever the
    batch size, the block size, the process or the number of samples asked. The
    modulo bias is below 2^-59 for any class count under 32.
    """
    # the seed is mixed on its own first, or seed s+1 would replay seed s shifted by one index
    base = mix64(np.array([(seed ^ LABEL_STREAM) & _MASK], dtype=np.uint64))[0]
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = mix64(base + (idx + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15))
    return torch.from_numpy((h % np.uint64(num_classes)).astype(np.int64))


def _checked(classes, num_classes: int) -> None:
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise SpecError(f"sampling.labels: class {bad[0]} is out of range for a model with {num_classes} classes (0..{num_classes - 1})")


@overload
def asked_labels(sampling: Sampling, num_classes: int) -> Tensor: ...
@overload
def asked_labels(sampling: Sampling, num_classes: int | None) -> Tensor | None: ...


def asked_labels(sampling: Sampling, num_classes: int | None) -> Tensor | None:
    """The class asked for sample i, for all i (a pure function of the spec).

    ``uniform`` draws i.i.d. uniform classes (so a sample of n has the class mix of
    an i.i.d. sample, like a reference drawn from real data); ``stratified`` asks
    the classes in exact turn (0, 1, ..., K-1, 0, ...), an exactly balanced mix
    whose metrics differ from an i.i.d. reference's (docs: README, "Class sampling").
    """
    if num_classes is None:
        return None
    n = sampling.size
    spec = sampling.labels
    if spec == "uniform":
        return iid_labels(sampling.seed, range(n), num_classes)
    if spec == "stratified":
        return torch.arange(n) % num_classes
    if isinstance(spec, list):
        _checked(spec, num_classes)
        return torch.tensor(spec)[torch.arange(n) % len(spec)]
    _checked(spec, num_classes)
    # Interleave classes so any prefix (sequential mode) holds a fair mix.
    remaining = {c: k for c, k in sorted(spec.items()) if k > 0}
    out: list[int] = []
    while remaining:
        for c in list(remaining):
            out.append(c)
            remaining[c] -= 1
            if remaining[c] == 0:
                del remaining[c]
    return torch.tensor(out)


@dataclass
class Batch:
    indices: Tensor  # global sample indices (long)
    images: Tensor  # (B, C, H, W) float
    labels: Tensor | None  # asked (or known) classes


class GeneratorSource:
    """Streams samples of a generator, block by block."""

    def __init__(self, name: str, gen, n: int, labels: Tensor | None, seed: int, block_size: int, device: torch.device):
        self.name, self.gen, self.n, self.labels = name, gen, n, labels
        self.seed, self.block_size, self.device = seed, block_size, device
        self.image_shape = tuple(gen.image_shape)
        self.num_classes = gen.num_classes

    def sample_block(self, b: int) -> Batch:
        start, stop = b * self.block_size, min(self.n, (b + 1) * self.block_size)
        g = torch.Generator(device=self.device)
        g.manual_seed(block_seed(self.seed, b))
        lab = None if self.labels is None else self.labels[start:stop].to(self.device)
        try:
            # inside no_grad, so a grad mode the model turns on is put back to evalkit's, and reported
            with torch.no_grad(), user_code(self.name, "sample()"):
                out = self._call(start, stop, lab, g)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            raise SubjectError(f"subject {self.name!r}: sample() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, Tensor):
            raise SubjectError(f"subject {self.name!r}: sample() returned {type(out).__name__}, expected a torch.Tensor")
        want = (stop - start, *self.image_shape)
        if tuple(out.shape) != want:
            raise SubjectError(
                f"subject {self.name!r}: sample({stop - start}) returned shape {tuple(out.shape)}, expected {want} "
                f"(its image_shape says {self.image_shape})"
            )
        if not out.is_floating_point():
            raise SubjectError(f"subject {self.name!r}: sample() returned dtype {out.dtype}; expected floats in [0, 1]")
        return Batch(torch.arange(start, stop), out.float(), lab)

    def _call(self, start: int, stop: int, lab: Tensor | None, g: torch.Generator):
        """The user's sample() (or sample_indexed) on copies of the asked labels: a model that
        writes into them (converting 1-based labels in place, say) must not change the labels
        its samples are judged against."""
        if hasattr(self.gen, "sample_indexed"):
            # replays pick images by global index: without replacement across blocks
            every = None if self.labels is None else self.labels.clone()
            return self.gen.sample_indexed(torch.arange(start, stop), seed=self.seed, n=self.n, labels=every)
        return self.gen.sample(stop - start, labels=None if lab is None else lab.clone(), generator=g)

    def batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[Batch]:
        """Batches covering [start, stop); block-aligned sampling, any batch size."""
        stop = self.n if stop is None else stop
        pending: list[Batch] = []
        pending_n = 0
        first_block, last_block = start // self.block_size, math.ceil(stop / self.block_size)
        for b in range(first_block, last_block):
            blk = self.sample_block(b)
            keep = (blk.indices >= start) & (blk.indices < stop)
            if not bool(keep.all()):
                blk = Batch(blk.indices[keep], blk.images[keep.to(blk.images.device)], None if blk.labels is None else blk.labels[keep.to(blk.labels.device)])
            pending.append(blk)
            pending_n += len(blk.indices)
            while pending_n >= batch_size:
                batch, pending = _take(pending, batch_size)
                pending_n -= batch_size
                yield batch
        if pending_n:
            yield _take(pending, pending_n)[0]

    def samples(self, indices: list[int]) -> Batch:
        """Exactly the samples at ``indices`` (for ``evalkit reproduce``)."""
        blocks = sorted({i // self.block_size for i in indices})
        parts = [self.sample_block(b) for b in blocks]
        allb = _cat(parts)
        pos = {int(i): j for j, i in enumerate(allb.indices)}
        sel = torch.tensor([pos[i] for i in indices])
        return Batch(allb.indices[sel], allb.images[sel.to(allb.images.device)], None if allb.labels is None else allb.labels[sel.to(allb.labels.device)])


class ImageSource:
    """Streams images already on disk (a folder or an .npz)."""

    def __init__(self, name: str, images, n: int, device: torch.device):
        self.name, self.images, self.device = name, images, device
        if len(images) < n:
            # never fill up with repeats: a folder of 300 images is not a sample of 1000
            raise DataError(f"subject {name!r}: holds {len(images)} images but sampling.n asks {n}; "
                            f"lower n (e.g. --n {len(images)}) or add images")
        self.n = n
        self.image_shape = tuple(images.image_shape)
        self.labels = None if images.labels is None else images.labels[: self.n]
        self.num_classes = None if self.labels is None else int(self.labels.max()) + 1

    def batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[Batch]:
        stop = self.n if stop is None else stop
        for s in range(start, stop, batch_size):
            e = min(stop, s + batch_size)
            imgs = self.images.slice(s, e).to(self.device)
            lab = None if self.labels is None else self.labels[s:e].to(self.device)
            yield Batch(torch.arange(s, e), imgs, lab)

    def samples(self, indices: list[int]) -> Batch:
        parts = [next(self.batches(1, i, i + 1)) for i in indices]
        return _cat(parts)


def _cat(parts: list[Batch]) -> Batch:
    labels = None if parts[0].labels is None else torch.cat([present(p.labels, "a batch's labels") for p in parts])  # all or none
    return Batch(torch.cat([p.indices for p in parts]), torch.cat([p.images for p in parts]), labels)


def _take(pending: list[Batch], k: int) -> tuple[Batch, list[Batch]]:
    allb = _cat(pending)
    head = Batch(allb.indices[:k], allb.images[:k], None if allb.labels is None else allb.labels[:k])
    rest_n = len(allb.indices) - k
    rest = [Batch(allb.indices[k:], allb.images[k:], None if allb.labels is None else allb.labels[k:])] if rest_n else []
    return head, rest
