"""Figures of merit for each reader x treatment: empirical AUC, partial AUC, sensitivity, specificity.

All functions take ``ratings`` with cases on the last axis and ``truth`` (True = diseased)
and vectorize over any leading axes (treatment, reader).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import parallel

FOM_KINDS = ("auc", "pauc", "sens", "spec")
PAUC_AXES = ("specificity", "sensitivity")
# ratings from which rows are ranked in threads (below, starting threads costs more)
_THREADED_RANKING_SIZE = 2**16


def rating_levels(ratings: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense integer levels of the ratings along the last axis, and how many there are.

    Equal ratings share a level and levels keep the order of the ratings (0 is the
    lowest of each row), so every rank statistic follows from integer levels. The
    count is the largest over rows. Large inputs are ranked in row blocks in threads.
    """
    rows = ratings.reshape(-1, ratings.shape[-1])
    n_parts = min(len(rows), parallel.THREADS if ratings.size >= _THREADED_RANKING_SIZE else 1)
    parts = parallel.map_parts(_dense_levels, np.array_split(rows, max(1, n_parts)))
    levels = np.concatenate([part for part, _ in parts]) if len(parts) > 1 else parts[0][0]
    return levels.reshape(ratings.shape), max(n_levels for _, n_levels in parts)


def _dense_levels(rows: np.ndarray) -> tuple[np.ndarray, int]:
    order = np.argsort(rows, axis=-1)
    ranked = np.take_along_axis(rows, order, axis=-1)
    dense = np.zeros(rows.shape, dtype=np.int32)
    np.cumsum(ranked[..., 1:] != ranked[..., :-1], axis=-1, out=dense[..., 1:])
    levels = np.empty_like(dense)
    np.put_along_axis(levels, order, dense, axis=-1)
    return levels, int(dense[..., -1].max()) + 1 if dense.size else 1


