"""Sums of products of the AUC kernel over all pairs of (diseased, non-diseased) cases.

These are the A1 moments of the unbiased U-statistic covariance of empirical AUCs
(:func:`mrmc.stats.covariance.unbiased_covariance`), the only part of it that needs
more than placement values: O(n0 n1) work per figure of merit, done in bounded memory
by 2-D histograms of coarse bins (:func:`_binned_product_sums`) or, for the reader
average only, by tiles of case pairs (:func:`_tiled_reader_sums`).

References
----------
Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Academic Radiology
13:353-362.
"""

from __future__ import annotations

import numpy as np

from . import parallel
from .fom import level_counts

_PAIR_BLOCK_ELEMENTS = 2**20
_BIN_COST_RATIO = 1 / 3
# reader-averaged sums: tiles of case pairs evaluated at once, and the measured cost of
# a histogram cell and of a within-bin pair entry relative to one kernel entry of a tile
# (which picks the cheaper algorithm)
_TILE_PAIRS = 49_152
_HISTOGRAM_CELL_COST = 75
_WITHIN_BIN_COST = 35
# tiles whose own-reader products a byte counter holds before it is summed
_OWN_COUNT_FLUSH = np.iinfo(np.uint8).max


def kernel_product_sums(
    diseased: np.ndarray,
    normal: np.ndarray,
    n_levels: int,
    n_readers: int | None = None,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Sum over all (diseased i, non-diseased j) of psi_a(i, j) * psi_b(i, j), for all a, b.

    This is n0 n1 times the A1 moment of Gallas (2006): per pair of figures of merit,
    a two-dimensional dominance count, the non-diseased points (y_aj, y_bj) below the
    diseased point (x_ai, x_bi) in both coordinates, with weight 1/2 for a tie in
    either coordinate (1/4 for both). Rows are the integer rating levels of the
    flattened (treatment, reader) figures of merit.

    With ``n_readers``, entries between different readers need only be right in their
    mean per pair of treatments (see
    :func:`mrmc.stats.covariance.reader_averaged_covariance`); those means
    come from kernels summed over readers (:func:`_tiled_reader_sums`, O(n0 n1) per
    figure of merit) where that is cheaper than counting every pair
    (:func:`_binned_product_sums`). ``counts`` may pass the :func:`level_counts` of
    ``diseased`` and ``normal``.
    """
    n_foms, n_diseased = diseased.shape
    n_bins = min(n_levels, _coarse_bin_count(n_diseased + normal.shape[1]))
    if n_readers is not None:
        case_pairs = n_diseased * normal.shape[1]
        if counts is None:
            counts = level_counts(diseased, n_levels), level_counts(normal, n_levels)
        tied = bool(np.any((counts[0] > 0) & (counts[1] > 0)))  # a rating shared by both classes
        within_bin = n_foms**2 * case_pairs / n_bins if n_bins < n_levels else 0
        binned_cost = _HISTOGRAM_CELL_COST * n_foms * (n_foms + 1) / 2 * n_bins**2 + _WITHIN_BIN_COST * within_bin
        if n_foms * case_pairs * (2 if tied else 1) < binned_cost:
            dtype = np.int16 if n_levels <= np.iinfo(np.int16).max else np.int32
            shape = (n_foms // n_readers, n_readers, -1)
            diseased, normal = (np.ascontiguousarray(part, dtype=dtype).reshape(shape) for part in (diseased, normal))
            return _tiled_reader_sums(diseased, normal, tied, _self_product_sums(*counts))
    return _binned_product_sums(diseased, normal, n_levels, n_bins)


def _binned_product_sums(diseased: np.ndarray, normal: np.ndarray, n_levels: int, n_bins: int) -> np.ndarray:
    """Kernel product sums of every pair, from 2-D histograms of coarse bins and corrections.

    The levels are grouped into ``n_bins`` consecutive bins. With psi = psi_c + r / 2,
    where psi_c is the kernel of the bins and r = sign(x - y) for cases sharing a bin
    (0 otherwise),

        S_ab = H_ab + (rho_a + rho_b + P_ab + P_ba - W_ab) / 4,

    H_ab being the sum of psi_c,a psi_c,b, counted on 2-D histograms of the bins
    (:func:`_histogram_product_sums`, O(bins^2) per pair), and rho_a, P_ab and W_ab the
    sums of r_a, r_a r_b and r_a r_b 1{same bin of b} over the case pairs that share a
    bin of a (:func:`_within_bin_sums`, about n0 n1 / bins pairs per a). On rating
    scales with few levels every level is its own bin and r vanishes. All terms are
    sums of integers and quarters, exact in float64.
    """
    n_diseased = diseased.shape[1]
    levels = np.concatenate([diseased, normal], axis=1)
    bins = (levels * np.int64(n_bins) // n_levels).astype(np.int32)
    total = _histogram_product_sums(bins[:, :n_diseased], bins[:, n_diseased:], n_bins)
    if n_bins < n_levels:
        own, signs, same_bin = _within_bin_sums(levels, bins, n_diseased)
        total += (own[:, None] + own[None, :] + signs + signs.T - same_bin) / 4
    return total


def _coarse_bin_count(n_cases: int) -> int:
    """Bins balancing the histogram cost (bins^2 per pair) against the case pairs sharing a bin."""
    return max(1, round((_BIN_COST_RATIO * n_cases**2) ** (1 / 3)))


def _histogram_product_sums(diseased: np.ndarray, normal: np.ndarray, n_levels: int) -> np.ndarray:
    """Kernel product sums of integer levels 0..n_levels-1, via 2-D histograms.

    For a pair (a, b), the non-diseased cases are counted per cell (level a, level b);
    since psi_a psi_b is separable, a half-weighted cumulative sum along each axis
    (cumsum - count / 2) turns this into the psi-weighted count below every cell,
    which is then summed over the cells of the diseased cases. Pairs a <= b are done
    in blocks of at most about ``_PAIR_BLOCK_ELEMENTS`` cells.
    """
    first, second = np.triu_indices(diseased.shape[0])
    block = max(1, _PAIR_BLOCK_ELEMENTS // (n_levels**2 + diseased.shape[1] + normal.shape[1]))
    sums = np.concatenate(
        [
            _pair_histogram_sums(diseased, normal, n_levels, first[part], second[part])
            for part in np.array_split(np.arange(first.size), -(-first.size // block))
        ]
    )
    total = np.empty((diseased.shape[0], diseased.shape[0]))
    total[first, second] = sums
    total[second, first] = sums
    return total


def _pair_histogram_sums(
    diseased: np.ndarray, normal: np.ndarray, n_levels: int, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Dominance sums of the pairs (first[k], second[k]) of figures of merit.

    The weighted counts are kept quadrupled (2 cumsum - count per axis), as integers.
    """
    offsets = n_levels**2 * np.arange(first.size)[:, None]
    cells = offsets + n_levels * normal[first] + normal[second]
    below = np.bincount(cells.ravel(), minlength=first.size * n_levels**2).astype(np.int32)
    below = below.reshape(first.size, n_levels, n_levels)
    for axis in (1, 2):
        weighted = np.cumsum(below, axis=axis, dtype=np.int32)
        weighted *= 2
        weighted -= below
        below = weighted
    cells = offsets + n_levels * diseased[first] + diseased[second]
    return below.ravel()[cells].sum(axis=1, dtype=np.int64) / 4


def _within_bin_sums(levels: np.ndarray, bins: np.ndarray, n_diseased: int) -> tuple[np.ndarray, ...]:
    """rho_a, P_ab and W_ab of :func:`_binned_product_sums`, over case pairs sharing a bin of a.

    ``levels`` and ``bins`` hold the pooled cases, diseased first. Each pair enters as
    (higher, lower) in level a, so that r_a r_b = sign(level_b(higher) - level_b(lower)).
    Cases are gathered as rows (case, figure of merit), which are contiguous copies.
    """
    case_levels = np.ascontiguousarray(levels.T)
    case_bins = np.ascontiguousarray(bins.T)
    n_foms = levels.shape[0]
    own = np.empty(n_foms)
    signs = np.empty((n_foms, n_foms))
    same_bin = np.empty((n_foms, n_foms))
    for a in range(n_foms):
        higher, lower = _same_bin_pairs(levels[a], bins[a], n_diseased)
        sign = np.sign(case_levels[higher] - case_levels[lower])
        own[a] = 2 * np.count_nonzero(higher < n_diseased) - higher.size
        signs[a] = sign.sum(axis=0)
        same_bin[a] = np.where(case_bins[higher] == case_bins[lower], sign, 0).sum(axis=0)
    return own, signs, same_bin


def _same_bin_pairs(levels: np.ndarray, bins: np.ndarray, n_diseased: int) -> tuple[np.ndarray, np.ndarray]:
    """Pooled indices (higher, lower) of the (diseased, non-diseased) pairs sharing a bin, untied."""
    normal_order = n_diseased + np.argsort(bins[n_diseased:], kind="stable")
    normal_count = np.bincount(bins[n_diseased:], minlength=bins.max() + 1)
    normal_start = np.cumsum(normal_count) - normal_count
    repeats = normal_count[bins[:n_diseased]]
    diseased = np.repeat(np.arange(n_diseased), repeats)
    within = np.arange(diseased.size) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    normal = normal_order[np.repeat(normal_start[bins[:n_diseased]], repeats) + within]
    above = levels[diseased] > levels[normal]
    below = levels[diseased] < levels[normal]
    return np.r_[diseased[above], normal[below]], np.r_[normal[above], diseased[below]]


def _tiled_reader_sums(diseased: np.ndarray, normal: np.ndarray, tied: bool, self_products: np.ndarray) -> np.ndarray:
    """Kernel product sums of each reader's own pairs, and reader-averaged ones between readers.

    ``diseased`` and ``normal`` are integer levels shaped (T, R, n). The kernels are
    evaluated tile by tile of case pairs: 2 psi = 1{x > y} + 1{x >= y}, or psi = 1{x > y}
    when no rating of one class equals one of the other (``tied`` False). Per pair of
    treatments (t, u), the products of the kernels summed over readers total
    sum_{r, r'} S(t r, u r'); less each reader's own S(t r, u r), this is the total over
    different readers, whose mean fills every different-reader entry. Own products
    between treatments are counted in the tiles; those of a kernel with itself, which
    follow from level counts, are passed as ``self_products`` (per figure of merit).
    Tiles are shared between threads (NumPy releases the GIL in its loops); their size
    (``_TILE_PAIRS``) is the measured balance between the overhead of a NumPy call and
    the cache its buffers occupy.
    """
    n_t, n_r, n_diseased = diseased.shape
    # float32 sums of reader-summed kernel products along a tile row are exact below 2^24
    width = min(n_diseased, _TILE_PAIRS, max(1, 2**24 // ((2 if tied else 1) * n_r) ** 2))
    height = max(1, _TILE_PAIRS // width)
    tiles = [
        (slice(row, row + height), slice(column, column + width))
        for row in range(0, normal.shape[2], height)
        for column in range(0, n_diseased, width)
    ]
    parts = [tiles[k :: parallel.THREADS] for k in range(min(parallel.THREADS, len(tiles)))]
    sums = sum(parallel.map_parts(lambda part: _tile_reader_sums(diseased, normal, tied, height, width, part), parts))
    sums /= 4 if tied else 1
    own, treatment_totals = sums[:n_r], sums[n_r]
    own[:, np.arange(n_t), np.arange(n_t)] = self_products.reshape(n_t, n_r).T
    result = np.empty((n_t, n_r, n_t, n_r))
    if n_r > 1:
        result[...] = ((treatment_totals - own.sum(axis=0)) / (n_r * (n_r - 1)))[:, None, :, None]
    result[:, np.arange(n_r), :, np.arange(n_r)] = own
    return result.reshape(n_t * n_r, n_t * n_r)


def _fill_kernels(diseased: np.ndarray, normal: np.ndarray, tile: tuple[slice, slice], kernels, scratch) -> None:
    """Write the tile's kernels into the byte buffer ``kernels`` (T, R, height, width):
    1{x > y}, plus 1{x >= y} (2 psi) when a ``scratch`` buffer of the same shape is given.
    Rows and columns beyond a smaller tile's edge are 0."""
    x = diseased[:, :, None, tile[1]]
    y = normal[:, :, tile[0], None]
    rows, columns = y.shape[2], x.shape[3]
    np.greater(x, y, out=kernels[:, :, :rows, :columns].view(bool))
    if scratch is not None:
        np.greater_equal(x, y, out=scratch[:, :, :rows, :columns].view(bool))
        np.add(kernels, scratch, out=kernels)
    if rows < kernels.shape[2] or columns < kernels.shape[3]:
        kernels[:, :, rows:] = 0
        kernels[..., columns:] = 0


def _tile_reader_sums(
    diseased: np.ndarray, normal: np.ndarray, tied: bool, height: int, width: int, tiles
) -> np.ndarray:
    """Sums over tiles shaped (R + 1, T, T): each reader's kernel products between
    treatments (diagonal left 0), then the products of the reader-summed kernels.

    The kernels are bytes: psi = 1{x > y}, or 2 psi = 1{x > y} + 1{x >= y} when ``tied``.
    A reader's own products are multiplied bytes added into byte counters, which are
    summed before they could overflow (and at least every ``_OWN_COUNT_FLUSH`` tiles).
    Per-tile results go to preallocated rows and are summed once at the end, so that
    a tile costs only a few NumPy calls.
    """
    n_t, n_r = diseased.shape[:2]
    top = 2 if tied else 1  # largest kernel value
    kernels = np.zeros((n_t, n_r, height, width), dtype=np.uint8)
    scratch = np.zeros(kernels.shape, dtype=np.uint8) if tied else None
    flat_kernels = kernels.reshape(n_t, n_r, -1)
    kernel_sum_type = np.uint8 if top * n_r <= np.iinfo(np.uint8).max else np.uint16
    reader_sum = np.empty((n_t, height, width), dtype=kernel_sum_type)
    exact_in_float32 = (top * n_r) ** 2 * width < 2**24
    reader_sum_float = np.empty(reader_sum.shape, dtype=np.float32 if exact_in_float32 else np.float64)
    all_pairs = list(zip(*np.triu_indices(n_t), strict=True))
    treatment_pairs = [(t, u) for t, u in all_pairs if t < u]
    # the views each tile works on, made once: the loop runs NumPy calls and little else
    sum_pairs = [(reader_sum_float[t], reader_sum_float[u]) for t, u in all_pairs]
    kernel_pairs = [(flat_kernels[t], flat_kernels[u]) for t, u in treatment_pairs]
    sum_products = np.zeros((len(tiles), len(sum_pairs)))
    own = np.zeros((len(kernel_pairs), n_r))
    own_counts = np.zeros((len(kernel_pairs),) + flat_kernels.shape[1:], dtype=np.uint8)
    product = np.empty(own_counts.shape[1:], dtype=np.uint8)
    flush_every = min(_OWN_COUNT_FLUSH, np.iinfo(np.uint8).max // top**2)
    for index, tile in enumerate(tiles):
        _fill_kernels(diseased, normal, tile, kernels, scratch)
        np.add.reduce(kernels, axis=1, dtype=kernel_sum_type, out=reader_sum)
        np.positive(reader_sum, out=reader_sum_float, casting="unsafe")
        for k, (first, second) in enumerate(sum_pairs):  # not matmul: BLAS is slow at this shape
            sum_products[index, k] = np.vecdot(first, second).sum(dtype=np.float64)
        for k, (first, second) in enumerate(kernel_pairs):
            np.multiply(first, second, out=product)
            np.add(own_counts[k], product, out=own_counts[k])
        if (index + 1) % flush_every == 0 or index + 1 == len(tiles):
            own += own_counts.sum(axis=-1, dtype=np.uint64)
            own_counts[...] = 0
    sums = np.zeros((n_r + 1, n_t, n_t))
    for (t, u), total in zip(all_pairs, sum_products.sum(axis=0), strict=True):
        sums[n_r, t, u] = sums[n_r, u, t] = total
    for (t, u), row in zip(treatment_pairs, own, strict=True):
        sums[:n_r, t, u] = sums[:n_r, u, t] = row
    return sums


def _self_product_sums(diseased_counts: np.ndarray, normal_counts: np.ndarray) -> np.ndarray:
    """Sum of psi^2 = 1{x > y} + 1/4 1{x = y} over case pairs, per row of level counts."""
    quadruple_below = 4 * np.cumsum(normal_counts, axis=-1) - 3 * normal_counts  # 4 below + ties: integers
    return np.vecdot(diseased_counts, quadruple_below) / 4
