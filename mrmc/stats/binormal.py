"""Binormal ROC curves fitted by maximum likelihood to one reader's ratings (Dorfman & Alf 1969).

Model: a latent value is N(0, 1) for non-diseased cases and N(a/b, 1/b^2) for diseased ones; a rating
falls in category k when the latent value lies between thresholds z_(k-1) and z_k. The ROC curve is
TPF = Phi(a + b Phi^-1(FPF)) and its area Phi(a / sqrt(1 + b^2)).

Ordinal ratings are used as they are (each distinct rating a category). Ratings with more than
``MAX_CATEGORIES`` distinct values (continuous scales) are first cut at the deciles of the reader's
ratings in that arm: the fit then treats them as a 10-point ordinal scale, which loses little (Metz,
Herman & Shen 1998 bin continuous data the same way in LABROC4 "truth-state runs"; deciles are the
coarser, documented choice here).

References
----------
Dorfman DD, Alf E (1969). Maximum-likelihood estimation of parameters of signal-detection theory and
determination of confidence intervals: rating-method data. J Math Psychol 6:487-496.
Metz CE, Herman BA, Shen JH (1998). Maximum likelihood estimation of receiver operating characteristic
(ROC) curves from continuously-distributed data. Stat Med 17:1033-1053.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.special import ndtr  # the standard normal CDF: stats.norm.cdf's values without its per-call checks

MAX_CATEGORIES = 10
_LOG_B_BOUND = 4.0  # b within e^-4 .. e^4: beyond it the fit is degenerate (a step function)


@dataclass(frozen=True)
class BinormalFit:
    a: float
    b: float
    auc: float
    n_categories: int
    binned: bool
    converged: bool
    log_likelihood: float


def categories(ratings: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ordinal category (0, 1, ...) of every rating, and whether continuous ratings were cut at deciles."""
    distinct = np.unique(ratings)
    if distinct.size <= MAX_CATEGORIES:
        return np.searchsorted(distinct, ratings), False
    edges = np.unique(np.quantile(ratings, np.linspace(0.1, 0.9, 9)))
    return np.searchsorted(edges, ratings, side="right"), True


def fit_binormal(ratings: np.ndarray, truth: np.ndarray) -> BinormalFit:
    """Maximum-likelihood binormal a and b for one reader in one arm (higher rating = more likely diseased)."""
    truth = np.asarray(truth, dtype=bool)
    levels, binned = categories(np.asarray(ratings, dtype=float))
    normal, diseased = category_counts(levels, truth)
    total = normal.sum() + diseased.sum()
    solution = maximum_likelihood(_negative_log_likelihood, starting_values(normal, diseased), normal, diseased)
    a, log_b = solution.x[:2]
    b = float(np.exp(np.clip(log_b, -_LOG_B_BOUND, _LOG_B_BOUND)))
    return BinormalFit(a=float(a), b=b, auc=float(stats.norm.cdf(a / np.sqrt(1 + b * b))), n_categories=normal.size,
                       binned=binned, converged=bool(solution.success),
                       log_likelihood=float(-solution.fun * total))


def category_counts(levels: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-diseased and diseased counts per category, adjacent categories of one truth state merged.

    Merging such "truth-state runs" leaves the maximum-likelihood curve unchanged (the threshold between two
    categories that only one class uses only splits that class's probability; Metz, Herman & Shen 1998) and
    removes thresholds the likelihood cannot place.
    """
    levels = np.unique(levels, return_inverse=True)[1]
    n_levels = int(levels.max()) + 1
    if n_levels < 2:
        raise ValueError("a binormal curve needs at least two distinct ratings")
    normal, diseased = np.bincount(levels[~truth], minlength=n_levels), np.bincount(levels[truth], minlength=n_levels)
    state = np.where(diseased == 0, 0, np.where(normal == 0, 1, 2))  # only non-diseased, only diseased, both
    starts_run = np.concatenate([[True], (state[1:] != state[:-1]) | (state[1:] == 2)])
    run = np.cumsum(starts_run) - 1
    return np.bincount(run, weights=normal).astype(int), np.bincount(run, weights=diseased).astype(int)


def maximum_likelihood(negative_log_likelihood, start: np.ndarray, normal: np.ndarray, diseased: np.ndarray):
    """BFGS on the per-case log likelihood, so that its gradient tolerance means the same for any number of cases."""
    total = normal.sum() + diseased.sum()
    return optimize.minimize(negative_log_likelihood, start, args=(normal / total, diseased / total), method="BFGS")


def thresholds(params: np.ndarray) -> np.ndarray:
    """Increasing thresholds from the first one and log increments (unconstrained parameters)."""
    return params[2] + np.concatenate([[0.0], np.cumsum(np.exp(params[3:]))])


def binormal_curve(a: float, b: float, n_points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """FPF and TPF of the binormal ROC curve, FPF spaced on the probit scale so the ends are drawn smoothly."""
    fpf = stats.norm.cdf(np.linspace(-4, 4, n_points))
    return np.concatenate([[0.0], fpf, [1.0]]), np.concatenate([[0.0], stats.norm.cdf(a + b * stats.norm.ppf(fpf)),
                                                                  [1.0]])


def _negative_log_likelihood(params: np.ndarray, normal: np.ndarray, diseased: np.ndarray) -> float:
    a, b = params[0], np.exp(np.clip(params[1], -_LOG_B_BOUND, _LOG_B_BOUND))
    edges = np.concatenate([[-np.inf], thresholds(params), [np.inf]])
    p_normal = np.diff(ndtr(edges))
    p_diseased = np.diff(ndtr(b * edges - a))
    floor = 1e-300  # an empty category may have probability 0 only where its count is 0
    return -float(normal @ np.log(np.maximum(p_normal, floor)) + diseased @ np.log(np.maximum(p_diseased, floor)))


def starting_values(normal: np.ndarray, diseased: np.ndarray) -> np.ndarray:
    """Thresholds from the non-diseased cumulative fractions; a, b from a line through the probit ROC points."""
    def probits(counts: np.ndarray) -> np.ndarray:
        below = np.cumsum(counts)[:-1] / counts.sum()
        return stats.norm.ppf(np.clip(below, 0.01, 0.99))

    z_normal, z_diseased = probits(normal), probits(diseased)
    # ROC point at threshold z: probit(FPF) = -z, probit(TPF) = -z_diseased
    if z_normal.size > 1 and np.ptp(z_normal) > 0:
        slope, intercept = np.polyfit(-z_normal, -z_diseased, 1)
    else:
        slope, intercept = 1.0, float(z_normal.mean() - z_diseased.mean())
    b = float(np.clip(slope, 0.2, 5.0))
    thresholds = np.maximum.accumulate(z_normal + 1e-3 * np.arange(z_normal.size))
    increments = np.log(np.maximum(np.diff(thresholds), 1e-3))
    return np.concatenate([[intercept, np.log(b), thresholds[0]], increments])
