"""Covariance of the reader x treatment figures of merit across random cases.

Every estimator returns a matrix over the flattened ``(treatment, reader)`` index,
``t * n_readers + r``, shaped ``(T*R, T*R)``.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .fom import FigureOfMerit, placement_values

COV_METHODS = ("jackknife", "delong", "unbiased", "bootstrap")
_GRAM_BLOCK_ELEMENTS = 2**20
_RESAMPLE_BLOCK = 64


def estimate_covariance(
    method: str,
    fom: FigureOfMerit,
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    n_bootstrap: int = 2000,
    seed: int | None = None,
) -> np.ndarray:
    """Dispatch to the named covariance estimator (see :data:`COV_METHODS`)."""
    if method == "jackknife":
        return jackknife_covariance(fom, ratings, truth)
    if method == "delong":
        return delong_covariance(fom, ratings, truth)
    if method == "unbiased":
        if fom.kind != "auc":
            raise ValueError("the unbiased covariance estimator is defined for fom='auc' only")
        return unbiased_covariance(ratings, truth)
    if method == "bootstrap":
        return bootstrap_covariance(fom, ratings, truth, n_resamples=n_bootstrap, seed=seed)
    raise ValueError(f"unknown covariance method {method!r}; choose one of {', '.join(COV_METHODS)}")


def leave_one_out_values(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Figure of merit with each case left out in turn, shaped (..., T*R, n_cases).

    Leading axes of ``ratings`` beyond (treatment, reader, case) are independent studies.

    Notes
    -----
    With case contributions c (placement values for the AUC) and class size n, leaving
    out case k of its class gives (n * theta - c_k) / (n - 1), so all N leave-one-out
    values come in one vectorized pass (diseased cases first, then non-diseased; the
    order does not matter to the covariance). The partial AUC, which has no such
    decomposition, is recomputed under 0/1 case weights for a single study.
    """
    flat = ratings.reshape(ratings.shape[:-3] + (-1, truth.size))
    contributions = fom.case_contributions(flat, truth)
    if contributions is None:
        if ratings.ndim != 3:
            raise ValueError(f"fom={fom.kind!r} supports the jackknife for one study at a time")
        blocks = np.array_split(np.arange(truth.size), max(1, truth.size // _RESAMPLE_BLOCK))
        return np.concatenate(
            [
                fom.weighted_values(ratings, truth, 1.0 - np.eye(truth.size)[block]).reshape(len(block), -1).T
                for block in blocks
            ],
            axis=1,
        )
    theta = contributions[0].mean(axis=-1, keepdims=True)
    return np.concatenate([(part.shape[-1] * theta - part) / (part.shape[-1] - 1) for part in contributions], axis=-1)


def jackknife_covariance(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Jackknife covariance, (K-1)/K * sum over cases of products of centred leave-one-out values.

    Vectorized over leading study axes of ``ratings`` (returns (..., T*R, T*R)).

    References
    ----------
    Efron B (1982). The Jackknife, the Bootstrap and Other Resampling Plans. SIAM.
    Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the
    Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
    characteristic (ROC) data. Statistics in Medicine 24:1579-1607.
    """
    left_out = leave_one_out_values(fom, ratings, truth)
    n_cases = left_out.shape[-1]
    centred = left_out - left_out.mean(axis=-1, keepdims=True)
    return (n_cases - 1) / n_cases * (centred @ centred.swapaxes(-1, -2))


def delong_covariance(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """DeLong covariance S10/n1 + S01/n0 from the structural components (denominators n-1).

    Defined for figures of merit that are class means of case contributions
    (AUC, sensitivity, specificity).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated ROC curves: a nonparametric approach. Biometrics 44:837-845.
    """
    contributions = fom.case_contributions(ratings.reshape(-1, truth.size), truth)
    if contributions is None:
        raise ValueError(f"DeLong covariance is not defined for fom={fom.kind!r}")
    return sum(np.atleast_2d(np.cov(part)) / part.shape[-1] for part in contributions)


def unbiased_covariance(ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Unbiased U-statistic covariance of empirical AUCs (as MRMCaov's ``unbiased``).

    Notes
    -----
    With kernel psi(x, y) = 1{x > y} + 1/2 1{x = y}, the four moments of kernel products
    over pairs of (diseased, non-diseased) pairs that share both cases (A1), only the
    diseased case (A2), only the non-diseased case (A3) or neither (A4) are estimated
    without bias, and
    cov = (A1 + (n0 - 1) A2 + (n1 - 1) A3 + (1 - n0 - n1) A4) / (n0 n1).
    A2-A4 follow from placement values; A1 needs the sum over all pairs of kernel
    products, computed in blocks as a Gram matrix.

    References
    ----------
    Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Academic Radiology
    13:353-362.
    Gallas BD, Bandos A, Samuelson FW, Wagner RF (2009). A framework for random-effects
    ROC analysis: biases with the bootstrap and other variance estimators.
    Communications in Statistics - Theory and Methods 38:2586-2603.
    """
    flat = ratings.reshape(-1, truth.size)
    n1 = int(np.count_nonzero(truth))
    n0 = truth.size - n1
    v10, v01 = placement_values(flat, truth)
    theta = v10.mean(axis=1)
    same_both = _kernel_product_sums(flat[:, truth], flat[:, ~truth])
    same_diseased = n0**2 * (v10 @ v10.T)
    same_normal = n1**2 * (v01 @ v01.T)
    all_pairs = (n0 * n1) ** 2 * np.outer(theta, theta)
    a1 = same_both / (n0 * n1)
    a2 = (same_diseased - same_both) / (n1 * n0 * (n0 - 1))
    a3 = (same_normal - same_both) / (n0 * n1 * (n1 - 1))
    a4 = (all_pairs - same_diseased - same_normal + same_both) / (n1 * (n1 - 1) * n0 * (n0 - 1))
    return (a1 + (n0 - 1) * a2 + (n1 - 1) * a3 + (1 - n0 - n1) * a4) / (n0 * n1)


def _kernel_product_sums(diseased: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Sum over all (diseased i, non-diseased j) of psi_a(i, j) * psi_b(i, j), for all a, b.

    With psi = (1{x > y} + 1{x >= y}) / 2, the doubled kernel takes values 0, 1, 2 and
    is exact in float32: Gram blocks of at most 2**20 pairs (or one diseased case, for up
    to 2**22 non-diseased cases) keep every partial sum below 2**24; blocks are
    accumulated in float64. Buffers are reused across blocks.
    """
    n_foms, n0 = normal.shape
    rows = max(1, min(diseased.shape[1], _GRAM_BLOCK_ELEMENTS // n0))
    comparison = np.empty((n_foms, rows, n0), dtype=bool)
    doubled = np.empty((n_foms, rows, n0), dtype=np.float32)
    total = np.zeros((n_foms, n_foms))
    # A tiny output over a huge inner dimension: BLAS threads gain little here and stall
    # badly when another process holds a core, so the products run single-threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, diseased.shape[1], rows):
            block = diseased[:, start : start + rows, None]
            size = block.shape[1]
            np.greater(block, normal[:, None, :], out=comparison[:, :size])
            np.copyto(doubled[:, :size], comparison[:, :size])
            np.greater_equal(block, normal[:, None, :], out=comparison[:, :size])
            doubled[:, :size] += comparison[:, :size]
            flat = doubled[:, :size].reshape(n_foms, -1)
            total += flat @ flat.T
    return total / 4


def bootstrap_covariance(
    fom: FigureOfMerit,
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    n_resamples: int = 2000,
    seed: int | None = None,
) -> np.ndarray:
    """Stratified bootstrap covariance (cases resampled within truth class, seeded).

    Each resample is an index array per class; it enters as case multiplicities, so the
    figures of merit of a block of resamples are computed in one vectorized call.

    References
    ----------
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    """
    if n_resamples < 2:
        raise ValueError("the bootstrap needs at least 2 resamples")
    rng = np.random.default_rng(seed)
    diseased = np.flatnonzero(truth)
    normal = np.flatnonzero(~truth)
    blocks = []
    for block_size in np.diff(np.r_[0:n_resamples:_RESAMPLE_BLOCK, n_resamples]):
        drawn = np.hstack(
            [members[rng.integers(0, members.size, size=(block_size, members.size))] for members in (diseased, normal)]
        )
        offsets = truth.size * np.arange(block_size)[:, None]
        weights = np.bincount((drawn + offsets).ravel(), minlength=block_size * truth.size)
        weights = weights.reshape(block_size, truth.size)
        blocks.append(fom.weighted_values(ratings, truth, weights).reshape(block_size, -1))
    return np.atleast_2d(np.cov(np.concatenate(blocks), rowvar=False))
