"""Inter-reader agreement: Cohen's kappa of two raters and Fleiss' kappa of several on categorical decisions, each
with a confidence interval; intraclass correlation on ratings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa with its standard error under the null hypothesis of chance agreement (for the test) and its
    large-sample standard error and confidence interval (for the estimate)."""

    kappa: float
    observed_agreement: float
    chance_agreement: float
    se_null: float
    z: float
    p: float
    n_cases: int
    n_readers: int
    se: float = float("nan")
    ci: tuple[float, float] = (float("nan"), float("nan"))


def fleiss_kappa(decisions: np.ndarray, *, alpha: float = 0.05) -> FleissKappa:
    """Fleiss' kappa for several readers rating every case into categories.

    Parameters
    ----------
    decisions : array_like, shape (n_readers, n_cases)
        Category of each read (any hashable numbers, e.g. 0/1 recall decisions).
    alpha : float
        1 - confidence level of ``ci``.

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
    That variance holds only where kappa is 0, so the confidence interval kappa +- z se uses the
    large-sample variance of Gwet (2008), clipped to [-1, 1], with the sampling fraction 0: with
    kappa_i = (P_i - P_e) / (1 - P_e), P_e|i = sum_j p_j n_ij / n and
    kappa_i* = kappa_i - 2 (1 - kappa) (P_e|i - P_e) / (1 - P_e),
    Var = sum_i (kappa_i* - kappa)^2 / (N (N - 1)).

    References
    ----------
    Fleiss JL (1971). Measuring nominal scale agreement among many raters.
    Psychological Bulletin 76:378-382.
    Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the case of
    different sets of raters. Psychological Bulletin 86:974-977.
    Gwet KL (2008). Variance estimation of nominal-scale inter-rater reliability with random
    selection of raters. Psychometrika 73:407-430.
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
    case_kappas = (per_case - chance) / (1.0 - chance)
    case_chance = counts @ shares / n_readers
    linearized = case_kappas - 2 * (1 - kappa) * (case_chance - chance) / (1.0 - chance)
    se = float(np.sqrt(np.sum((linearized - kappa) ** 2) / (n_cases * (n_cases - 1)))) if n_cases > 1 else float("nan")
    return FleissKappa(kappa, observed, chance, se_null, z, float(2 * stats.norm.sf(abs(z))), n_cases, n_readers,
                       se, _normal_interval(kappa, se, alpha))


@dataclass(frozen=True)
class CohenKappa:
    """Cohen's kappa of two raters with its large-sample standard error and confidence interval, and the
    standard error under chance agreement with the test of kappa = 0."""

    kappa: float
    observed_agreement: float
    chance_agreement: float
    se: float
    ci: tuple[float, float]
    se_null: float
    z: float
    p: float
    n_cases: int


def cohen_kappa(first: np.ndarray, second: np.ndarray, *, alpha: float = 0.05) -> CohenKappa:
    """Cohen's (unweighted) kappa of two raters' categories of the same cases.

    Parameters
    ----------
    first, second : array_like, shape (n_cases,)
        Each rater's category of each case (any hashable numbers).
    alpha : float
        1 - confidence level of ``ci``.

    Notes
    -----
    With p_ij the share of cases rater 1 puts in i and rater 2 in j, margins p_i. and p_.j,
    P_o = sum_i p_ii and P_e = sum_i p_i. p_.i: kappa = (P_o - P_e) / (1 - P_e) (Cohen 1960).
    The large-sample variance is that of Fleiss, Cohen & Everitt (1969), eq. 13:
    Var = [sum_i p_ii (1 - (p_i. + p_.i)(1 - kappa))^2 + (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
           - (kappa - P_e (1 - kappa))^2] / (N (1 - P_e)^2),
    and under kappa = 0 (their eq. 14): Var0 = [P_e + P_e^2 - sum_i p_i. p_.i (p_i. + p_.i)] / (N (1 - P_e)^2).
    The interval is kappa +- z se, clipped to [-1, 1].

    References
    ----------
    Cohen J (1960). A coefficient of agreement for nominal scales. Educational and Psychological
    Measurement 20:37-46.
    Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and weighted kappa.
    Psychological Bulletin 72:323-327.
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim != 1 or first.size < 1:
        raise ValueError("Cohen's kappa needs the two raters' categories of the same cases")
    n_cases = first.size
    _, codes = np.unique(np.concatenate([first, second]), return_inverse=True)
    k = codes.max() + 1
    table = np.zeros((k, k))
    np.add.at(table, (codes[:n_cases], codes[n_cases:]), 1)
    table /= n_cases
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    observed, chance = float(np.trace(table)), float(rows @ cols)
    if chance >= 1.0:  # both raters used one and the same category throughout
        nan = float("nan")
        return CohenKappa(nan, observed, chance, nan, (nan, nan), nan, nan, nan, n_cases)
    kappa = (observed - chance) / (1.0 - chance)
    margins = rows[:, None] + cols[None, :]  # p_i. + p_.j
    off = ~np.eye(k, dtype=bool)
    variance = (np.sum(np.diag(table) * (1 - np.diag(margins) * (1 - kappa)) ** 2)
                + (1 - kappa) ** 2 * np.sum(table[off] * (cols[:, None] + rows[None, :])[off] ** 2)
                - (kappa - chance * (1 - kappa)) ** 2) / (n_cases * (1 - chance) ** 2)
    variance_null = (chance + chance**2 - np.sum(rows * cols * (rows + cols))) / (n_cases * (1 - chance) ** 2)
    se, se_null = float(np.sqrt(max(variance, 0.0))), float(np.sqrt(max(variance_null, 0.0)))
    z = kappa / se_null if se_null > 0 else float("nan")
    return CohenKappa(kappa, observed, chance, se, _normal_interval(kappa, se, alpha), se_null, z,
                      float(2 * stats.norm.sf(abs(z))), n_cases)


def _normal_interval(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    """The Wald interval, clipped to kappa's range [-1, 1]: near perfect agreement on few cases it would
    otherwise reach past 1, a value kappa cannot take."""
    half = stats.norm.ppf(1 - alpha / 2) * se
    return float(max(estimate - half, -1.0)), float(min(estimate + half, 1.0))


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
