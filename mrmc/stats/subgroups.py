"""The same OR analysis within subgroups of cases (site, age band, lesion type, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import ORResult, analyze
from .data import StudyDataError


@dataclass(frozen=True)
class SubgroupResult:
    """One level of one case variable; ``result`` is None when the subgroup is too small or fails."""

    variable: str
    level: str
    n_normal: int
    n_abnormal: int
    too_small: bool
    result: ORResult | None
    error: str | None = None


def subgroup_analyses(
    ratings: np.ndarray,
    truth: np.ndarray,
    case_levels: Mapping[str, Sequence[object]],
    *,
    min_per_class: int = 10,
    max_levels: int = 12,
    **options,
) -> list[SubgroupResult]:
    """Run :func:`mrmc.stats.analyze` on the cases of each level of each case variable.

    Parameters
    ----------
    ratings : ndarray, shape (n_treatments, n_readers, n_cases)
    truth : ndarray of bool, shape (n_cases,)
    case_levels : mapping of variable name -> level of every case
        Missing values ("" or None) form no subgroup. Variables with more than
        ``max_levels`` levels (identifiers, continuous values) are left out.
    min_per_class : int
        A subgroup with fewer diseased or fewer non-diseased cases is flagged
        ``too_small`` and not analysed: with few cases per class the OR error variance is
        poorly estimated and the Hillis ddf unreliable.
    **options
        Passed to :func:`mrmc.stats.analyze` (fom, cov, treatments, readers, alpha, ...).

    Notes
    -----
    Subgroup results are descriptive: no adjustment for multiplicity is made.

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and
    Computation 24:285-308.
    """
    truth = np.asarray(truth, dtype=bool)
    results = []
    for variable, values in case_levels.items():
        labels = np.array(["" if value is None else str(value) for value in values], dtype=object)
        levels = sorted(set(labels) - {""})
        if len(levels) > max_levels:
            continue
        for level in levels:
            results.append(_one_subgroup(ratings, truth, labels == level, variable, level, min_per_class, options))
    return results


def _one_subgroup(ratings, truth, members, variable, level, min_per_class, options) -> SubgroupResult:
    n_abnormal = int(np.count_nonzero(truth & members))
    n_normal = int(np.count_nonzero(~truth & members))
    too_small = min(n_normal, n_abnormal) < min_per_class
    result, error = None, None
    if not too_small:
        try:
            result = analyze(ratings[..., members], truth[members], **options)
        except (StudyDataError, ValueError) as exc:
            error = str(exc)
    return SubgroupResult(variable, level, n_normal, n_abnormal, too_small, result, error)
