"""Reading time per arm and its relative change between two arms, with reader and case clustering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ArmTimes:
    """Reading time of one arm over all its reads (seconds)."""

    n_reads: int
    mean: float
    median: float
    q1: float
    q3: float


@dataclass(frozen=True)
class TimeComparison:
    """Second arm against the first over reader x case pairs read in both.

    ``ratio`` is mean(second) / mean(first) (the relative change is ratio - 1) and
    ``difference`` is mean(second) - mean(first); intervals account for correlation
    within readers and within cases.
    """

    n_pairs: int
    n_readers: int
    n_cases: int
    ratio: float
    ratio_ci: tuple[float, float]
    difference: float
    difference_se: float
    difference_ci: tuple[float, float]
    df: int


def arm_times(seconds: np.ndarray) -> ArmTimes:
    """Mean, median and quartiles of the finite entries of ``seconds`` (NaN = not timed)."""
    values = np.asarray(seconds, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ArmTimes(0, float("nan"), float("nan"), float("nan"), float("nan"))
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return ArmTimes(int(values.size), float(values.mean()), float(median), float(q1), float(q3))


def two_way_cluster_variance(scores: np.ndarray, readers: np.ndarray, cases: np.ndarray) -> float:
    """Variance of the mean of centred ``scores`` clustered by reader and by case.

    Notes
    -----
    V = (S_reader + S_case - S_cell) / N^2 with S_g the sum over clusters g of the squared
    cluster totals; each reader x case cell holds one observation, so the intersection
    term is the sum of squares (Cameron, Gelbach & Miller 2011, eq. 2.13; Miglioretti &
    Heagerty 2004 use the same two-way sandwich for reader-study data).

    References
    ----------
    Cameron AC, Gelbach JB, Miller DL (2011). Robust inference with multiway clustering.
    Journal of Business & Economic Statistics 29:238-249.
    """
    by_reader, by_case, by_cell = _clustered_sums_of_squares(scores, readers, cases)
    return (by_reader + by_case - by_cell) / scores.size**2


def clustered_variance(scores: np.ndarray, readers: np.ndarray, cases: np.ndarray) -> float:
    """:func:`two_way_cluster_variance`, or where that is negative the largest of the variances
    clustered by reader only, by case only, and of independent reads.

    The two-way estimate is a difference and can be negative in small samples (Cameron, Gelbach &
    Miller 2011, section 2.3); its square root would be NaN. Their eigenvalue truncation gives zero
    here, which would claim certainty, so the largest one-way variance is used instead: a
    conservative choice that never undercuts any of the variances the two-way one combines.
    """
    variance = two_way_cluster_variance(scores, readers, cases)
    if variance >= 0:
        return variance
    return max(_clustered_sums_of_squares(scores, readers, cases)) / scores.size**2


def _clustered_sums_of_squares(scores, readers, cases) -> tuple[float, float, float]:
    """Sums over reader clusters, over case clusters and over single reads of squared totals."""
    sums = []
    for labels in (readers, cases):
        _, groups = np.unique(labels, return_inverse=True)
        sums.append(float(np.sum(np.bincount(groups, weights=scores) ** 2)))
    return sums[0], sums[1], float(np.sum(scores**2))


def compare_times(first: np.ndarray, second: np.ndarray, *, alpha: float = 0.05) -> TimeComparison:
    """Relative and absolute change of mean reading time, ``second`` against ``first``.

    Parameters
    ----------
    first, second : array_like, shape (n_readers, n_cases)
        Seconds per read in each arm (e.g. unaided, aided); NaN where not timed.
        Only reader x case pairs timed in both arms enter.
    alpha : float
        1 - confidence level.

    Notes
    -----
    The log ratio of means is linearized (delta method) into per-pair scores
    a/A - u/U, the difference into a - u - (A - U); the variance of their mean is the
    two-way cluster-robust one (:func:`clustered_variance`), because reads by the
    same reader and reads of the same case are correlated (Obuchowski 1997 treats such
    clustered ratio estimators the same way). Intervals use t with min(readers, cases) - 1
    degrees of freedom, as advised for few clusters.

    References
    ----------
    Obuchowski NA (1997). Nonparametric analysis of clustered ROC curve data.
    Biometrics 53:567-578.
    Cameron AC, Gelbach JB, Miller DL (2011). Journal of Business & Economic
    Statistics 29:238-249.
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    paired = np.isfinite(first) & np.isfinite(second)
    readers, cases = np.nonzero(paired)
    u, a = first[paired], second[paired]
    n_readers, n_cases = np.unique(readers).size, np.unique(cases).size
    if n_readers < 2 or n_cases < 2:
        raise ValueError("comparing reading times needs pairs from at least two readers and two cases")
    mean_u, mean_a = u.mean(), a.mean()
    df = min(n_readers, n_cases) - 1
    quantile = stats.t.ppf(1 - alpha / 2, df)
    log_se = np.sqrt(clustered_variance(a / mean_a - u / mean_u, readers, cases))
    ratio = mean_a / mean_u
    difference = mean_a - mean_u
    difference_se = np.sqrt(clustered_variance(a - u - difference, readers, cases))
    return TimeComparison(
        n_pairs=int(u.size),
        n_readers=int(n_readers),
        n_cases=int(n_cases),
        ratio=float(ratio),
        ratio_ci=(float(ratio * np.exp(-quantile * log_se)), float(ratio * np.exp(quantile * log_se))),
        difference=float(difference),
        difference_se=float(difference_se),
        difference_ci=(float(difference - quantile * difference_se), float(difference + quantile * difference_se)),
        df=int(df),
    )
