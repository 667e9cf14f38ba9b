"""Does the feature space tell degenerate images from the reference? Checked before any metric is judged.

A distribution metric is only as good as its feature space. A randomly initialised conv-net
maps everything into a tiny region: there a shapeless random generator scored FID 0.045
against Fashion-MNIST (and PASSed `at_most: 25`) where trained features give 3,813. So,
from the reference images and a fixed seed, evalkit builds three degenerate sets of
``CHECK_N`` images each (uniform noise, constant images at the reference's mean value, the
reference images with their pixels shuffled) and measures, in the spec's feature space:

* **separation**: the Fréchet distance from one half of the reference (``CHECK_N`` images)
  to each degenerate set must exceed ``SEPARATION`` times the distance between the two
  halves (the noise floor at this N). Every set is compared at the same N, so FID's finite-N
  bias is alike on both sides.
* **bounds**: an ``fid`` ``at_most`` bound must lie below 1/``BOUND_MARGIN`` of the closest
  degenerate set's distance: a bound that noise itself nearly meets cannot tell noise from data.
  This is what catches the random conv-net: its degenerate sets are separated relative to
  its floor, but at a scale where uniform noise scores FID 0.006.
* **features**: NaN/Inf on a degenerate set, or constant features over the reference, fail;
  dead (zero-variance) dimensions are a warning; a per-coordinate RMS (median feature norm
  / sqrt(d)) outside ``SCALE_RANGE`` makes KID's cubic kernel (x.y/d + 1)^3 unusable (the
  issue's KID 8.3e5 and -2.9e4 came from unnormalised features), so KID is not judged there.

A failed check makes the requirements it concerns INCONCLUSIVE, the reason in their message,
unless the spec sets ``features_check: off``. The numbers are cached with the reference
features (``evalkit.cache``): they cost once per reference x feature space.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .. import registry
from .._errors import DataError, SpecError, present
from .._version import __version__
from ..cache import cached_tensor
from ..contract import Input
from ..data.statistics import ImportedStatistics, read_statistics
from ..metrics import functional as Fn
from ..protocols import FeatureExtractor
from ..records.model import RequirementResult
from ..spec.model import Spec
from .features import in_fixed_rows

__all__ = ["CHECK_N", "SEPARATION", "BOUND_MARGIN", "SCALE_RANGE", "CHECK_SEED", "SETS", "FeatureCheck",
           "check_feature_space", "check_imported", "overrule", "reference_check", "imported_reference"]

log = logging.getLogger(__name__)

CHECK_N = 256  # images per degenerate set and per reference half: 3 x 256 feature rows, a few FDs
SEPARATION = 4.0  # measured: fashion-classifier >= 23, pixels >= 8.7 on Fashion-MNIST (the constant set)
BOUND_MARGIN = 2.0
SCALE_RANGE = (1e-2, 5.0)  # per-coordinate RMS: s = 5 makes the cubic kernel ~ (s^2 + 1)^3 = 17,576
CHECK_SEED = 20_261_207  # fixed: the degenerate sets are the same on every run and machine
MIN_HALF = 16  # reference images per half below which there is no floor worth the name
DEAD = 1e-10  # a dimension whose variance is below this share of the largest is dead
CHECK_VERSION = "features-check-v1"
SETS = ("uniform noise", "constant", "pixel-shuffled")
# the cached numbers, in this order (a tensor: the feature cache holds tensors only)
_LAYOUT = ("n", "floor", *SETS, "scale", "dead", "dim")


@dataclass
class FeatureCheck:
    """What the check measured, and what it concludes."""

    n: int  # images per set (and per reference half)
    dim: int
    floor: float | None  # FD between the reference halves; None against imported statistics
    distances: dict[str, float]  # degenerate set -> FD from the reference (NaN: its features are not finite)
    scale: float
    dead: int
    seconds: float | None = None  # None: read from the cache
    problems: list[str] = field(default_factory=list)  # the check failed: metrics on these features decide nothing
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "failed" if self.problems else "passed"

    def closest(self) -> tuple[str, float] | None:
        finite = {k: v for k, v in self.distances.items() if math.isfinite(v)}
        return min(finite.items(), key=lambda kv: kv[1]) if finite else None

    def as_dict(self) -> dict[str, Any]:
        """The report's record. Without ``seconds``: a cached check and a computed one record the same,
        so a resumed run's report equals the uninterrupted one's."""
        return {"status": self.status, "n": self.n, "seed": CHECK_SEED, "statistic": "Fréchet distance", "noise_floor": self.floor,
                "distances": self.distances, "separation_factor": SEPARATION, "bound_margin": BOUND_MARGIN,
                "feature_rms": self.scale, "feature_rms_range": list(SCALE_RANGE), "dead_dimensions": self.dead,
                "dim": self.dim, "problems": self.problems, "warnings": self.warnings}

    def describe(self) -> str:
        near = self.closest()
        where = f"closest degenerate set {near[0]} at FD {near[1]:.4g}" if near else "no finite degenerate distance"
        floor = f", noise floor {self.floor:.4g}" if self.floor is not None else ""
        return f"{self.status} ({where}{floor}; feature RMS {self.scale:.3g}; {self.n} images per set)"


def degenerate_sets(images: Tensor, n: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Uniform noise, constant images at the reference's per-channel mean, and ``images`` (n of
    them) each with its pixel positions permuted (the channels of a pixel move together)."""
    c, h, w = images.shape[1:]
    mean = images.mean(dim=(0, 2, 3)).view(1, c, 1, 1)
    flat = images[:n].reshape(n, c, h * w)
    order = torch.stack([torch.randperm(h * w, generator=generator) for _ in range(n)])
    shuffled = torch.gather(flat, 2, order[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)
    return {"uniform noise": torch.rand(n, c, h, w, generator=generator), "constant": mean.expand(n, c, h, w).clone(),
            "pixel-shuffled": shuffled}


def _features(ex: FeatureExtractor, x: Tensor, device: torch.device) -> Tensor:
    with torch.no_grad():
        return in_fixed_rows(ex.features, x.to(device)).detach().double().cpu()


def _rms(feats: Tensor) -> float:
    return float(feats.norm(dim=1).median()) / math.sqrt(feats.shape[1])


def _measure(images_at: Callable[[Tensor], Tensor], feats: Tensor, ex: FeatureExtractor, device: torch.device) -> Tensor:
    """The check's numbers (``_LAYOUT``) for the reference features ``feats``; ``images_at(rows)``
    reads those reference images (only the half the shuffled set is made of is read)."""
    g = torch.Generator().manual_seed(CHECK_SEED)
    n = min(CHECK_N, len(feats) // 2)
    perm = torch.randperm(len(feats), generator=g)
    half_a, half_b = feats[perm[:n]].double(), feats[perm[n:2 * n]].double()
    sets = degenerate_sets(images_at(perm[n:2 * n]), n, g)
    fds = []
    for x in sets.values():
        f = _features(ex, x, device)
        fds.append(Fn.fid(half_a, f) if bool(torch.isfinite(f).all()) else math.nan)
    var = feats.double().var(0)
    dead = int((var <= DEAD * float(var.max())).sum()) if float(var.max()) > 0 else feats.shape[1]
    return torch.tensor([n, Fn.fid(half_a, half_b), *fds, _rms(feats), dead, feats.shape[1]], dtype=torch.float64)


def _read(numbers: Tensor, seconds: float | None, sets: tuple[str, ...] = SETS, floor_known: bool = True) -> FeatureCheck:
    v = dict(zip(_LAYOUT, numbers.tolist()))
    check = FeatureCheck(int(v["n"]), int(v["dim"]), v["floor"] if floor_known else None, {k: v[k] for k in sets},
                         v["scale"], int(v["dead"]), seconds)
    _judge(check)
    return check


def _judge(check: FeatureCheck) -> None:
    """Fill the check's problems and warnings from its numbers."""
    for name, fd in check.distances.items():
        if not math.isfinite(fd):
            check.problems.append(f"the feature extractor gives NaN/Inf on {name} images")
        elif check.floor is not None and fd <= SEPARATION * check.floor:
            check.problems.append(f"{name} images lie at FD {fd:.4g} from the reference, within {SEPARATION:g} x the "
                                  f"noise floor {check.floor:.4g} (FD between two reference halves of {check.n})")
    if check.dead >= check.dim:
        check.problems.append("the features are constant over the reference images")
    elif check.dead:
        check.warnings.append(f"{check.dead} of {check.dim} feature dimensions are constant over the reference (dead units)")
    low, high = SCALE_RANGE
    if not low <= check.scale <= high:
        check.warnings.append(f"the features' per-coordinate RMS is {check.scale:.3g}, outside [{low:g}, {high:g}]: KID's "
                              "cubic kernel (x.y/d + 1)^3 is dominated by the feature scale there, so KID is not judged "
                              "(normalise the features)")


def check_feature_space(images_at: Callable[[Tensor], Tensor], feats: Tensor, ex: FeatureExtractor, device: torch.device,
                        key: list[str], cache: bool = True) -> FeatureCheck:
    """The check of the reference (``images_at(rows)``: those rows of its images, read only on a
    cache miss; ``feats``: its features) in the feature space of ``ex``; ``key`` is the reference
    features' cache key."""
    if len(feats) < 2 * MIN_HALF:
        check = FeatureCheck(0, int(feats.shape[1]), None, {}, _rms(feats), 0)
        check.warnings.append(f"not run: the reference holds {len(feats)} images, fewer than the {2 * MIN_HALF} "
                              "two halves of a noise floor need")
        return check
    seconds: list[float] = []

    def build() -> Tensor:
        import time

        t = time.perf_counter()
        out = _measure(images_at, feats, ex, device)
        seconds.append(round(time.perf_counter() - t, 3))
        return out

    numbers = cached_tensor(["features-check", CHECK_VERSION, *key], build, cache)
    return _read(numbers, seconds[0] if seconds else None)


def check_imported(mu: Tensor, sigma: Tensor, shape: tuple, ex: FeatureExtractor, device: torch.device,
                   key: list[str], cache: bool = True) -> FeatureCheck:
    """Against imported statistics there are no reference images: the noise and constant
    (mid-grey) sets are measured against the imported moments, for the bound rule only."""
    def build() -> Tensor:
        g = torch.Generator().manual_seed(CHECK_SEED)
        sets = {"uniform noise": torch.rand(CHECK_N, *shape, generator=g), "constant": torch.full((CHECK_N, *shape), 0.5)}
        fds = []
        for name in SETS:  # no images to shuffle: that set's slot stays NaN and is not read back
            f = _features(ex, sets[name], device) if name in sets else None
            fine = f is not None and bool(torch.isfinite(f).all())
            fds.append(Fn.frechet_distance(mu, sigma, f.mean(0), f.T.cov()) if f is not None and fine else math.nan)
        rms = math.sqrt(float(torch.trace(sigma) + mu.square().sum()) / len(mu))
        return torch.tensor([CHECK_N, math.nan, *fds, rms, 0, len(mu)], dtype=torch.float64)

    numbers = cached_tensor(["features-check-imported", CHECK_VERSION, *key], build, cache)
    return _read(numbers, None, SETS[:2], floor_known=False)


def _reasons(check: FeatureCheck, metric: str, at_most: float | None) -> tuple[list[str], list[str]]:
    """(why the features cannot decide this metric at all, why its bound cannot PASS in them)."""
    entry = registry.metrics.get(metric) if metric in registry.metrics else None
    if entry is None or Input.FEATURES not in entry.decl.inputs:
        return [], []
    space = list(check.problems)
    if metric == "kid" and not SCALE_RANGE[0] <= check.scale <= SCALE_RANGE[1]:
        space.append(f"the features' per-coordinate RMS {check.scale:.3g} lies outside [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}], "
                     "where KID's cubic kernel is dominated by the feature scale")
    near = check.closest()
    if metric == "fid" and at_most is not None and near is not None and at_most * BOUND_MARGIN >= near[1]:
        return space, [f"{near[0]} images score FID {near[1]:.4g} against the reference in this feature space, within "
                       f"{BOUND_MARGIN:g} x the bound at_most {at_most:g}: the bound cannot tell noise from data here"]
    return space, []


def overrule(result: RequirementResult, check: FeatureCheck | None, metric: str) -> RequirementResult:
    """``result`` INCONCLUSIVE, with the reason, where the feature-space check says its features cannot
    decide it: any verdict when the space fails the check (it tells nothing either way), a PASS when
    only the bound is too loose for the space (a FAIL against a bound noise nearly meets stays a FAIL)."""
    space, bound = ([], []) if check is None else _reasons(check, metric, result.at_most)
    reasons = space + (bound if result.verdict == "PASS" else [])
    if not reasons:
        return result
    why = "not judged, by the feature-space check (`features_check: off` skips it): " + "; ".join(reasons)
    return result.model_copy(update={"verdict": "INCONCLUSIVE", "message": why + (f"; {result.message}" if result.message else "")})


def reference_check(spec: Spec, data: Any, ex: FeatureExtractor, feats: Tensor, device: torch.device,
                    key: list[str], cache: bool = True) -> FeatureCheck | None:
    """The check of the spec's reference images ``data`` (with ``.slice``), or None under ``features_check: off``."""
    if not spec.features_check:
        return None
    check = check_feature_space(lambda rows: torch.cat([data.slice(int(i), int(i) + 1) for i in rows]),
                                feats, ex, device, key, cache)
    _tell(check, ex.name)
    return check


def _tell(check: FeatureCheck, name: str) -> None:
    """A failed check on the console too (the report is read later, if at all); its warnings stay in
    the report, where the requirements they concern say so (a dead pixel in `pixels` is no news)."""
    for line in check.problems:
        log.warning("feature-space check of %r FAILED: %s; metrics on these features are not judged", name, line)


def imported_reference(spec: Spec, ex: FeatureExtractor, shape: tuple, device: torch.device, cache: bool = True
                       ) -> tuple[ImportedStatistics, dict[str, Any], FeatureCheck | None]:
    """The spec's imported FID statistics, checked against the feature space's dimension, the
    report's ``reference`` entry, and the check against them (None under ``features_check: off``)."""
    try:
        stats = read_statistics(spec.resolve_path(present(spec.reference, "the reference").statistics or ""), ex.dim)
    except SpecError as exc:  # validated already; a dimension only known once the extractor is built lands here
        raise DataError(str(exc)) from None
    info = {"source": str(stats.path), "n": None, "sha256": stats.sha256, "features": ex.name, "feature_dim": stats.dim,
            "extractor_digest": ex.digest, **stats.as_dict()}
    check, info["features_check"] = None, {"status": "off"}
    if spec.features_check:
        mu, sigma = torch.from_numpy(stats.mu), torch.from_numpy(stats.sigma)
        # keyed by shape too: the noise and constant sets are drawn at the subject's size
        key = [stats.sha256, ex.digest, __version__, "x".join(map(str, shape))]
        check = check_imported(mu, sigma, shape, ex, device, key, cache)
        _tell(check, ex.name)
        info["features_check"] = check.as_dict()
    return stats, info, check
