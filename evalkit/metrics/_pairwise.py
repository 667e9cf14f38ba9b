"""One tiled pass over the pairwise inner products, shared by k-NN and KID.

Precision/recall/density/coverage need squared distances |a - b|^2 =
|a|^2 + |b|^2 - 2 a.b, and KID's cubic kernel needs (a.b / d + 1)^3: both are
functions of the same Gram entries a.b. This module walks the Gram matrices
(real x real, fake x fake, fake x real) in square tiles, computes each tile
once with a matrix multiply, and lets every consumer read it before it is
dropped. No N x N matrix exists at any time: memory is a few tiles plus
O(N) per-sample state.

Self pairs (real x real, fake x fake) are symmetric, so only tiles on or above
the diagonal are computed; each serves its rows and, transposed, its columns.

**Exactness.** Tiles are formed in the features' precision (float32 features:
float32 GEMM, as every peer library does). A float32 squared distance is
within ``gamma * (|a|^2 + |b|^2)`` of the exact one, gamma = 2 (d + 4) u, u the
unit round-off (the classical bound for a d-term dot product, doubled for the
input casts and additions). Every k-NN decision whose float32 value lies
outside that band is therefore already exact; the few pairs inside it are
recomputed as sum((a - b)^2) in float64. Results equal a float64 brute force.

KID's kernel values are raised to the cube and summed per subset in float64;
only the Gram entries themselves carry the features' precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._errors import present

TILE = 2048  # rows and columns per tile: 4M entries, 16 MB in float32
KEEP_EXTRA = 16  # float32 neighbours kept per row beyond k + 1, to absorb near-ties
PAIR_CHUNK = 256  # pairs per exact recompute: small enough for the temporaries to stay in cache


def work_dtype(*xs: Tensor) -> torch.dtype:
    return torch.float64 if any(x.dtype == torch.float64 for x in xs) else torch.float32


def unit_roundoff(dtype: torch.dtype) -> float:
    return 2.0**-53 if dtype == torch.float64 else 2.0**-24


def screen_gamma(d: int, dtype: torch.dtype) -> float:
    """Relative width of the screening band: |screened - exact| <= gamma * (|a|^2 + |b|^2).

    2 (d + 4) u covers a d-term dot product with its casts and additions. With
    float64 tiles the float64 reference sum((a - b)^2) rounds on the same scale,
    so the band is doubled there to cover both.
    """
    return (4.0 if dtype == torch.float64 else 2.0) * (d + 4) * unit_roundoff(dtype)


def sq_norms(x: Tensor, chunk: int = 4096) -> Tensor:
    """Squared row norms in float64, a chunk of rows at a time (no full float64 copy)."""
    return torch.cat([x[i : i + chunk].double().pow(2).sum(1) for i in range(0, x.shape[0], chunk)])


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, n, size)]


class Side:
    """One feature set, prepared once: working-precision rows and exact squared norms."""

    def __init__(self, x: Tensor, dtype: torch.dtype):
        self.x = x
        self.w = x if x.dtype == dtype else x.to(dtype)
        self.w = self.w.contiguous()
        self.n2 = sq_norms(x)  # float64, exact enough for the band arithmetic
        self.n2w = self.n2.to(dtype)
        self.n = x.shape[0]


def screened_d2(gram: Tensor, q: Side, i0: int, p: Side, j0: int) -> Tensor:
    """|a|^2 + |b|^2 - 2 a.b for a tile, in place on its Gram block: the formula
    whose rounding ``screen_gamma`` bounds."""
    return gram.mul_(-2).add_(q.n2w[i0 : i0 + gram.shape[0], None]).add_(p.n2w[None, j0 : j0 + gram.shape[1]])


def exact_d2(a: Tensor, b: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Squared distances of the pairs (a[rows[i]], b[cols[i]]), as sum((a - b)^2) in float64."""
    out = torch.empty(rows.shape[0], dtype=torch.float64)
    for c in range(0, rows.shape[0], PAIR_CHUNK):
        diff = a.index_select(0, rows[c : c + PAIR_CHUNK]).double().sub_(b.index_select(0, cols[c : c + PAIR_CHUNK]))
        out[c : c + PAIR_CHUNK] = diff.mul_(diff).sum(1)
    return out