def level_counts(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """How many entries of each row (last axis) sit at each level, shaped (..., n_levels)."""
    rows = levels.reshape(-1, levels.shape[-1])
    offsets = n_levels * np.arange(rows.shape[0])[:, None]
    counts = np.bincount((rows + offsets).ravel(), minlength=rows.shape[0] * n_levels)
    return counts.reshape(levels.shape[:-1] + (n_levels,))


class RankedRatings:
    """Ratings as dense integer levels (:func:`rating_levels`) with their truth, and what
    follows from them, each computed once: per-class level counts and placement values.

    One instance serves a figure of merit and its covariance, so that an analysis
    ranks and counts the ratings once.
    """

    def __init__(self, levels: np.ndarray, n_levels: int, truth: np.ndarray) -> None:
        self.levels = levels
        self.n_levels = n_levels
        self.truth = truth

    @classmethod
    def of(cls, ratings: np.ndarray, truth: np.ndarray) -> RankedRatings:
        return cls(*rating_levels(ratings), truth)

    @cached_property
    def diseased(self) -> np.ndarray:
        return self.levels[..., self.truth]

    @cached_property
    def normal(self) -> np.ndarray:
        return self.levels[..., ~self.truth]

    @cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`level_counts` of the diseased and of the non-diseased cases."""
        return level_counts(self.diseased, self.n_levels), level_counts(self.normal, self.n_levels)

    @cached_property
    def placement_values(self) -> tuple[np.ndarray, np.ndarray]:
        """(v10, v01): see :func:`placement_values`."""
        diseased_counts, normal_counts = self.counts
        v10 = _fraction_below(normal_counts, self.diseased, self.normal.shape[-1])
        v01 = 1.0 - _fraction_below(diseased_counts, self.normal, self.diseased.shape[-1])
        return v10, v01

    def reshaped(self, shape: tuple[int, ...]) -> RankedRatings:
        """The same ratings with leading axes reshaped (the case axis stays last), keeping
        what has been computed."""

        def lead(array: np.ndarray) -> np.ndarray:
            return array.reshape(shape[:-1] + array.shape[-1:])

        reshaped = RankedRatings(self.levels.reshape(shape), self.n_levels, self.truth)
        computed = {name: value for name, value in vars(self).items() if name not in vars(reshaped)}
        for name, value in computed.items():  # the cached properties
            setattr(reshaped, name, tuple(map(lead, value)) if isinstance(value, tuple) else lead(value))
        return reshaped


def placement_values(
    ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values (structural components), O(N log N) from one sort per row.

    ``ranked`` may pass the :class:`RankedRatings` of ``ratings`` and ``truth``.

    Returns
    -------
    v10 : ndarray, shape (..., n_diseased)
        For each diseased case, the fraction of non-diseased ratings below it (ties 1/2).
    v01 : ndarray, shape (..., n_normal)
        For each non-diseased case, the fraction of diseased ratings above it (ties 1/2).

    Notes
    -----
    With ratings as integer levels, the cases of one class below each level (plus half
    those at it) are a cumulative sum of per-level counts, read at the other class's
    levels. The empirical AUC is the mean of either set of placement values.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated ROC curves: a nonparametric approach. Biometrics 44:837-845.
    """
    return (RankedRatings.of(ratings, truth) if ranked is None else ranked).placement_values


def _fraction_below(counts: np.ndarray, queries: np.ndarray, n_reference: int) -> np.ndarray:
    """For each query level, the fraction of the ``n_reference`` cases counted per level
    in the row's ``counts`` that lie below it, ties counting 1/2."""
    twice_below = 2 * np.cumsum(counts, axis=-1) - counts  # twice (below + half the ties): exact integers
    return np.take_along_axis(twice_below, queries, axis=-1) / (2 * n_reference)


def auc(ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None) -> np.ndarray:
    """Empirical (trapezoidal, Mann-Whitney) AUC with ties counted 1/2: the mean placement value.

    ``ranked`` may pass the :class:`RankedRatings` of ``ratings`` and ``truth``.

    References
    ----------
    Hanley JA, McNeil BJ (1982). The meaning and use of the area under a ROC curve.
    Radiology 143:29-36.
    """
    return placement_values(ratings, truth, ranked=ranked)[0].mean(axis=-1)


def sensitivity(ratings: np.ndarray, truth: np.ndarray, threshold: float) -> np.ndarray:
    """Fraction of diseased cases rated at or above ``threshold``.

    Its case-sampling variance lives in the diseased cases only: see
    :func:`mrmc.stats.binary.class_restricted_covariance` (MRMCaov's ``binary_sens``).
    """
    return np.mean(ratings[..., truth] >= threshold, axis=-1)


def specificity(ratings: np.ndarray, truth: np.ndarray, threshold: float) -> np.ndarray:
    """Fraction of non-diseased cases rated below ``threshold``.

    Its case-sampling variance lives in the non-diseased cases only: see
    :func:`mrmc.stats.binary.class_restricted_covariance` (MRMCaov's ``binary_spec``).
    """
    return np.mean(ratings[..., ~truth] < threshold, axis=-1)


def partial_auc(
    ratings: np.ndarray,
    truth: np.ndarray,
    value_range: tuple[float, float],
    axis: str = "specificity",
) -> np.ndarray:
    """McClish-standardized empirical partial AUC over a specificity or sensitivity range.

    Parameters
    ----------
    value_range : (low, high)
        Range of specificity (``axis='specificity'``) or sensitivity
        (``axis='sensitivity'``) over which the empirical ROC curve is integrated.

    Notes
    -----
    Standardized as 1/2 * (1 + (A - A_min) / (A_max - A_min)), where A_min is the area
    under the chance line and A_max the area of the whole band, so that 0.5 is chance and
    1 is perfect; over the full range it equals the AUC. The sensitivity-axis area is the
    specificity-axis area of the mirrored problem (negated ratings, swapped classes).

    References
    ----------
    McClish DK (1989). Analyzing a portion of the ROC curve. Medical Decision Making
    9:190-195.
    """
    weights = np.ones((1, truth.size))
    flat = ratings.reshape(-1, truth.size)
    areas = np.array([_weighted_partial_auc(row, truth, weights, value_range, axis)[0] for row in flat])
    return areas.reshape(ratings.shape[:-1])


def _weighted_partial_auc(
    scores: np.ndarray,
    truth: np.ndarray,
    weights: np.ndarray,
    value_range: tuple[float, float],
    axis: str,
) -> np.ndarray:
    """Standardized partial AUC of one score vector under each row of case ``weights``.

    Case weights express resampling: a bootstrap count or 0 for a left-out case.
    """
    if axis == "sensitivity":
        scores, truth = -scores, ~truth
    fpr_low, fpr_high = 1.0 - value_range[1], 1.0 - value_range[0]
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sorted_weights = weights[:, order]
    diseased = truth[order]
    true_pos = np.add.reduceat(sorted_weights * diseased, group_starts, axis=1).cumsum(axis=1)
    false_pos = np.add.reduceat(sorted_weights * ~diseased, group_starts, axis=1).cumsum(axis=1)
    zeros = np.zeros((weights.shape[0], 1))
    tpr = np.hstack([zeros, true_pos / true_pos[:, -1:]])
    fpr = np.hstack([zeros, false_pos / false_pos[:, -1:]])
    area = _area_between(fpr, tpr, fpr_low, fpr_high)
    chance = (fpr_high**2 - fpr_low**2) / 2
    band = fpr_high - fpr_low
    return 0.5 * (1.0 + (area - chance) / (band - chance))


def _area_between(fpr: np.ndarray, tpr: np.ndarray, low: float, high: float) -> np.ndarray:
    """Area under piecewise-linear ROC curves (rows) between two false-positive rates."""
    left = np.clip(fpr[:, :-1], low, high)
    right = np.clip(fpr[:, 1:], low, high)
    run = fpr[:, 1:] - fpr[:, :-1]
    slope = np.divide(tpr[:, 1:] - tpr[:, :-1], run, out=np.zeros_like(run), where=run > 0)
    midpoint_height = tpr[:, :-1] + slope * ((left + right) / 2 - fpr[:, :-1])
    return np.sum((right - left) * midpoint_height, axis=1)


@dataclass(frozen=True)
class FigureOfMerit:
    """Which figure of merit to compute, with its parameters.

    Parameters
    ----------
    kind : {'auc', 'pauc', 'sens', 'spec'}
    threshold : float, optional
        Rating at or above which a read counts as positive (``sens``, ``spec``).
    pauc_range : (float, float), optional
        Specificity or sensitivity range for ``pauc`` (default specificity 0.8-1).
    pauc_axis : {'specificity', 'sensitivity'}
    """

    kind: str = "auc"
    threshold: float | None = None
    pauc_range: tuple[float, float] | None = None
    pauc_axis: str = "specificity"

    def __post_init__(self) -> None:
        if self.kind not in FOM_KINDS:
            raise ValueError(f"unknown figure of merit {self.kind!r}; choose one of {', '.join(FOM_KINDS)}")
        if self.kind in ("sens", "spec") and self.threshold is None:
            raise ValueError(f"fom={self.kind!r} needs a rating threshold")
        if self.kind == "pauc":
            if self.pauc_axis not in PAUC_AXES:
                raise ValueError(f"pauc_axis must be one of {', '.join(PAUC_AXES)}")
            low, high = self.range
            if not 0.0 <= low < high <= 1.0:
                raise ValueError(f"pauc range must satisfy 0 <= low < high <= 1, got {self.range}")

    @property
    def range(self) -> tuple[float, float]:
        return self.pauc_range if self.pauc_range is not None else (0.8, 1.0)

    @property
    def label(self) -> str:
        if self.kind in ("sens", "spec"):
            return f"{'sensitivity' if self.kind == 'sens' else 'specificity'} at rating >= {self.threshold:g}"
        if self.kind == "pauc":
            low, high = self.range
            return f"pAUC ({self.pauc_axis} {low:g}-{high:g}, McClish standardized)"
        return "AUC"

    def values(self, ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None) -> np.ndarray:
        """Figure of merit for every leading index of ``ratings`` (``ranked``: see :func:`auc`)."""
        if self.kind == "auc":
            return auc(ratings, truth, ranked=ranked)
        if self.kind == "sens":
            return sensitivity(ratings, truth, self.threshold)
        if self.kind == "spec":
            return specificity(ratings, truth, self.threshold)
        return partial_auc(ratings, truth, self.range, self.pauc_axis)

    def case_contributions(
        self, ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-case scores whose class means equal the figure of merit, or None.

        For the AUC these are the placement values; for sensitivity (specificity) the
        diseased (non-diseased) cases contribute their 0/1 decision and the other class
        contributes the figure of merit itself, so leaving it out changes nothing. The
        partial AUC has no such decomposition (returns None).
        """
        if self.kind == "auc":
            return placement_values(ratings, truth, ranked=ranked)
        if self.kind == "pauc":
            return None
        fom = self.values(ratings, truth)[..., None]
        if self.kind == "sens":
            diseased = (ratings[..., truth] >= self.threshold).astype(float)
            return diseased, np.broadcast_to(fom, ratings[..., ~truth].shape)
        normal = (ratings[..., ~truth] < self.threshold).astype(float)
        return np.broadcast_to(fom, ratings[..., truth].shape), normal

    def weighted_values(self, ratings: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Figure of merit under each row of case weights.

        Parameters
        ----------
        ratings : ndarray, shape (n_treatments, n_readers, n_cases)
        weights : ndarray, shape (n_sets, n_cases)
            Non-negative integer case multiplicities (bootstrap counts, 0 for a
            left-out case).

        Returns
        -------
        ndarray, shape (n_sets, n_treatments, n_readers)
        """
        flat = ratings.reshape(-1, truth.size)
        if self.kind == "auc":
            values = _weighted_auc(flat, truth, weights)
        elif self.kind == "pauc":
            values = np.stack(
                [_weighted_partial_auc(row, truth, weights, self.range, self.pauc_axis) for row in flat], axis=1
            )
        else:
            decided_class = truth if self.kind == "sens" else ~truth
            correct = (flat >= self.threshold) if self.kind == "sens" else (flat < self.threshold)
            class_weights = weights * decided_class
            values = (class_weights @ correct.T.astype(float)) / class_weights.sum(axis=1, keepdims=True)
        return values.reshape((weights.shape[0],) + ratings.shape[:-1])


def _weighted_auc(flat: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each row of ``flat`` under each row of case multiplicities.

    Returns shape (n_sets, rows). Per row both classes are sorted once; for every weight
    set the weighted count of non-diseased scores below each diseased score (ties 1/2)
    is read from a cumulative sum of the multiplicities in that order. Multiplicities
    are held in the smallest integer type that fits them (exact, and less memory traffic).
    """
    counts = weights.astype(np.min_scalar_type(int(weights.max())))
    normal_counts = counts[:, ~truth]
    diseased_counts = counts[:, truth]
    pairs = diseased_counts.sum(axis=1, dtype=np.int64) * normal_counts.sum(axis=1, dtype=np.int64)
    cumulative = np.zeros((weights.shape[0], normal_counts.shape[1] + 1), dtype=np.int32)
    areas = np.empty((weights.shape[0], flat.shape[0]))
    for row, scores in enumerate(flat):
        normal_order = np.argsort(scores[~truth])
        diseased_order = np.argsort(scores[truth])
        normal_sorted = scores[~truth][normal_order]
        diseased_sorted = scores[truth][diseased_order]
        np.cumsum(np.take(normal_counts, normal_order, axis=1), axis=1, out=cumulative[:, 1:])
        # twice the weighted count of non-diseased below each diseased score, ties counting 1/2
        wins = np.take(cumulative, np.searchsorted(normal_sorted, diseased_sorted, side="left"), axis=1)
        wins += np.take(cumulative, np.searchsorted(normal_sorted, diseased_sorted, side="right"), axis=1)
        wins *= np.take(diseased_counts, diseased_order, axis=1)
        areas[:, row] = wins.sum(axis=1) / (2 * pairs)
    return areas
