"""U-statistic MRMC analysis of reader-averaged AUCs for any design, as iMRMC 4.0 computes it.

Each treatment's reader average weights a reader by the (non-diseased, diseased) case
pairs read: A_t = sum_r S_tr / sum_r n0_tr n1_tr, S_tr being the reader's kernel sum.
Its variance and the covariance between treatments are the one-shot unbiased estimates

    cov(A_t, A_u) = A_t A_u - M8_tu,

M8_tu being the mean of the kernel products psi_tr(i, j) psi_ur'(i', j') pooled over
all pairs of different readers r != r' and cases i != i', j != j' (each product weight 1).
Differences are tested with the normal distribution.

References
----------
Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Academic Radiology 13:353-362.
Gallas BD, Brown DG (2008). Reader studies for validation of CAD systems. Neural Networks
21:387-397.
Gallas BD, Bandos A, Samuelson FW, Wagner RF (2009). A framework for random-effects ROC
analysis: biases with the bootstrap and other variance estimators. Communications in
Statistics - Theory and Methods 38:2586-2603.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special

from .design_covariance import kernel_moments
from .designs import StudyDesign


@dataclass(frozen=True)
class UStatEstimate:
    """A reader-averaged AUC or a difference of two (first minus second treatment), normal test.

    The single-treatment test is against AUC 0.5, the difference against 0 (as iMRMC).
    """

    label: str
    estimate: float
    variance: float
    se: float
    statistic: float
    p: float
    ci: tuple[float, float]


@dataclass(frozen=True, eq=False)
class UStatResult:
    """The U-statistic analysis of :func:`ustat_analysis`."""

    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    n_normal: int
    n_abnormal: int
    alpha: float
    fom_table: np.ndarray
    reader_weights: np.ndarray
    treatment_means: np.ndarray
    covariance: np.ndarray
    treatment_estimates: tuple[UStatEstimate, ...]
    differences: tuple[UStatEstimate, ...]
    design: StudyDesign | None = None
    method: str = "ustat"


def ustat_analysis(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    treatments: tuple[str, ...],
    readers: tuple[str, ...],
    design: StudyDesign | None = None,
    alpha: float = 0.05,
) -> UStatResult:
    """U-statistic analysis of empirical AUCs (NaN ratings = reads that do not exist).

    Returns
    -------
    UStatResult
        Reader AUCs, pair weights, pair-weighted treatment means, their (T, T)
        covariance, and per treatment and pair of treatments a normal test and CI.
    """
    n_t, n_r, _ = ratings.shape
    moments = kernel_moments(ratings, truth, ~np.isnan(ratings))
    totals, pairs = moments.totals.reshape(n_t, n_r), moments.pairs.reshape(n_t, n_r)
    means = totals.sum(axis=1) / pairs.sum(axis=1)
    other_reader = np.broadcast_to(~np.eye(n_r, dtype=bool)[None, :, None, :], (n_t, n_r, n_t, n_r))
    shape = (n_t, n_r, n_t, n_r)
    sums = np.where(other_reader, moments.distinct_sums.reshape(shape), 0.0).sum(axis=(1, 3))
    counts = np.where(other_reader, moments.distinct_pairs.reshape(shape), 0.0).sum(axis=(1, 3))
    covariance = np.outer(means, means) - sums / counts
    quantile = special.ndtri(1 - alpha / 2)
    return UStatResult(
        treatments=treatments,
        readers=readers,
        n_normal=int(np.count_nonzero(~truth)),
        n_abnormal=int(np.count_nonzero(truth)),
        alpha=alpha,
        fom_table=totals / pairs,
        reader_weights=pairs,
        treatment_means=means,
        covariance=covariance,
        treatment_estimates=tuple(
            _normal_test(treatments[t], means[t], covariance[t, t], 0.5, quantile) for t in range(n_t)
        ),
        differences=tuple(
            _normal_test(
                f"{treatments[a]} - {treatments[b]}",
                means[a] - means[b],
                covariance[a, a] + covariance[b, b] - 2 * covariance[a, b],
                0.0,
                quantile,
            )
            for a, b in combinations(range(n_t), 2)
        ),
        design=design,
    )


def _normal_test(label: str, estimate: float, variance: float, null: float, quantile: float) -> UStatEstimate:
    with np.errstate(invalid="ignore", divide="ignore"):  # a variance estimate <= 0 leaves no test
        se = np.sqrt(variance) if variance > 0 else np.nan
        statistic = (estimate - null) / se
    return UStatEstimate(
        label=label,
        estimate=float(estimate),
        variance=float(variance),
        se=float(se),
        statistic=float(statistic),
        p=float(2 * special.ndtr(-abs(statistic))),
        ci=(float(estimate - quantile * se), float(estimate + quantile * se)),
    )
