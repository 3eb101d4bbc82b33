"""Figures of merit against slow, obvious implementations and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu, rankdata

from mrmc.stats import FigureOfMerit, auc, parallel, partial_auc, placement_values, sensitivity, specificity
from mrmc.stats import fom as fom_module


def pairwise_kernel(diseased: np.ndarray, normal: np.ndarray) -> np.ndarray:
    return (diseased[:, None] > normal[None, :]) + 0.5 * (diseased[:, None] == normal[None, :])


def random_study(rng, n_cases=40, levels=5, shape=(2, 3)):
    truth = np.zeros(n_cases, dtype=bool)
    truth[rng.choice(n_cases, size=n_cases // 3, replace=False)] = True
    ratings = rng.integers(1, levels + 1, size=shape + (n_cases,)).astype(float)
    ratings[..., truth] += rng.integers(0, 2, size=shape + (int(truth.sum()),))
    return ratings, truth


def test_auc_equals_mann_whitney_u():
    rng = np.random.default_rng(0)
    ratings, truth = random_study(rng)
    for row in ratings.reshape(-1, truth.size):
        statistic = mannwhitneyu(row[truth], row[~truth]).statistic
        expected = statistic / (truth.sum() * (~truth).sum())
        assert auc(row, truth) == pytest.approx(expected, rel=1e-12)


def test_placement_values_match_pairwise_kernel():
    rng = np.random.default_rng(1)
    ratings, truth = random_study(rng)
    v10, v01 = placement_values(ratings, truth)
    for index in np.ndindex(ratings.shape[:-1]):
        kernel = pairwise_kernel(ratings[index][truth], ratings[index][~truth])
        np.testing.assert_allclose(v10[index], kernel.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(v01[index], kernel.mean(axis=0), rtol=1e-12)


def test_ranked_ratings_reshaped_keep_what_was_computed():
    """A study's levels, counts and placement values, computed once and reshaped, equal
    those of the reshaped ratings (the shape the covariance estimators work on)."""
    ratings, truth = random_study(np.random.default_rng(7), shape=(2, 3))
    ranked = fom_module.RankedRatings.of(ratings, truth)
    assert auc(ratings, truth, ranked=ranked).shape == (2, 3)  # computes the placement values
    rows = ranked.reshaped((6, truth.size))
    assert {"counts", "placement_values"} <= set(vars(rows))  # carried over, not recomputed
    expected = fom_module.RankedRatings.of(ratings.reshape(6, -1), truth)
    for got, want in zip(rows.placement_values + rows.counts, expected.placement_values + expected.counts, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(rows.levels, expected.levels)
    np.testing.assert_array_equal(auc(ratings, truth, ranked=rows).reshape(2, 3), auc(ratings, truth))


def test_sensitivity_and_specificity_at_threshold():
    ratings = np.array([1.0, 2, 3, 4, 5, 3])
    truth = np.array([False, False, True, True, True, False])
    assert sensitivity(ratings, truth, 4) == pytest.approx(2 / 3)
    assert specificity(ratings, truth, 3) == pytest.approx(2 / 3)
    assert sensitivity(ratings, truth, 3) == pytest.approx(1.0)


def empirical_roc(scores, truth):
    """ROC vertices (fpr, tpr), thresholds from high to low, ties as one step."""
    points = [(0.0, 0.0)]
    for threshold in np.unique(scores)[::-1]:
        positive = scores >= threshold
        points.append((positive[~truth].mean(), positive[truth].mean()))
    return np.array(points)


def integrate_numerically(points, low, high, samples=400_001):
    """Area under the ROC polygon over [low, high] by a dense trapezoid rule."""
    grid = np.linspace(low, high, samples)
    # vertical segments: np.interp needs increasing x, so nudge repeated fpr values
    fpr = points[:, 0] + np.arange(len(points)) * 1e-13
    return np.trapezoid(np.interp(grid, fpr, points[:, 1]), grid)


@pytest.mark.parametrize("value_range", [(0.8, 1.0), (0.5, 0.9), (0.0, 1.0), (0.33, 0.71)])
def test_partial_auc_specificity_matches_numeric_integration(value_range):
    rng = np.random.default_rng(2)
    ratings, truth = random_study(rng, n_cases=60, levels=6, shape=(3,))
    fpr_low, fpr_high = 1 - value_range[1], 1 - value_range[0]
    for row, result in zip(ratings, partial_auc(ratings, truth, value_range), strict=True):
        area = integrate_numerically(empirical_roc(row, truth), fpr_low, fpr_high)
        chance = (fpr_high**2 - fpr_low**2) / 2
        mcclish = 0.5 * (1 + (area - chance) / ((fpr_high - fpr_low) - chance))
        assert result == pytest.approx(mcclish, abs=1e-6)


def test_partial_auc_sensitivity_matches_numeric_integration():
    rng = np.random.default_rng(3)
    ratings, truth = random_study(rng, n_cases=60, levels=6, shape=(3,))
    low, high = 0.7, 0.95
    for row, result in zip(ratings, partial_auc(ratings, truth, (low, high), axis="sensitivity"), strict=True):
        points = empirical_roc(row, truth)
        # specificity as a function of sensitivity: x = 1 - tpr, y = 1 - fpr, read right to left
        mirrored = np.column_stack([1 - points[::-1, 1], 1 - points[::-1, 0]])
        area = integrate_numerically(mirrored, 1 - high, 1 - low)
        chance = ((1 - low) ** 2 - (1 - high) ** 2) / 2
        mcclish = 0.5 * (1 + (area - chance) / ((high - low) - chance))
        assert result == pytest.approx(mcclish, abs=1e-6)


def test_full_range_partial_auc_is_auc_and_standardization_anchors():
    rng = np.random.default_rng(4)
    ratings, truth = random_study(rng)
    np.testing.assert_allclose(partial_auc(ratings, truth, (0.0, 1.0)), auc(ratings, truth), rtol=1e-12)
    perfect = truth.astype(float)
    assert partial_auc(perfect, truth, (0.8, 1.0)) == pytest.approx(1.0)
    assert partial_auc(np.ones(truth.size), truth, (0.8, 1.0)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "fom",
    [
        FigureOfMerit("auc"),
        FigureOfMerit("pauc", pauc_range=(0.6, 1.0)),
        FigureOfMerit("sens", threshold=3),
        FigureOfMerit("spec", threshold=3),
        FigureOfMerit("pauc", pauc_range=(0.5, 0.9), pauc_axis="sensitivity"),
    ],
    ids=lambda fom: fom.label,
)
def test_weighted_values_equal_values_of_replicated_cases(fom):
    """Integer case weights must give the figure of merit of the data with cases repeated."""
    rng = np.random.default_rng(5)
    ratings, truth = random_study(rng, n_cases=30)
    weights = rng.integers(0, 3, size=(4, truth.size)).astype(float)
    weights[:, np.flatnonzero(truth)[0]] = 1
    weights[:, np.flatnonzero(~truth)[0]] = 1
    weighted = fom.weighted_values(ratings, truth, weights)
    for row, expected in zip(weights.astype(int), weighted, strict=True):
        repeated = np.repeat(np.arange(truth.size), row)
        np.testing.assert_allclose(expected, fom.values(ratings[..., repeated], truth[repeated]), rtol=1e-12)


def test_figure_of_merit_rejects_missing_parameters():
    with pytest.raises(ValueError, match="threshold"):
        FigureOfMerit("sens")
    with pytest.raises(ValueError, match="pauc range"):
        FigureOfMerit("pauc", pauc_range=(0.9, 0.2))
    with pytest.raises(ValueError, match="unknown figure of merit"):
        FigureOfMerit("youden")


# ------------------------------------------------------------------ properties

ratings_and_truth = st.integers(min_value=4, max_value=30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-5, 5), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda t: 0 < sum(t) < len(t)),
    )
)


@settings(max_examples=200, deadline=None)
@given(ratings_and_truth, st.sampled_from(["exp", "cube", "affine", "arctan"]))
def test_auc_invariant_to_monotone_transform(data, transform):
    ratings, truth = np.array(data[0], dtype=float), np.array(data[1])
    transformed = {
        "exp": np.exp(ratings),
        "cube": ratings**3,
        "affine": 3.5 * ratings + 11,
        "arctan": np.arctan(ratings),
    }[transform]
    assert auc(transformed, truth) == pytest.approx(auc(ratings, truth), abs=1e-12)
    assert partial_auc(transformed, truth, (0.7, 1.0)) == pytest.approx(
        partial_auc(ratings, truth, (0.7, 1.0)), abs=1e-12
    )


@settings(max_examples=200, deadline=None)
@given(ratings_and_truth, st.randoms(use_true_random=False))
def test_auc_invariant_to_case_order(data, random):
    ratings, truth = np.array(data[0], dtype=float), np.array(data[1])
    order = list(range(truth.size))
    random.shuffle(order)
    assert auc(ratings[order], truth[order]) == pytest.approx(auc(ratings, truth), abs=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_rating_levels_are_dense_ranks_in_any_number_of_threads(monkeypatch, threads):
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(fom_module, "_THREADED_RANKING_SIZE", 1)
    rng = np.random.default_rng(threads)
    ratings = rng.integers(0, 12, size=(2, 5, 30)).astype(float)
    ratings[1, 4] = rng.normal(size=30)  # one row without ties, with more levels than the others
    levels, n_levels = fom_module.rating_levels(ratings)
    np.testing.assert_array_equal(levels, rankdata(ratings, method="dense", axis=-1) - 1)
    assert n_levels == 30
