"""FID reference statistics written by another tool: an ``.npz`` with ``mu`` (d,) and ``sigma`` (d, d).

pytorch-fid, clean-fid and torch-fidelity save the mean and covariance of their reference
features this way. The file is data: every member's ``.npy`` header is read first, a member
that holds Python objects (which only a pickle could rebuild) is refused unread, and the
arrays are loaded with ``allow_pickle=False``. Each problem is one ``SpecError`` naming the
file and the field (``statistics_problems``), so ``evalkit validate`` finds it (exit 2).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import SpecError
from .._io import read_regular

__all__ = ["ImportedStatistics", "read_statistics", "SYMMETRY_TOL", "PSD_TOL", "MAX_DIM"]

# |sigma - sigma^T| up to this share of max |sigma|: a float32 file rounds at ~6e-8 relative, a
# float64 np.cov is exactly symmetric; a real asymmetry (a transposed block, another matrix) is far above
SYMMETRY_TOL = 1e-5
# the smallest eigenvalue may sit this share of the trace below 0: round-off of a rank-deficient
# covariance (N <= d, as Inception's 2,048-d fits of small sets are) in float32
PSD_TOL = 1e-6
MAX_DIM = 16384  # sigma of 16,384 x 16,384 float64 is 2 GiB; every feature space evalkit knows is far smaller
MAX_BYTES = 8 * MAX_DIM * (MAX_DIM + 1) + (1 << 20)  # mu and sigma of MAX_DIM in float64, and the zip's headers
KEYS = ("mu", "sigma")


@dataclass(frozen=True)
class ImportedStatistics:
    """The reference's feature mean and covariance as another tool computed them."""

    path: Path
    sha256: str
    mu: np.ndarray  # (d,) float64
    sigma: np.ndarray  # (d, d) float64, symmetrised

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    def as_dict(self) -> dict:
        """The report's record of where the reference moments came from, and what they allow."""
        return {"imported": True, "statistics": str(self.path), "statistics_sha256": self.sha256, "feature_dim": self.dim,
                "claims": "no interval claims on the reference side: its moments are taken as fixed (FID's interval "
                          "covers the generated samples' variability only)"}


def _headers(path: Path, raw: bytes) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's (shape, dtype) from its .npy header, without reading its data."""
    out = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as member:
                    major, _ = np.lib.format.read_magic(member)
                    read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(member)
                out[name] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise SpecError(f"{path}: not a readable .npz of mu and sigma ({exc}); save it with numpy.savez(path, mu=mu, sigma=sigma)") from None
    return out


def _shape_problems(path: Path, headers: dict) -> list[str]:
    missing = [k for k in KEYS if k not in headers]
    if missing:
        return [f"{path}: no `{k}` array (it holds {', '.join(sorted(headers)) or 'nothing'}); FID statistics are "
                "`mu` (d,) and `sigma` (d, d), as pytorch-fid, clean-fid and torch-fidelity write them" for k in missing]
    out = [p for k in KEYS if (p := _dtype_problem(path, k, headers[k][1]))]
    if out:
        return out
    (mshape, _), (sshape, _) = headers["mu"], headers["sigma"]
    if len(mshape) != 1 or not 0 < mshape[0] <= MAX_DIM:
        return [f"{path}: `mu` has shape {mshape}; it must be (d,) with 0 < d <= {MAX_DIM}"]
    if sshape != (mshape[0], mshape[0]):
        return [f"{path}: `sigma` has shape {sshape} but `mu` has d = {mshape[0]}; sigma must be (d, d) = {(mshape[0],) * 2}"]
    return []


def _dtype_problem(path: Path, key: str, dtype: np.dtype) -> str | None:
    if dtype.hasobject:
        return (f"{path}: `{key}` holds Python objects (dtype {dtype}), which only a pickle could load; evalkit never "
                "unpickles: save plain float arrays")
    if dtype.kind != "f":
        return f"{path}: `{key}` has dtype {dtype}; FID statistics are float arrays"
    return None


def _value_problems(path: Path, mu: np.ndarray, sigma: np.ndarray) -> list[str]:
    out = [f"{path}: `{k}` holds {int((~np.isfinite(a)).sum())} NaN/Inf value(s); FID statistics must be finite"
           for k, a in (("mu", mu), ("sigma", sigma)) if not np.isfinite(a).all()]
    if out:
        return out
    scale = float(np.abs(sigma).max()) or 1.0
    asym = float(np.abs(sigma - sigma.T).max())
    if asym > SYMMETRY_TOL * scale:
        return [f"{path}: `sigma` is not symmetric (max |sigma - sigma^T| = {asym:.3g}, over {SYMMETRY_TOL:g} x max |sigma| "
                f"= {SYMMETRY_TOL * scale:.3g}); a covariance is symmetric: is it the right matrix?"]
    low, trace = float(np.linalg.eigvalsh((sigma + sigma.T) / 2)[0]), float(np.trace(sigma))
    if low < -PSD_TOL * max(abs(trace), np.finfo(float).tiny):
        return [f"{path}: `sigma` is not positive semi-definite (smallest eigenvalue {low:.3g} < -{PSD_TOL:g} x trace "
                f"= {-PSD_TOL * trace:.3g}); a covariance has no negative eigenvalues"]
    return []


def read_statistics(path: Path, dim: int | None = None) -> ImportedStatistics:
    """The checked statistics in ``path``; ``dim``, where known, is the feature space's dimension.
    Every problem found is raised as one ``SpecError`` naming the file and the field."""
    if not path.is_file():
        raise SpecError(f"{path}: statistics file not found")
    try:
        raw = read_regular(path, limit=MAX_BYTES, why=f"FID statistics of d <= {MAX_DIM}")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the statistics file ({exc.strerror or exc})") from None
    problems = _shape_problems(path, _headers(path, raw))
    if problems:
        raise SpecError(problems[0], problems)
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:  # headers checked above: no member holds objects
        mu, sigma = z["mu"].astype(np.float64), z["sigma"].astype(np.float64)
    problems = _value_problems(path, mu, sigma)
    if dim is not None and dim != len(mu):
        problems.append(f"{path}: `mu` and `sigma` are {len(mu)}-d but the feature space gives {dim}-d features; "
                        "they must come from the same feature extractor")
    if problems:
        raise SpecError(problems[0], problems)
    return ImportedStatistics(path, hashlib.sha256(raw).hexdigest(), mu, (sigma + sigma.T) / 2)
