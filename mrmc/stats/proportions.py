"""A binomial proportion (sensitivity, specificity, PPV, a miss rate) with its confidence interval."""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

PROPORTION_INTERVALS = ("wilson", "clopper-pearson")


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n``; ``estimate`` and ``ci`` are NaN when ``n`` is 0.

    ``method`` names the interval (see :data:`PROPORTION_INTERVALS`), ``ci`` is two-sided at 1 - alpha.
    """

    successes: int
    n: int
    estimate: float
    ci: tuple[float, float]
    method: str
    alpha: float


def proportion(successes: int, n: int, *, alpha: float = 0.05, method: str = "wilson") -> Proportion:
    """The proportion ``successes / n`` with a Wilson score or a Clopper-Pearson (exact) interval, as
    scipy's ``binomtest(...).proportion_ci`` computes them (the project's other binomial intervals do too).

    Notes
    -----
    Wilson: the p with |x/n - p| <= z sqrt(p (1 - p) / n), i.e.
    (x + z^2/2) / (n + z^2) +/- z sqrt(n p^ (1 - p^) + z^2/4) / (n + z^2) (Wilson 1927); its coverage is
    close to nominal even near 0 or 1, where the Wald interval fails (Brown, Cai & DasGupta 2001).
    Clopper-Pearson: the beta quantiles B(alpha/2; x, n - x + 1) and B(1 - alpha/2; x + 1, n - x)
    (Clopper & Pearson 1934), guaranteed coverage of at least 1 - alpha, wider.

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    Journal of the American Statistical Association 22:209-212.
    Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated in the case
    of the binomial. Biometrika 26:404-413.
    Brown LD, Cai TT, DasGupta A (2001). Interval estimation for a binomial proportion.
    Statistical Science 16:101-133.
    """
    if method not in PROPORTION_INTERVALS:
        raise ValueError(f"unknown interval {method!r}; choose one of {', '.join(PROPORTION_INTERVALS)}")
    successes, n = int(successes), int(n)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n, got {successes} of {n}")
    if n == 0:
        return Proportion(0, 0, float("nan"), (float("nan"), float("nan")), method, alpha)
    estimate = successes / n
    interval = stats.binomtest(successes, n).proportion_ci(
        confidence_level=1 - alpha, method="wilson" if method == "wilson" else "exact"
    )
    return Proportion(successes, n, estimate, (float(interval.low), float(interval.high)), method, alpha)