# ---- KID membership ------------------------------------------------------------


def kid_members(n_real: int, n_fake: int, subsets: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """0/1 membership matrices (n x subsets) of KID's random subsets.

    Subset s holds ``randperm(n)[:size]`` of each side, drawn real-then-fake from
    one generator seeded with ``seed``: the same draws as torchmetrics makes after
    ``torch.manual_seed(seed)``, so the two can be compared subset for subset.
    """
    g = torch.Generator().manual_seed(seed)
    mr = torch.zeros(n_real, subsets, dtype=torch.float64)
    mf = torch.zeros(n_fake, subsets, dtype=torch.float64)
    cols = torch.arange(subsets)
    for s in range(subsets):
        mr[torch.randperm(n_real, generator=g)[:size], cols[s]] = 1.0
        mf[torch.randperm(n_fake, generator=g)[:size], cols[s]] = 1.0
    return mr, mf


class KernelSums:
    """Per-subset sums of KID's kernel k = (a.b / d + 1)^3 over the member pairs of one Gram.

    MMD^2 is a small difference of large kernel sums, so the sums must not drift.
    Each tile's kernel is shifted by a constant c (the first tile's mean) before
    it is summed: sum k = sum (k - c) + c * #pairs exactly, and the shifted
    values are small and centred, so the tile-sized sums (a GEMM with the 0/1
    membership matrix, in the tile's precision) lose little; the per-tile
    results are accumulated in float64. Measured against float64 throughout on
    float32 features: within 4e-8 relative, the error of the float32 Gram itself.
    """

    def __init__(self, row_members: Tensor, col_members: Tensor, d: int, dtype: torch.dtype):
        self.rows = row_members  # float64 (n_rows, subsets)
        self.cols = col_members.to(dtype)
        self.d = d
        self.shift: float | None = None
        self.total = torch.zeros(row_members.shape[1], dtype=torch.float64)
        # each row's kernel sum over every column (not only the subsets'): the per-sample
        # influence behind KID's variance (``functional.kid_sd``), read off the same tiles
        self.row_total = torch.zeros(row_members.shape[0], dtype=torch.float64)
        self.row_count = torch.zeros(row_members.shape[0], dtype=torch.float64)

    def add(self, gram: Tensor, i0: int, j0: int, diagonal: bool, mirrored: bool = False) -> None:
        """Add one tile (rows i0.., columns j0..); ``mirrored``: an off-diagonal tile of a
        self Gram, standing also for its transpose."""
        weight = 2.0 if mirrored else 1.0
        k = gram.mul(1.0 / self.d).add_(1.0)
        k = (k * k).mul_(k)
        if self.shift is None:
            # rounded to the tile's precision, so that subtracting it is exact as well
            self.shift = float(k.double().mean().to(k.dtype))
        k.sub_(self.shift)
        if diagonal:
            k.fill_diagonal_(0.0)  # KID's within-set sums leave out each sample with itself
        part = (k @ self.cols[j0 : j0 + k.shape[1]]).double()
        self.total += weight * (part * self.rows[i0 : i0 + k.shape[0]]).sum(0)
        i1, j1 = i0 + k.shape[0], j0 + k.shape[1]
        self.row_total[i0:i1] += k.sum(1, dtype=torch.float64)
        self.row_count[i0:i1] += k.shape[1] - (1 if diagonal else 0)
        if mirrored:
            self.row_total[j0:j1] += k.sum(0, dtype=torch.float64)
            self.row_count[j0:j1] += k.shape[0]

    def sums(self, pairs: float) -> Tensor:
        """The unshifted sums, given the number of pairs each subset sums over."""
        return self.total + (self.shift or 0.0) * pairs

    def row_sums(self) -> Tensor:
        """Each row's unshifted kernel sum over every column (itself left out within a set)."""
        return self.row_total + (self.shift or 0.0) * self.row_count


# ---- running k smallest --------------------------------------------------------


class _Nearest:
    """The ``keep`` smallest screened squared distances of each row, with columns."""

    def __init__(self, n: int, keep: int, dtype: torch.dtype):
        self.keep = keep
        self.vals = torch.full((n, keep), math.inf, dtype=dtype)
        self.idx = torch.full((n, keep), -1, dtype=torch.long)

    def offer(self, r0: int, d2: Tensor, c0: int) -> None:
        """Merge a tile's rows (rows r0.., columns c0..) into the running lists."""
        kk = min(self.keep, d2.shape[1])
        tv, ti = d2.topk(kk, dim=1, largest=False, sorted=False)
        r1 = r0 + d2.shape[0]
        v = torch.cat([self.vals[r0:r1], tv], 1)
        i = torch.cat([self.idx[r0:r1], ti + c0], 1)
        bv, bi = v.topk(self.keep, dim=1, largest=False, sorted=True)
        self.vals[r0:r1] = bv
        self.idx[r0:r1] = i.gather(1, bi)


def _exact_kth(q: Side, p: Side, near: _Nearest, ks: list[int], gamma: float, want_index: bool):
    """Exact float64 k-th smallest squared distances (k counted from 1) of every row.

    With slack_i bounding the screening error of every entry in row i, and F_k
    the screened k-th smallest value, the exact k-th smallest E_k lies in
    [F_k - slack, F_k + slack]. So an entry screened above F_k + 2 slack cannot
    be among the k smallest, and one screened below F_k - 2 slack surely
    is: only the entries between need exact values, and E_k is the
    (k - #surely-below)-th smallest of them. A row whose every kept entry is
    below the upper limit may have more outside the kept list: it is
    recomputed against all points.
    """
    kmin, kmax = min(ks), max(ks)
    slack = gamma * (q.n2 + p.n2.max())
    vals = near.vals.double()
    upper = vals[:, kmax - 1] + 2 * slack
    lower = vals[:, kmin - 1] - 2 * slack
    if want_index:  # the nearest point itself must be identified, so nothing counts as surely below
        lower = torch.full_like(lower, -math.inf)
    # strictly below: such an entry's exact value is strictly below E_kmin, so the
    # k-th order statistic is unaffected by how it ties with the candidates
    below = (vals < lower[:, None]).sum(1)
    cand = (vals >= lower[:, None]) & (vals <= upper[:, None])
    overflow = (vals[:, -1] <= upper) & (near.keep < p.n)
    cand[overflow] = False
    rows, pos = cand.nonzero(as_tuple=True)
    cols = near.idx[rows, pos]
    padded = torch.full(cand.shape, math.inf, dtype=torch.float64)
    padded[rows, pos] = exact_d2(q.x, p.x, rows, cols)
    order = padded.sort(dim=1)
    values = {k: order.values.gather(1, (k - 1 - below)[:, None]).squeeze(1) for k in ks}
    index = near.idx.gather(1, order.indices[:, :1]).squeeze(1) if want_index else None
    for r in overflow.nonzero().flatten().tolist():
        v, i = _exact_row(q, p, r, float(upper[r]))
        for k in ks:
            values[k][r] = v[k - 1]
        if index is not None:
            index[r] = i[0]
    return values, index


def _exact_row(q: Side, p: Side, r: int, limit: float) -> tuple[Tensor, Tensor]:
    """Sorted exact squared distances of row r to every point screened within ``limit``."""
    d2 = (q.n2w[r] + p.n2w) - 2 * (p.w @ q.w[r])
    cols = (d2.double() <= limit).nonzero().flatten()
    exact = exact_d2(q.x, p.x, torch.full_like(cols, r), cols)
    v, o = exact.sort()
    return v, cols[o]


# ---- the passes ----------------------------------------------------------------


@dataclass
class SelfResult:
    kth: dict[int, Tensor]  # k -> exact squared distance to the k-th nearest other row
    kid_sums: KernelSums | None  # per subset: the kernel over distinct pairs in it
    # the ``neighbours`` nearest other rows of each row, ascending, exact: (n, neighbours)
    nbr_idx: Tensor | None = None
    nbr_d2: Tensor | None = None


def _exact_neighbours(side: Side, near: _Nearest, count: int, gamma: float) -> tuple[Tensor, Tensor]:
    """Indices and exact squared distances of each row's ``count`` nearest other rows.

    As in ``_exact_kth``: kept entries screened within 2 slack of the (count+1)-th
    kept value (the row itself is among the kept) are recomputed exactly; a row
    whose every kept entry lies within that limit is recomputed against all rows.
    """
    slack = gamma * (side.n2 + side.n2.max())
    vals = near.vals.double()
    upper = vals[:, min(count, vals.shape[1] - 1)] + 2 * slack
    rows = torch.arange(side.n)[:, None].expand_as(near.idx)
    cand = (vals <= upper[:, None]) & (near.idx != rows)
    r, pos = cand.nonzero(as_tuple=True)
    padded = torch.full(cand.shape, math.inf, dtype=torch.float64)
    padded[r, pos] = exact_d2(side.x, side.x, r, near.idx[r, pos])
    order = padded.sort(dim=1)
    d2, idx = order.values[:, :count].clone(), near.idx.gather(1, order.indices[:, :count])
    overflow = (vals[:, -1] <= upper) & (near.keep < side.n)
    for row in overflow.nonzero().flatten().tolist():
        v, i = _exact_row(side, side, row, float(upper[row]))
        other = i != row
        d2[row], idx[row] = v[other][:count], i[other][:count]
    return idx, d2


def _self_tiles(side: Side, near: "_Nearest | None", sums: KernelSums | None) -> None:
    """The upper triangle of the self Gram, a tile at a time, fed to the nearest lists and KID's sums."""
    spans = _spans(side.n, TILE)
    for a, (i0, i1) in enumerate(spans):
        for j0, j1 in spans[a:]:
            diagonal = i0 == j0
            g = side.w[i0:i1] @ side.w[j0:j1].T
            if sums is not None:
                sums.add(g, i0, j0, diagonal, mirrored=not diagonal)
            if near is not None:
                d2 = screened_d2(g, side, i0, side, j0)
                near.offer(i0, d2, j0)
                if not diagonal:
                    near.offer(j0, d2.T.contiguous(), i0)  # topk along rows of a copy: faster than down columns


def self_pass(side: Side, ks: list[int], members: Tensor | None, gamma: float, neighbours: int = 0) -> SelfResult:
    """Within-set pass: k-NN radii (k counted without the row itself), KID's within-set
    sums and, if asked, the ``neighbours`` nearest other rows of each row (exact)."""
    n, d = side.n, side.x.shape[1]
    keep = min(n, max([*ks, neighbours]) + 1 + KEEP_EXTRA) if ks or neighbours else 0
    near = _Nearest(n, keep, side.w.dtype) if keep else None
    sums = KernelSums(members, members, d, side.w.dtype) if members is not None else None
    if near is None and sums is None:
        return SelfResult({}, None)  # nothing asked of this side (density alone): no Gram to multiply
    _self_tiles(side, near, sums)
    kth: dict[int, Tensor] = {}
    if near is not None:
        # the row itself is its own nearest entry (distance 0): the k-th other row is entry k + 1
        if ks:
            values, _ = _exact_kth(side, side, near, [k + 1 for k in ks], gamma, False)
            kth = {k: values[k + 1] for k in ks}
    if neighbours:
        idx, d2 = _exact_neighbours(side, present(near, "the neighbour buffer of a self pass"), neighbours, gamma)
        return SelfResult(kth, sums, idx, d2)
    return SelfResult(kth, sums)


def nearest(q: Side, p: Side, gamma: float) -> tuple[Tensor, Tensor]:
    """Exact squared distance from each query row to its nearest point, and that point's index."""
    near = _Nearest(q.n, min(p.n, 1 + KEEP_EXTRA), q.w.dtype)
    for i0, i1 in _spans(q.n, TILE):
        for j0, j1 in _spans(p.n, TILE):
            d2 = screened_d2(q.w[i0:i1] @ p.w[j0:j1].T, q, i0, p, j0)
            near.offer(i0, d2, j0)
    values, index = _exact_kth(q, p, near, [1], gamma, True)
    return values[1], index


class _Threshold:
    """Exact ``d2 <= t`` on screened tiles, t a float64 vector along rows or columns."""

    def __init__(self, t: Tensor, norms: Tensor, other_max: float, gamma: float, u: float, dtype: torch.dtype):
        band = gamma * (norms + other_max) + t.abs() * (4 * u)
        self.t = t
        # rounded outwards, so that the cast to the tile's precision never narrows the band
        self.lo = torch.nextafter((t - band).to(dtype), torch.tensor(-math.inf, dtype=dtype))
        self.hi = torch.nextafter((t + band).to(dtype), torch.tensor(math.inf, dtype=dtype))

    def pairs(self, d2: Tensor, along_rows: bool, sl: slice, q: Side, p: Side, i0: int, j0: int) -> tuple[Tensor, Tensor, Tensor]:
        """(row, column, on_boundary) of every tile entry whose exact squared distance is <= t;
        ``on_boundary`` marks those exactly equal to t (in a closed ball, not in an open one).

        One dense comparison finds the entries that may qualify (few: a k-NN ball
        holds about k of N points); the rest is done on that sparse list.
        """
        shape = (-1, 1) if along_rows else (1, -1)
        r, c = (d2 <= self.hi[sl].view(shape)).nonzero(as_tuple=True)
        boundary = torch.zeros(r.shape[0], dtype=torch.bool)
        if r.numel():
            by = r if along_rows else c
            unsure = d2[r, c] > self.lo[sl][by]  # the rest is surely strictly inside
            if bool(unsure.any()):
                exact = exact_d2(q.x, p.x, r[unsure] + i0, c[unsure] + j0)
                t = self.t[sl][by[unsure]]
                keep = torch.ones_like(unsure)
                keep[unsure] = exact <= t
                boundary[unsure] = exact == t
                r, c, boundary = r[keep], c[keep], boundary[keep]
        return r, c, boundary


@dataclass
class CrossResult:
    """k-NN ball memberships. Precision and recall use closed balls (d <= r), as
    Kynkäänniemi et al.'s released code does; density and coverage use open balls
    (d < r), as Naeem et al.'s released code does. The two differ only on exact ties."""

    fake_in_real: dict[int, Tensor]  # k -> bool (M,): in some closed real ball
    ball_count: dict[int, Tensor]  # k -> float64 (M,): number of open real balls holding it
    real_covered: dict[int, Tensor]  # k -> bool (N,): the real open ball holds some fake sample
    real_in_fake: dict[int, Tensor]  # k -> bool (N,): in some closed fake ball
    kid_sums: KernelSums | None
    # k -> long (N,): how many fake samples the real open ball holds, and one of them
    # (the only one where the count is 1): what deleting a fake sample uncovers
    real_hits: dict[int, Tensor] = field(default_factory=dict)
    real_one: dict[int, Tensor] = field(default_factory=dict)
    # k -> (fake, real) index pairs: the real sample in the fake sample's closed k-ball,
    # and in its closed ball of the next radius (for fake_outer's ks only)
    fake_ball_pairs: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    fake_outer_pairs: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    # k -> float64 (2,): over the (fake, real open ball) pairs, the sums of the ball's two
    # landscape columns (for the ks given a landscape: what density's upper bound borrows)
    landscape_sums: dict[int, Tensor] = field(default_factory=dict)


def _cat_pairs(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    if not parts:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty
    return torch.cat([a for a, _ in parts]), torch.cat([b for _, b in parts])


def _thresholds(kth: dict[int, Tensor], own: Side, other: Side, gamma: float) -> dict[int, "_Threshold"]:
    """Per k, the screening band of ``own``'s k-NN balls against ``other``'s points."""
    u, dtype, omax = unit_roundoff(own.w.dtype), own.w.dtype, float(other.n2.max())
    return {k: _Threshold(t, own.n2, omax, gamma, u, dtype) for k, t in kth.items()}


def _empty_cross(fake: Side, real: Side, by_real: dict, by_fake: dict, members) -> CrossResult:
    d, dtype = fake.x.shape[1], fake.w.dtype
    return CrossResult(
        {k: torch.zeros(fake.n, dtype=torch.bool) for k in by_real},
        {k: torch.zeros(fake.n, dtype=torch.float64) for k in by_real},
        {k: torch.zeros(real.n, dtype=torch.bool) for k in by_real},
        {k: torch.zeros(real.n, dtype=torch.bool) for k in by_fake},
        KernelSums(members[1], members[0], d, dtype) if members is not None else None,
        {k: torch.zeros(real.n, dtype=torch.long) for k in by_real},
        {k: torch.full((real.n,), -1, dtype=torch.long) for k in by_real},
    )


def _in_real_balls(out: CrossResult, by_real: dict, d2: Tensor, fake: Side, real: Side,
                   rows: tuple[int, int], cols: tuple[int, int], landscape: dict[int, Tensor]) -> None:
    """One tile's fake samples inside the real balls (closed for precision; open, as `prdc`
    counts them, for density and coverage)."""
    (i0, _), (j0, j1) = rows, cols
    for k, th in by_real.items():
        r, c, boundary = th.pairs(d2, False, slice(j0, j1), fake, real, i0, j0)
        out.fake_in_real[k][r + i0] = True
        r, c = r[~boundary], c[~boundary]
        if k in landscape:
            out.landscape_sums[k] += landscape[k][c + j0].sum(0)
        out.ball_count[k].index_add_(0, r + i0, torch.ones(r.shape[0], dtype=torch.float64))
        out.real_covered[k][c + j0] = True
        out.real_hits[k].index_add_(0, c + j0, torch.ones(c.shape[0], dtype=torch.long))
        out.real_one[k][c + j0] = r + i0


def _in_fake_balls(out: CrossResult, by_fake: dict, by_outer: dict, inner: dict, outer: dict, d2: Tensor,
                   fake: Side, real: Side, rows: tuple[int, int], cols: tuple[int, int]) -> None:
    """One tile's real samples inside the fake balls, and for recall's jackknife the pairs
    inside the k- and (k+1)-balls."""
    (i0, i1), (j0, _) = rows, cols
    for k, th in by_fake.items():
        r, c, _ = th.pairs(d2, True, slice(i0, i1), fake, real, i0, j0)
        out.real_in_fake[k][c + j0] = True
        if k in by_outer:
            inner[k].append((r + i0, c + j0))
            r, c, _ = by_outer[k].pairs(d2, True, slice(i0, i1), fake, real, i0, j0)
            outer[k].append((r + i0, c + j0))


def cross_pass(fake: Side, real: Side, real_kth: dict[int, Tensor], fake_kth: dict[int, Tensor],
               members: tuple[Tensor, Tensor] | None, gamma: float,
               fake_outer: dict[int, Tensor] | None = None,
               landscape: dict[int, Tensor] | None = None) -> CrossResult:
    """Fake-by-real pass: membership of samples in the other set's k-NN balls, and KID's cross sums.

    ``fake_outer[k]``: for recall's jackknife, each fake sample's squared (k+1)-th
    neighbour distance; the pairs inside those larger balls are collected too.
    ``landscape[k]``: per real ball, values (N, 2) summed over the fake samples in it
    (``landscape_sums``): a weighted count, no extra pass.
    """
    landscape = landscape or {}
    by_real = _thresholds(real_kth, real, fake, gamma)
    by_fake = _thresholds(fake_kth, fake, real, gamma)
    by_outer = _thresholds(fake_outer or {}, fake, real, gamma)
    out = _empty_cross(fake, real, by_real, by_fake, members)
    out.landscape_sums = {k: torch.zeros(2, dtype=torch.float64) for k in landscape if k in by_real}
    inner: dict[int, list] = {k: [] for k in by_outer}
    outer: dict[int, list] = {k: [] for k in by_outer}
    need_d2 = bool(by_real or by_fake)
    for i0, i1 in _spans(fake.n, TILE):
        for j0, j1 in _spans(real.n, TILE):
            g = fake.w[i0:i1] @ real.w[j0:j1].T
            if out.kid_sums is not None:
                out.kid_sums.add(g, i0, j0, False)
            if not need_d2:
                continue
            d2 = screened_d2(g, fake, i0, real, j0)
            _in_real_balls(out, by_real, d2, fake, real, (i0, i1), (j0, j1), landscape)
            _in_fake_balls(out, by_fake, by_outer, inner, outer, d2, fake, real, (i0, i1), (j0, j1))
    out.fake_ball_pairs = {k: _cat_pairs(v) for k, v in inner.items()}
    out.fake_outer_pairs = {k: _cat_pairs(v) for k, v in outer.items()}
    return out
