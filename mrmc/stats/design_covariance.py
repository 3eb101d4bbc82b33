"""Figures of merit and their case-sampling covariance over the reads that exist.

For studies that are not fully crossed (:mod:`mrmc.stats.designs`): each reader x
treatment figure of merit is computed over the cases that reader read in that
treatment, and the covariance follows MRMCaov 0.3's conventions for such data:

- jackknife: one case of the whole file left out at a time (a case a reader did not
  read leaves that reader's figure of merit unchanged), factor (N-1)/N with N all cases;
- unbiased: for each pair of (treatment, reader) cells the U-statistic estimate over
  their common cases, theta_x theta_y - D_xy / W_xy, D_xy being the sum of kernel
  products over pairs of (diseased, non-diseased) pairs that share no case and W_xy
  their number; 0 for cells that share no case. For split-plot data this is the
  split-plot OR covariance (readers of different groups uncorrelated).

Both return the full ``(T*R, T*R)`` matrix over the flattened (treatment, reader) index.

References
----------
Gallas BD, Pennello GA, Myers KJ (2007). Multireader multicase variance analysis for
binary data. Journal of the Optical Society of America A 24:B70-B80.
Hillis SL (2014). A marginal-mean ANOVA approach for analyzing multireader multicase
radiological imaging data. Statistics in Medicine 33:330-360.
Hillis SL, Schartz KM (2018). Multireader sample size program for diagnostic studies:
demonstration and methodology. Journal of Medical Imaging 5:045503.
Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software for
diagnostic performance comparison of imaging modalities. Proc. SPIE 11316:113160K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import StudyDataError
from .designs import reader_blocks
from .fom import FigureOfMerit, RankedRatings
from .kernel_sums import kernel_product_sums


def _cell_contributions(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, read: np.ndarray):
    """Per cell (t, r): the cases read and the class contributions of the figure of merit.

    ``ratings`` may carry leading study axes; ``read`` (T, R, N) is shared by all studies.
    """
    n_t, n_r = read.shape[:2]
    for t in range(n_t):
        for r in range(n_r):
            cases = np.flatnonzero(read[t, r])
            parts = fom.case_contributions(ratings[..., t, r, cases], truth[cases])
            if parts is None:
                raise StudyDataError(
                    f"fom={fom.kind!r} is not available for studies that are not fully crossed "
                    "(it has no per-case decomposition); use auc, sens or spec"
                )
            yield t, r, cases, parts


def design_values_and_jackknife(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, read: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Figures of merit (..., T, R) and their jackknife covariance (..., T*R, T*R).

    Notes
    -----
    With class contributions c (placement values for the AUC) over the n cases of its
    class a cell read, leaving out case k gives (n theta - c_k) / (n - 1); a case the
    cell did not read gives theta. cov = (N-1)/N sum_k (theta_(k) - mean)(...)^T over
    all N cases of the study, as MRMCaov 0.3 computes it for any design.
    """
    n_t, n_r, n_cases = read.shape
    lead = ratings.shape[:-3]
    theta = np.empty(lead + (n_t, n_r))
    left_out = np.empty(lead + (n_t * n_r, n_cases))
    for t, r, cases, parts in _cell_contributions(fom, ratings, truth, read):
        value = parts[0].mean(axis=-1)
        theta[..., t, r] = value
        row = left_out[..., t * n_r + r, :]
        row[...] = value[..., None]
        for part, members in zip(parts, (cases[truth[cases]], cases[~truth[cases]]), strict=True):
            size = part.shape[-1]
            row[..., members] = (size * value[..., None] - part) / (size - 1)
    centred = left_out - left_out.mean(axis=-1, keepdims=True)
    return theta, (n_cases - 1) / n_cases * (centred @ centred.swapaxes(-1, -2))


def design_unbiased_covariance(ratings: np.ndarray, truth: np.ndarray, read: np.ndarray) -> np.ndarray:
    """Unbiased covariance of empirical AUCs over common cases (MRMCaov 0.3's ``unbiased``).

    Computed per block of readers who share cases (:func:`mrmc.stats.designs.reader_blocks`);
    cells of different blocks share no case and have covariance 0.
    """
    n_t, n_r, _ = read.shape
    cov = np.zeros((n_t * n_r, n_t * n_r))
    for cells, _, moments in _blocks(ratings, truth, read):
        theta = moments.totals / moments.pairs
        cov[np.ix_(cells, cells)] = np.outer(theta, theta) - moments.distinct_sums / moments.distinct_pairs
    return cov


@dataclass(frozen=True)
class KernelMoments:
    """Sums of AUC kernels psi(diseased, non-diseased) of the (treatment, reader) cells.

    ``totals`` and ``pairs``: each cell's kernel sum and number of case pairs read;
    ``distinct_sums`` and ``distinct_pairs`` (cells x cells): the sum of products
    psi_x(i, j) psi_y(i', j') over i != i', j != j' and the number of such products;
    ``diseased_sums`` and ``normal_sums`` (cells x cases of the class): each case's
    kernel sum over the cases of the other class (0 where not read), and
    ``diseased_read``, ``normal_read`` whether the cell read it.
    """

    totals: np.ndarray
    pairs: np.ndarray
    distinct_sums: np.ndarray
    distinct_pairs: np.ndarray
    diseased_sums: np.ndarray
    normal_sums: np.ndarray
    diseased_read: np.ndarray
    normal_read: np.ndarray


