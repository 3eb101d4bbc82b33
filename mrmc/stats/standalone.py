"""The AI's standalone performance and its comparison with the readers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

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


@dataclass(frozen=True)
class AIVersusReaders:
    """Readers' mean figure of merit minus the AI's, readers and AI fixed, cases random."""

    ai_fom: float
    readers_mean_fom: float
    difference: float
    se: float
    z: float
    p: float
    ci: tuple[float, float]


def ai_versus_readers(
    reader_ratings: np.ndarray,
    ai_scores: np.ndarray,
    truth: np.ndarray,
    *,
    fom: FigureOfMerit,
    cov: str = "jackknife",
    alpha: float = 0.05,
    n_bootstrap: int = 2000,
    seed: int | None = None,
) -> AIVersusReaders:
    """Compare the readers' mean figure of merit with the AI's, the AI taken as one more fixed reader.

    Parameters
    ----------
    reader_ratings : array_like, shape (n_readers, n_cases)
        The readers' ratings in one arm.
    ai_scores : array_like, shape (n_cases,)
    fom : FigureOfMerit
        A rank-based figure of merit ('auc' or 'pauc'), so that the AI's score scale
        need not be the readers'.

    Notes
    -----
    With the case-sampling covariance S of the J reader FOMs and the AI's (the chosen
    estimator), the difference D = mean_j theta_j - theta_AI with weights
    w = (1/J, ..., 1/J, -1) has Var(D) = w' S w: the fixed-reader (FRRC) analysis of
    Obuchowski & Rockette (1995) applied to the J + 1 "readers" of one modality, with a
    z test.

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and
    Computation 24:285-308.
    Hillis SL (2007). A comparison of denominator degrees of freedom methods for
    multiple observer ROC analysis. Statistics in Medicine 26:596-619.
    """
    if fom.kind not in ("auc", "pauc"):
        raise ValueError("the AI is compared with the readers on a rank-based figure of merit (auc or pauc)")
    reader_ratings = np.asarray(reader_ratings, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    stacked = np.vstack([reader_ratings, np.asarray(ai_scores, dtype=float)[None, :]])[None]
    theta = fom.values(stacked, truth)[0]
    covariance = estimate_covariance(cov, fom, stacked, truth, n_bootstrap=n_bootstrap, seed=seed)
    n_readers = reader_ratings.shape[0]
    weights = np.r_[np.full(n_readers, 1.0 / n_readers), -1.0]
    difference = float(weights @ theta)
    se = float(np.sqrt(max(weights @ covariance @ weights, 0.0)))
    z = difference / se if se > 0 else float("nan")
    quantile = stats.norm.ppf(1 - alpha / 2)
    return AIVersusReaders(
        ai_fom=float(theta[-1]),
        readers_mean_fom=float(theta[:-1].mean()),
        difference=difference,
        se=se,
        z=z,
        p=float(2 * stats.norm.sf(abs(z))),
        ci=(difference - quantile * se, difference + quantile * se),
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
