"""Binormal ROC fits of the report: data simulated from a binormal model with known a and b give them back."""

import numpy as np
import pytest
from scipy import stats

from mrmc.stats.binormal import binormal_curve, fit_binormal

A, B, N_PER_CLASS = 1.2, 0.8, 20_000
# Monte-Carlo SE of the ML estimates at 20,000 cases per class is about 0.015 for a and 0.01 for b
TOLERANCE = 0.06


def _latent(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, N_PER_CLASS), rng.normal(A / B, 1 / B, N_PER_CLASS)])
    return values, np.repeat([False, True], N_PER_CLASS)


def test_five_point_ordinal_ratings_recover_a_and_b():
    latent, truth = _latent(3)
    ratings = np.digitize(latent, [-0.5, 0.3, 1.0, 1.8]) + 1
    fit = fit_binormal(ratings, truth)
    assert fit.converged and not fit.binned and fit.n_categories == 5
    assert fit.a == pytest.approx(A, abs=TOLERANCE)
    assert fit.b == pytest.approx(B, abs=TOLERANCE)
    assert fit.auc == pytest.approx(stats.norm.cdf(A / np.sqrt(1 + B * B)), abs=0.01)


def test_continuous_ratings_are_cut_at_deciles_and_recover_a_and_b():
    latent, truth = _latent(4)
    fit = fit_binormal(100 * stats.norm.cdf(latent / 3), truth)  # a monotone transform changes nothing
    assert fit.binned and fit.n_categories == 10
    assert fit.a == pytest.approx(A, abs=TOLERANCE)
    assert fit.b == pytest.approx(B, abs=TOLERANCE)


def test_the_curve_runs_from_the_origin_to_one_one_through_the_model():
    fpf, tpf = binormal_curve(A, B)
    assert (fpf[0], tpf[0], fpf[-1], tpf[-1]) == (0.0, 0.0, 1.0, 1.0)
    middle = len(fpf) // 2
    assert tpf[middle] == pytest.approx(stats.norm.cdf(A + B * stats.norm.ppf(fpf[middle])))


def test_one_rating_value_cannot_be_fitted():
    with pytest.raises(ValueError, match="two distinct"):
        fit_binormal(np.ones(10), np.arange(10) % 2 == 0)
