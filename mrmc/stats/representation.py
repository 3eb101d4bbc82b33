"""Case-mix representativeness: a study's cases against the intended-use population's targets.

Each group of a variable (an age band, a manufacturer, a site …) gets its count among the analysed
cases, its proportion with a Wilson score interval, and a flag where it is under-represented by the
protocol's rule.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
    Journal of the American Statistical Association, 22(158), 209-212.
Brown, L. D., Cai, T. T., & DasGupta, A. (2001). Interval estimation for a binomial proportion.
    Statistical Science, 16(2), 101-133 (why Wilson's interval rather than Wald's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NOT_RECORDED = ""  # the value of a case that lacks the variable
BELOW_RATIO = "below_ratio"
CI_BELOW_TARGET = "ci_below_target"


@dataclass(frozen=True)
class GroupRepresentation:
    """One group of a variable among ``n`` cases.

    Attributes
    ----------
    group : str
        The value; ``""`` for the cases that lack the variable.
    count, n : int
        Cases in the group, and all cases counted (the denominator).
    proportion : float
        ``count / n``.
    ci : tuple of float
        Wilson score interval of the proportion at level ``1 - alpha``.
    target : float or None
        The intended-use population's proportion; None where the protocol gives none.
    reasons : tuple of str
        Why the group is under-represented (:data:`BELOW_RATIO`, :data:`CI_BELOW_TARGET`); empty if it is not.
    count_diseased, count_non_diseased : int
        The group's cases by truth.
    """

    group: str
    count: int
    n: int
    proportion: float
    ci: tuple[float, float]
    target: float | None
    reasons: tuple[str, ...]
    count_diseased: int
    count_non_diseased: int

    @property
    def under_represented(self) -> bool:
        return bool(self.reasons)


def wilson_interval(count: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson (1927) score interval of the proportion ``count / n``, without continuity correction."""
    interval = stats.binomtest(count, n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return float(interval.low), float(interval.high)


def representation(values: Sequence[str], truth: np.ndarray, targets: Mapping[str, float], *,
                   min_ratio: float = 0.5, alpha: float = 0.05) -> list[GroupRepresentation]:
    """Each group's share of the cases against its target.

    Parameters
    ----------
    values : sequence of str
        The variable's value per case, :data:`NOT_RECORDED` where the case lacks it.
    truth : array of bool
        Per case, True when diseased.
    targets : mapping
        Group → the intended-use population's proportion; groups not named have no target.
    min_ratio, alpha
        The under-representation rule: a group with a target is flagged when its observed proportion is
        below ``min_ratio × target`` (a shortfall too large to accept, however many cases), or when the
        whole Wilson ``1 - alpha`` interval lies below the target (a shortfall that chance does not explain).

    Returns
    -------
    list of GroupRepresentation
        The targeted groups in the order given, then the other groups seen (sorted), then the cases
        that lack the variable, if any. Every case counts in the denominator.
    """
    truth = np.asarray(truth, dtype=bool)
    n = len(values)
    if n == 0 or truth.shape != (n,):
        raise ValueError("need one truth value per case, and at least one case")
    counts = Counter(values)
    diseased = Counter(value for value, sick in zip(values, truth, strict=True) if sick)
    others = sorted(group for group in counts if group not in targets and group != NOT_RECORDED)
    groups = [*targets, *others] + ([NOT_RECORDED] if NOT_RECORDED in counts and NOT_RECORDED not in targets else [])
    rows = []
    for group in groups:
        count, target = counts.get(group, 0), targets.get(group)
        proportion, ci = count / n, wilson_interval(count, n, alpha)
        reasons = () if target is None else tuple(
            reason for reason, holds in ((BELOW_RATIO, proportion < min_ratio * target),
                                         (CI_BELOW_TARGET, ci[1] < target)) if holds)
        rows.append(GroupRepresentation(group, count, n, proportion, ci, target, reasons,
                                        diseased.get(group, 0), count - diseased.get(group, 0)))
    return rows
