"""The AI's standalone performance and its comparison with the readers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from .covariance import estimate_covariance
from .fom import FigureOfMerit, auc


@dataclass(frozen=True)
class StandaloneAUC:
    auc: float
    se: float
    ci: tuple[float, float]
    n_normal: int
    n_abnormal: int


def standalone_auc(scores: np.ndarray, truth: np.ndarray, *, alpha: float = 0.05) -> StandaloneAUC:
    """Empirical AUC of one score with its DeLong standard error and Wald interval.

    The interval is AUC +/- z SE clipped to [0, 1], as pROC's ``ci.auc(method = "delong")``.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated ROC curves: a nonparametric approach. Biometrics 44:837-845.
    """
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    area = float(auc(scores, truth))
    variance = estimate_covariance("delong", FigureOfMerit("auc"), scores[None, None, :], truth)
    se = float(np.sqrt(variance[0, 0]))
    z = stats.norm.ppf(1 - alpha / 2)
    return StandaloneAUC(
        auc=area,
        se=se,
        ci=(max(area - z * se, 0.0), min(area + z * se, 1.0)),
        n_normal=int(np.count_nonzero(~truth)),
        n_abnormal=int(np.count_nonzero(truth)),
    )


AI_COMPARISON_METHODS = ("rrrc", "frrc", "rrfc")
_METHOD_NAMES = {
    "rrrc": "1T-RRRC: readers and cases random (Hillis 2007 sec. 5.3, as RJafroc's StCadVsRad)",
    "frrc": "FRRC: readers fixed, cases random (the AI as one more fixed reader, z test)",
    "rrfc": "1T-RRFC: readers random, cases fixed (one-sample t test of the reader - AI differences)",
}


@dataclass(frozen=True)
class ReaderMinusAITest:
    """Test of the mean reader - AI difference; fields are arrays with one value per study
    when :func:`reader_minus_ai_test` is given several."""

    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    df: np.ndarray | None
    p: np.ndarray
    ms_r: np.ndarray
    var_error: np.ndarray
    cov2: np.ndarray


def reader_minus_ai_test(differences: np.ndarray, covariance: np.ndarray, *, method: str = "rrrc") -> ReaderMinusAITest:
    """Test that the readers' mean figure of merit equals the AI's, from the differences.

    Vectorized over leading axes (independent studies, as in a simulation).

    Parameters
    ----------
    differences : ndarray, shape (..., J)
        Each reader's figure of merit minus the AI's, psi_j = theta_j - theta_AI.
    covariance : ndarray, shape (..., J, J)
        Case-sampling covariance of the differences.
    method : {'rrrc', 'frrc', 'rrfc'}

    Notes
    -----
    The differences follow a single-treatment OR model whose error terms have variance Var
    (mean diagonal of ``covariance``) and between-reader covariance Cov2 (mean off-diagonal).
    With MS(R) the sample variance of the psi_j (Hillis 2007, sec. 5.3, p. 607):

    - 1T-RRRC: t = mean(psi) / sqrt(den / J), den = MS(R) + J max(Cov2, 0),
      df = den^2 / (MS(R)^2 / (J - 1)) (Hillis's ddf). When the case-sampling covariance
      between readers is not positive this is the one-sample t test of the psi_j.
    - FRRC: z = mean(psi) / sqrt((Var + (J - 1) Cov2) / J): only cases random.
    - 1T-RRFC: t = mean(psi) / sqrt(MS(R) / J), df = J - 1: only readers random.

    References
    ----------
    Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple
    observer ROC analysis. Statistics in Medicine 26:596-619 (section 5.3).
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging: Foundations,
    Modeling, and Applications with R-Based Examples. CRC Press, chapter "Standalone CAD
    vs. radiologists" (1T-RRRC; RJafroc's ``StSignificanceTestingCadVsRad``).
    Hupse R, Samulski M, Lobbes M, et al. (2013). Standalone computer-aided detection
    compared to radiologists' performance for the detection of mammographic masses.
    European Radiology 23:93-100 (1T-RRFC).
    """
    if method not in AI_COMPARISON_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(AI_COMPARISON_METHODS)}")
    n_readers = differences.shape[-1]
    if method != "frrc" and n_readers < 2:
        raise ValueError(f"method {method!r} takes readers as random and needs at least two readers; use 'frrc'")
    estimate = differences.mean(axis=-1)
    ms_r = differences.var(axis=-1, ddof=1) if n_readers > 1 else np.zeros_like(estimate)
    var_error = np.diagonal(covariance, axis1=-2, axis2=-1).mean(axis=-1)
    off_diagonal = covariance.sum(axis=(-2, -1)) - var_error * n_readers
    cov2 = off_diagonal / (n_readers * (n_readers - 1)) if n_readers > 1 else np.zeros_like(estimate)
    df = None
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread: statistic NaN, df infinite
        if method == "rrrc":
            denominator = ms_r + n_readers * np.maximum(cov2, 0.0)
            df = denominator**2 / (ms_r**2 / (n_readers - 1))
        elif method == "rrfc":
            denominator, df = ms_r, np.full_like(estimate, n_readers - 1.0)
        else:
            denominator = var_error + (n_readers - 1) * cov2
        se = np.sqrt(np.maximum(denominator, 0.0) / n_readers)
        statistic = estimate / se
    tail = special.ndtr(-np.abs(statistic)) if df is None else special.stdtr(df, -np.abs(statistic))
    return ReaderMinusAITest(estimate, se, statistic, df, 2 * tail, ms_r, var_error, cov2)


@dataclass(frozen=True)
class AIVersusReaders:
    """Readers' mean figure of merit minus the AI's (reader - AI, as RJafroc's StCadVsRad).

    ``method`` names the generalization (see :data:`AI_COMPARISON_METHODS`) and
    ``method_description`` says what it takes as random; ``df`` is None for the z test.
    ``ms_r``, ``var_error`` and ``cov2`` are the single-treatment OR components of the
    reader - AI differences.
    """

    method: str
    method_description: str
    ai_fom: float
    readers_mean_fom: float
    difference: float
    se: float
    statistic: float
    df: float | None
    p: float
    ci: tuple[float, float]
    reader_differences: tuple[float, ...]
    ms_r: float
    var_error: float
    cov2: float


def ai_versus_readers(
    reader_ratings: np.ndarray,
    ai_scores: np.ndarray,
    truth: np.ndarray,
    *,
    fom: FigureOfMerit,
    method: str = "rrrc",
    cov: str = "jackknife",
    alpha: float = 0.05,
    n_bootstrap: int = 2000,
    seed: int | None = None,
) -> AIVersusReaders:
    """Compare the readers' mean figure of merit with the AI's standalone figure of merit.

    Parameters
    ----------
    reader_ratings : array_like, shape (n_readers, n_cases)
        The readers' ratings in one arm.
    ai_scores : array_like, shape (n_cases,)
    fom : FigureOfMerit
        A rank-based figure of merit ('auc' or 'pauc'), so that the AI's score scale
        need not be the readers'.
    method : {'rrrc', 'frrc', 'rrfc'}
        'rrrc' (default): readers and cases random, the 1T-RRRC analysis of Chakraborty
        (2017) and Hillis (2007); a claim about readers in general needs it. 'frrc': the
        AI as one more fixed reader (a statement about these readers only). 'rrfc':
        cases fixed. See :func:`reader_minus_ai_test`.
    cov : {'jackknife', 'delong', 'unbiased', 'bootstrap'}
        Case-sampling covariance estimator of the J + 1 figures of merit; the differences'
        covariance follows from it.

    Returns
    -------
    AIVersusReaders
        The difference is readers' mean minus the AI's (positive: readers better).

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and
    Computation 24:285-308. See also :func:`reader_minus_ai_test`.
    """
    if fom.kind not in ("auc", "pauc"):
        raise ValueError("the AI is compared with the readers on a rank-based figure of merit (auc or pauc)")
    reader_ratings = np.asarray(reader_ratings, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    stacked = np.vstack([reader_ratings, np.asarray(ai_scores, dtype=float)[None, :]])[None]
    theta = fom.values(stacked, truth)[0]
    covariance = estimate_covariance(cov, fom, stacked, truth, n_bootstrap=n_bootstrap, seed=seed)
    to_differences = np.hstack([np.eye(len(theta) - 1), -np.ones((len(theta) - 1, 1))])
    differences = to_differences @ theta
    test = reader_minus_ai_test(differences, to_differences @ covariance @ to_differences.T, method=method)
    df = None if test.df is None else float(test.df)
    quantile = special.ndtri(1 - alpha / 2) if df is None else special.stdtrit(df, 1 - alpha / 2)
    estimate, se = float(test.estimate), float(test.se)
    return AIVersusReaders(
        method=method,
        method_description=_METHOD_NAMES[method],
        ai_fom=float(theta[-1]),
        readers_mean_fom=float(theta[:-1].mean()),
        difference=estimate,
        se=se,
        statistic=float(test.statistic),
        df=df,
        p=float(test.p),
        ci=(estimate - quantile * se, estimate + quantile * se),
        reader_differences=tuple(map(float, differences)),
        ms_r=float(test.ms_r),
        var_error=float(test.var_error),
        cov2=float(test.cov2),
    )


def empirical_roc(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (FPR, TPR) of the empirical ROC curve, from (0, 0) to (1, 1), one per distinct score."""
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_pos = np.cumsum(truth[order])[last_of_tie]
    false_pos = np.cumsum(~truth[order])[last_of_tie]
    tpr = np.r_[0.0, true_pos / truth.sum()]
    fpr = np.r_[0.0, false_pos / (~truth).sum()]
    return fpr, tpr
