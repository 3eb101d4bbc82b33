"""Proper binormal ROC curves (Metz & Pan 1999) fitted by maximum likelihood to one reader's ratings.

The binormal latent values (non-diseased N(0, 1), diseased N(a/b, 1/b^2)) are ranked by their likelihood
ratio instead of their value, so the curve is never below the chance line and never hooks: ratings fall
into categories between thresholds on the log likelihood ratio
    l(x) = log b - b^2 (x - a/b)^2 / 2 + x^2 / 2,
a quadratic in x whose exceedance region is one or two half-lines (b < 1) or an interval (b > 1).
Reported as Metz & Pan's d_a = sqrt(2) a / sqrt(1 + b^2) and c = (1 - b) / (1 + b), with the area under
the fitted curve integrated numerically. Categories are those of :mod:`mrmc.stats.binormal`.

References
----------
Metz CE, Pan X (1999). "Proper" binormal ROC curves: theory and maximum-likelihood estimation.
J Math Psychol 43:1-33.
Pesce LL, Metz CE (2007). Reliable and computationally efficient maximum-likelihood estimation of
"proper" binormal ROC curves. Acad Radiol 14:814-829.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import ndtr  # the standard normal CDF (see binormal); P(Z > z) = ndtr(-z), as stats.norm.sf has it

from .binormal import categories, category_counts, maximum_likelihood, starting_values, thresholds

_LOG_B_BOUND = 3.0
_LINEAR = 1e-9  # |1 - b^2| below this: the log likelihood ratio is linear in x (b = 1)


@dataclass(frozen=True)
class ProperBinormalFit:
    a: float
    b: float
    d_a: float
    c: float
    auc: float
    n_categories: int
    binned: bool
    converged: bool
    log_likelihood: float


def exceedance(a: float, b: float, t: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """P(l(X) > t) for X ~ N(mean, sd^2), at each log-likelihood-ratio threshold t."""
    return _probability_above(_crossings(a, b, t), mean, sd)


def _crossings(a: float, b: float, t: np.ndarray) -> tuple:
    """Where l(x) = t, which both classes' exceedances share: (quadratic, the one crossing) when l is linear
    (b = 1), else (quadratic, discriminant, lower root, upper root)."""
    t = np.asarray(t, dtype=float)
    quadratic, linear = (1 - b * b) / 2, a * b
    constant = np.log(b) - a * a / 2 - t
    if abs(quadratic) < _LINEAR:
        return quadratic, -constant / linear
    discriminant = linear * linear - 4 * quadratic * constant
    root = np.sqrt(np.maximum(discriminant, 0.0))
    first, second = (-linear - root) / (2 * quadratic), (-linear + root) / (2 * quadratic)
    # root >= 0, so the sign of the quadratic orders the two roots
    return (quadratic, discriminant, first, second) if quadratic > 0 else (quadratic, discriminant, second, first)


def _probability_above(crossings: tuple, mean: float, sd: float) -> np.ndarray:
    if len(crossings) == 2:
        return ndtr(-((crossings[1] - mean) / sd))
    quadratic, discriminant, low, high = crossings
    below, above = ndtr((low - mean) / sd), ndtr(-((high - mean) / sd))
    if quadratic > 0:  # b < 1: l(x) > t outside the roots (everywhere when there are none)
        return np.where(discriminant > 0, below + above, 1.0)
    return np.where(discriminant > 0, 1.0 - below - above, 0.0)  # b > 1: between the roots


def proper_curve(a: float, b: float, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """FPF and TPF of the proper binormal curve from (0, 0) to (1, 1)."""
    spread = 1 / b
    x = np.linspace(-8.0, a / b + 8 * spread, n_points)
    ratio = np.log(b) - b * b * (x - a / b) ** 2 / 2 + x * x / 2
    levels = np.unique(ratio)
    fpf, tpf = exceedance(a, b, levels, 0.0, 1.0), exceedance(a, b, levels, a / b, spread)
    order = np.argsort(fpf, kind="stable")
    return np.concatenate([[0.0], fpf[order], [1.0]]), np.concatenate([[0.0], tpf[order], [1.0]])


def fit_proper_binormal(ratings: np.ndarray, truth: np.ndarray) -> ProperBinormalFit:
    """Maximum-likelihood proper binormal curve for one reader in one arm (higher rating = more likely diseased)."""
    truth = np.asarray(truth, dtype=bool)
    levels, binned = categories(np.asarray(ratings, dtype=float))
    normal, diseased = category_counts(levels, truth)
    # the conventional fit's b, and if that does not converge also b = 1 (where the proper curve is the
    # conventional one); the likelihood is the same for a and -a (mirroring the latent axis keeps the
    # likelihood-ratio order), so |a| is reported
    tried = []
    for start in _starts(normal, diseased):
        tried.append(maximum_likelihood(_negative_log_likelihood, start, normal, diseased))
        if tried[-1].success:
            break
    solution = min(tried, key=lambda candidate: (not candidate.success, candidate.fun))
    a, b = abs(float(solution.x[0])), float(np.exp(np.clip(solution.x[1], -_LOG_B_BOUND, _LOG_B_BOUND)))
    fpf, tpf = proper_curve(a, b, n_points=4000)
    return ProperBinormalFit(
        a=a, b=b, d_a=float(np.sqrt(2) * a / np.sqrt(1 + b * b)), c=(1 - b) / (1 + b),
        auc=float(np.trapezoid(tpf, fpf)), n_categories=normal.size, binned=binned,
        converged=bool(solution.success),
        log_likelihood=float(-solution.fun * (normal.sum() + diseased.sum())),
    )


def _negative_log_likelihood(params: np.ndarray, normal: np.ndarray, diseased: np.ndarray) -> float:
    a, b = params[0], np.exp(np.clip(params[1], -_LOG_B_BOUND, _LOG_B_BOUND))
    crossings = _crossings(a, b, thresholds(params))
    above_normal = np.concatenate([[1.0], _probability_above(crossings, 0.0, 1.0), [0.0]])
    above_diseased = np.concatenate([[1.0], _probability_above(crossings, a / b, 1 / b), [0.0]])
    floor = 1e-300
    return -float(normal @ np.log(np.maximum(above_normal[:-1] - above_normal[1:], floor))
                  + diseased @ np.log(np.maximum(above_diseased[:-1] - above_diseased[1:], floor)))


def _starts(normal: np.ndarray, diseased: np.ndarray) -> list[np.ndarray]:
    """a with the conventional fit's b and with b = 1; thresholds where the model's non-diseased exceedance
    equals the observed cumulative fractions (the exceedance falls as the threshold rises)."""
    start = starting_values(normal, diseased)
    a = abs(start[0])
    targets = np.clip(1 - np.cumsum(normal)[:-1] / normal.sum(), 0.005, 0.995)
    starts = []
    for b in (float(np.exp(start[1])), 1.0):
        quadratic = (1 - b * b) / 2
        # above its maximum (b > 1) the ratio is never exceeded; keep the bracket just below it
        top = np.log(b) - a * a / 2 + (a * b) ** 2 / (-4 * quadratic) - 1e-9 if quadratic < -_LINEAR else 200.0
        cuts = np.array([_threshold_for(a, b, target, top) for target in targets])
        cuts = np.maximum.accumulate(cuts + 1e-4 * np.arange(cuts.size))
        starts.append(np.concatenate([[a, np.log(b), cuts[0]], np.log(np.maximum(np.diff(cuts), 1e-4))]))
    return starts


def _threshold_for(a: float, b: float, target: float, top: float) -> float:
    """The log-likelihood-ratio threshold that non-diseased cases exceed with probability ``target``."""
    return optimize.brentq(lambda t: float(exceedance(a, b, t, 0.0, 1.0)) - target, -200.0, top)
