"""Inter-reader agreement: Fleiss' kappa on categorical decisions, intraclass correlation on ratings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa with its standard error under the null hypothesis of chance agreement."""

    kappa: float
    observed_agreement: float
    chance_agreement: float
    se_null: float
    z: float
    p: float
    n_cases: int
    n_readers: int


def fleiss_kappa(decisions: np.ndarray) -> FleissKappa:
    """Fleiss' kappa for several readers rating every case into categories.

    Parameters
    ----------
    decisions : array_like, shape (n_readers, n_cases)
        Category of each read (any hashable numbers, e.g. 0/1 recall decisions).

    Returns
    -------
    FleissKappa

    Notes
    -----
    With n readers, N cases and n_ij readers putting case i in category j,
    P_i = (sum_j n_ij^2 - n) / (n (n - 1)), P_bar its mean, p_j the category shares and
    P_e = sum_j p_j^2: kappa = (P_bar - P_e) / (1 - P_e). The null standard error is
    that of Fleiss, Nee & Landis (1979), with q_j = 1 - p_j:
    Var0 = 2 / (N n (n - 1)) [(sum p_j q_j)^2 - sum p_j q_j (q_j - p_j)] / (sum p_j q_j)^2.

    References
    ----------
    Fleiss JL (1971). Measuring nominal scale agreement among many raters.
    Psychological Bulletin 76:378-382.
    Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the case of
    different sets of raters. Psychological Bulletin 86:974-977.
    """
    decisions = np.asarray(decisions)
    n_readers, n_cases = decisions.shape
    if n_readers < 2 or n_cases < 1:
        raise ValueError("Fleiss' kappa needs at least two readers and one case")
    _, codes = np.unique(decisions, return_inverse=True)
    counts = np.zeros((n_cases, codes.max() + 1))
    np.add.at(counts, (np.tile(np.arange(n_cases), n_readers), codes.ravel()), 1)
    shares = counts.sum(axis=0) / (n_cases * n_readers)
    per_case = (np.sum(counts**2, axis=1) - n_readers) / (n_readers * (n_readers - 1))
    observed, chance = float(per_case.mean()), float(np.sum(shares**2))
    if chance >= 1.0:  # every read in one category: agreement is perfect but kappa undefined
        return FleissKappa(float("nan"), observed, chance, float("nan"), float("nan"), float("nan"), n_cases, n_readers)
    kappa = (observed - chance) / (1.0 - chance)
    pq = shares * (1 - shares)
    spread = (pq.sum() ** 2 - np.sum(pq * (1 - 2 * shares))) / pq.sum() ** 2
    se_null = float(np.sqrt(2.0 / (n_cases * n_readers * (n_readers - 1)) * max(spread, 0.0)))
    z = kappa / se_null if se_null > 0 else float("nan")
    return FleissKappa(kappa, observed, chance, se_null, z, float(2 * stats.norm.sf(abs(z))), n_cases, n_readers)


@dataclass(frozen=True)
class IntraclassCorrelation:
    """Two-way intraclass correlations of single ratings with F-based confidence intervals."""

    icc_agreement: float  # ICC(2,1) = ICC(A,1): absolute agreement, readers random
    ci_agreement: tuple[float, float]
    icc_consistency: float  # ICC(3,1) = ICC(C,1): consistency, readers fixed
    ci_consistency: tuple[float, float]
    ms_cases: float
    ms_readers: float
    ms_error: float
    n_cases: int
    n_readers: int


def intraclass_correlation(ratings: np.ndarray, *, alpha: float = 0.05) -> IntraclassCorrelation:
    """ICC(2,1) and ICC(3,1) of ratings from a two-way (case x reader) ANOVA.

    Parameters
    ----------
    ratings : array_like, shape (n_readers, n_cases)
        Every reader rates every case.
    alpha : float
        1 - confidence level.

    Notes
    -----
    With mean squares BMS (cases), JMS (readers) and EMS (residual), k readers and n cases:
    ICC(2,1) = (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n) and
    ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS) (Shrout & Fleiss 1979, Table 1).
    The interval for ICC(3,1) uses F = BMS / EMS; the one for ICC(2,1) uses the
    Satterthwaite degrees of freedom of McGraw & Wong (1996), Table 7, case 2A.

    References
    ----------
    Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater
    reliability. Psychological Bulletin 86:420-428.
    McGraw KO, Wong SP (1996). Forming inferences about some intraclass correlation
    coefficients. Psychological Methods 1:30-46.
    """
    x = np.asarray(ratings, dtype=float).T  # cases x readers
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError("the ICC needs at least two readers and two cases")
    grand = x.mean()
    ms_cases = k * np.sum((x.mean(axis=1) - grand) ** 2) / (n - 1)
    ms_readers = n * np.sum((x.mean(axis=0) - grand) ** 2) / (k - 1)
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ms_error = np.sum(residual**2) / ((n - 1) * (k - 1))
    agreement = (ms_cases - ms_error) / (ms_cases + (k - 1) * ms_error + k * (ms_readers - ms_error) / n)
    consistency = (ms_cases - ms_error) / (ms_cases + (k - 1) * ms_error)
    return IntraclassCorrelation(
        icc_agreement=float(agreement),
        ci_agreement=_agreement_interval(ms_cases, ms_readers, ms_error, agreement, n, k, alpha),
        icc_consistency=float(consistency),
        ci_consistency=_consistency_interval(ms_cases, ms_error, n, k, alpha),
        ms_cases=float(ms_cases),
        ms_readers=float(ms_readers),
        ms_error=float(ms_error),
        n_cases=n,
        n_readers=k,
    )


def _consistency_interval(ms_cases, ms_error, n, k, alpha) -> tuple[float, float]:
    """McGraw & Wong (1996) Table 7, case 3 (single measures, consistency)."""
    f_observed = ms_cases / ms_error
    f_low = f_observed / stats.f.ppf(1 - alpha / 2, n - 1, (n - 1) * (k - 1))
    f_high = f_observed * stats.f.ppf(1 - alpha / 2, (n - 1) * (k - 1), n - 1)
    return float((f_low - 1) / (f_low + k - 1)), float((f_high - 1) / (f_high + k - 1))


def _agreement_interval(ms_cases, ms_readers, ms_error, icc, n, k, alpha) -> tuple[float, float]:
    """McGraw & Wong (1996) Table 7, case 2A (single measures, absolute agreement)."""
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * ms_readers + b * ms_error) ** 2 / (
        (a * ms_readers) ** 2 / (k - 1) + (b * ms_error) ** 2 / ((n - 1) * (k - 1))
    )
    f_upper = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_lower = stats.f.ppf(1 - alpha / 2, v, n - 1)
    low = n * (ms_cases - f_upper * ms_error) / (f_upper * (k * ms_readers + (k * n - k - n) * ms_error) + n * ms_cases)
    high = n * (f_lower * ms_cases - ms_error) / (k * ms_readers + (k * n - k - n) * ms_error + n * f_lower * ms_cases)
    return float(low), float(high)
