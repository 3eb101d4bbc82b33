"""U-statistic MRMC analysis of reader-averaged AUCs for any design, as iMRMC 4.0 computes it.

Each treatment's reader average weights a reader by the (non-diseased, diseased) case
pairs read: A_t = sum_r S_tr / sum_r n0_tr n1_tr, S_tr being the reader's kernel sum.
Its variance and the covariance between treatments are the one-shot unbiased estimates

    cov(A_t, A_u) = A_t A_u - M8_tu,

M8_tu being the mean of the kernel products psi_tr(i, j) psi_ur'(i', j') pooled over
all pairs of different readers r != r' and cases i != i', j != j' (each product weight 1).
Tests use Student's t with the BDG degrees of freedom truncated to an integer, or the
normal distribution once they reach 50 (:func:`bdg_df`); normal tests are given too.

References
----------
Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Academic Radiology 13:353-362.
Gallas BD, Brown DG (2008). Reader studies for validation of CAD systems. Neural Networks
21:387-397.
Gallas BD, Bandos A, Samuelson FW, Wagner RF (2009). A framework for random-effects ROC
analysis: biases with the bootstrap and other variance estimators. Communications in
Statistics - Theory and Methods 38:2586-2603.
Obuchowski NA, Gallas BD, Hillis SL (2012). Multi-reader ROC studies with split-plot
designs: a comparison of statistical methods. Academic Radiology 19:1508-1517.
Gaylor DW, Hopper FN (1969). Estimating the degrees of freedom for linear combinations of
mean squares by Satterthwaite's formula. Technometrics 11:691-706.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special

from .design_covariance import KernelMoments, kernel_moments
from .designs import StudyDesign


@dataclass(frozen=True)
class UStatEstimate:
    """A reader-averaged AUC or a difference of two (first minus second treatment).

    The single-treatment test is against AUC 0.5, the difference against 0 (as iMRMC).
    ``p`` and ``ci`` use the t distribution with ``df_used`` = int(``df``) (BDG) degrees of
    freedom, or the normal once ``df`` >= 50 (``df_used`` None); ``p_normal`` and
    ``ci_normal`` always the normal.
    """

    label: str
    estimate: float
    variance: float
    se: float
    statistic: float
    df: float
    df_used: int | None
    p: float
    ci: tuple[float, float]
    p_normal: float
    ci_normal: tuple[float, float]


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
    components = _mean_square_components(moments, n_t, n_r)
    freedom = np.array([np.count_nonzero(~truth), np.count_nonzero(truth), n_r]) - 1.0
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
            _test(
                treatments[t],
                means[t] - 0.5,
                covariance[t, t],
                bdg_df(covariance[t, t], components[t, t], freedom),
                alpha,
                null=0.5,
            )
            for t in range(n_t)
        ),
        differences=tuple(
            _test(
                f"{treatments[a]} - {treatments[b]}",
                means[a] - means[b],
                variance,
                bdg_df(variance, components[a, a] + components[b, b] - 2 * components[a, b], freedom),
                alpha,
            )
            for a, b in combinations(range(n_t), 2)
            for variance in [covariance[a, a] + covariance[b, b] - 2 * covariance[a, b]]
        ),
        design=design,
    )


def _mean_square_components(moments: KernelMoments, n_t: int, n_r: int) -> np.ndarray:
    """Biased (plug-in) BCK components of normal cases, diseased cases and readers, (T, T, 3).

    Notes
    -----
    Each is a plug-in moment minus the plug-in squared mean: the mean kernel product over
    pairs of reads sharing the non-diseased case, the diseased case or the reader
    (products pooled with weight 1 each), less A_t A_u (iMRMC's M7, M6, M4 minus M8).
    """
    cells = np.arange(n_t * n_r).reshape(n_t, n_r)
    p, q = moments.diseased_read.sum(axis=1), moments.normal_read.sum(axis=1)
    shared = []
    for sums, weights in (
        (moments.normal_sums, p[:, None] * moments.normal_read),
        (moments.diseased_sums, q[:, None] * moments.diseased_read),
    ):
        by_treatment = np.stack([sums[row].sum(axis=0) for row in cells])
        weight_by_treatment = np.stack([weights[row].sum(axis=0) for row in cells])
        shared.append((by_treatment @ by_treatment.T) / (weight_by_treatment @ weight_by_treatment.T))
    totals, pairs = moments.totals[cells], moments.pairs[cells]
    shared.append((totals @ totals.T) / (pairs @ pairs.T))
    squared_mean = np.outer(totals.sum(axis=1), totals.sum(axis=1)) / np.outer(pairs.sum(axis=1), pairs.sum(axis=1))
    return np.stack(shared, axis=-1) - squared_mean[..., None]


def bdg_df(variance: float, mean_squares: np.ndarray, freedom: np.ndarray) -> float:
    """BDG degrees of freedom (iMRMC's calcDF_BDGms), at least min(freedom) and 2.

    Satterthwaite's formula on the plug-in case and reader components: variance^2 /
    sum_k (MS_k / df_k)^2 / df_k, with df = N0 - 1, N1 - 1 and readers - 1 (the study's
    totals); the floor follows Gaylor & Hopper (1969).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        df = variance**2 / np.sum((mean_squares / freedom) ** 2 / freedom)
    return float(max(df, freedom.min(), 2.0))


def _test(label: str, estimate: float, variance: float, df: float, alpha: float, null: float = 0.0) -> UStatEstimate:
    """t test (df truncated to an integer, normal from df 50) and normal test of ``estimate`` = 0."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a variance estimate <= 0 leaves no test
        se = np.sqrt(variance) if variance > 0 else np.nan
        statistic = estimate / se
    df_used = int(df) if df < 50 else None
    z_quantile = special.ndtri(1 - alpha / 2)
    quantile = z_quantile if df_used is None else special.stdtrit(df_used, 1 - alpha / 2)
    p_normal = float(2 * special.ndtr(-abs(statistic)))
    center = estimate + null
    return UStatEstimate(
        label=label,
        estimate=float(center),
        variance=float(variance),
        se=float(se),
        statistic=float(statistic),
        df=df,
        df_used=df_used,
        p=p_normal if df_used is None else float(2 * special.stdtr(df_used, -abs(statistic))),
        ci=(float(center - quantile * se), float(center + quantile * se)),
        p_normal=p_normal,
        ci_normal=(float(center - z_quantile * se), float(center + z_quantile * se)),
    )