def kernel_moments(ratings: np.ndarray, truth: np.ndarray, read: np.ndarray) -> KernelMoments:
    """:class:`KernelMoments` of every cell of ``ratings[treatment, reader, case]`` (NaN = not read).

    Cells of different reader blocks share no case: their products are all distinct.
    """
    n_t, n_r, _ = read.shape
    n_cells = n_t * n_r
    totals, pairs = np.empty(n_cells), np.empty(n_cells)
    by_case = [np.zeros((n_cells, np.count_nonzero(truth == member))) for member in (True, False) for _ in (0, 1)]
    class_position = np.where(truth, np.cumsum(truth), np.cumsum(~truth)) - 1
    blocks = list(_blocks(ratings, truth, read))
    for cells, cases, moments in blocks:
        totals[cells], pairs[cells] = moments.totals, moments.pairs
        local = (moments.diseased_sums, moments.diseased_read, moments.normal_sums, moments.normal_read)
        for full, part, member in zip(by_case, local, (True, True, False, False), strict=True):
            full[np.ix_(cells, class_position[cases[truth[cases] == member]])] = part
    distinct_sums, distinct_pairs = np.outer(totals, totals), np.outer(pairs, pairs)
    for cells, _, moments in blocks:
        distinct_sums[np.ix_(cells, cells)] = moments.distinct_sums
        distinct_pairs[np.ix_(cells, cells)] = moments.distinct_pairs
    diseased_sums, diseased_read, normal_sums, normal_read = by_case
    return KernelMoments(
        totals, pairs, distinct_sums, distinct_pairs, diseased_sums, normal_sums, diseased_read, normal_read
    )


def _blocks(ratings: np.ndarray, truth: np.ndarray, read: np.ndarray):
    """Per reader block: the flattened (treatment, reader) indices of its cells, its cases and their moments."""
    n_t, n_r, _ = read.shape
    labels = reader_blocks(read)
    for block in range(labels.max() + 1):
        readers = np.flatnonzero(labels == block)
        cases = np.flatnonzero(read[:, readers].any(axis=(0, 1)))
        cells = (np.arange(n_t)[:, None] * n_r + readers[None, :]).ravel()
        block_read = read[:, readers][..., cases].reshape(len(cells), -1)
        block_ratings = ratings[:, readers][..., cases].reshape(len(cells), -1)
        yield cells, cases, _block_moments(block_ratings, truth[cases], block_read)


def _block_moments(ratings: np.ndarray, truth: np.ndarray, read: np.ndarray) -> KernelMoments:
    """:class:`KernelMoments` of one block: ``ratings`` and ``read`` are (cells, cases).

    Notes
    -----
    A diseased case a cell did not read is given a rating below every other and a
    non-diseased one a rating above every other, so that every kernel involving it is
    0; then the row and column sums of each cell's kernel (U, V) and the kernel product
    sums B over common (diseased, non-diseased) pairs
    (:func:`mrmc.stats.kernel_sums.kernel_product_sums`) come from the fully crossed
    machinery, and with S = sum U,
    D_xy = S_x S_y - U_x.U_y - V_x.V_y + B_xy,
    W_xy = p_x q_x p_y q_y - p_x p_y q_xy - q_x q_y p_xy + p_xy q_xy
    (p, q: diseased and non-diseased cases read; p_xy, q_xy: those read by both).
    """
    finite = np.where(read, ratings, 0.0)
    low, high = finite.min() - 1.0, finite.max() + 1.0
    sentinel = np.where(read, ratings, np.where(truth, low, high))
    ranked = RankedRatings.of(sentinel, truth)
    n_diseased, n_normal = int(np.count_nonzero(truth)), int(np.count_nonzero(~truth))
    v10, v01 = ranked.placement_values
    row_sums, column_sums = n_normal * v10, n_diseased * v01
    kernel_products = kernel_product_sums(ranked.diseased, ranked.normal, ranked.n_levels, counts=ranked.counts)
    totals = row_sums.sum(axis=1)
    diseased_read, normal_read = read[:, truth].astype(float), read[:, ~truth].astype(float)
    p, q = diseased_read.sum(axis=1), normal_read.sum(axis=1)
    p_common, q_common = diseased_read @ diseased_read.T, normal_read @ normal_read.T
    return KernelMoments(
        totals=totals,
        pairs=p * q,
        distinct_sums=np.outer(totals, totals) - row_sums @ row_sums.T - column_sums @ column_sums.T + kernel_products,
        distinct_pairs=np.outer(p * q, p * q)
        - np.outer(p, p) * q_common
        - np.outer(q, q) * p_common
        + p_common * q_common,
        diseased_sums=row_sums,
        normal_sums=column_sums,
        diseased_read=diseased_read,
        normal_read=normal_read,
    )
