"""Binormal and proper binormal ROC fits of the report: data simulated from each model with known a and b give them back."""

import numpy as np
import pytest
from scipy import stats

from mrmc.stats.binormal import binormal_curve, fit_binormal
from mrmc.stats.proper_binormal import fit_proper_binormal, proper_curve

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


def _likelihood_ratio_ratings(a: float, b: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratings that are categories of the binormal log likelihood ratio: data from the proper binormal model."""
    rng = np.random.default_rng(seed)
    latent = np.concatenate([rng.normal(0, 1, N_PER_CLASS), rng.normal(a / b, 1 / b, N_PER_CLASS)])
    ratio = np.log(b) - b * b * (latent - a / b) ** 2 / 2 + latent**2 / 2
    ratings = np.digitize(ratio, np.quantile(ratio, [0.2, 0.4, 0.55, 0.7, 0.85]))
    return ratings, np.repeat([False, True], N_PER_CLASS), ratio


@pytest.mark.parametrize("b", [0.6, 1.5])
def test_proper_binormal_recovers_a_b_and_its_area(b):
    ratings, truth, ratio = _likelihood_ratio_ratings(A, b, seed=5)
    fit = fit_proper_binormal(ratings, truth)
    assert fit.converged and fit.n_categories == 6
    assert fit.a == pytest.approx(A, abs=TOLERANCE)
    assert fit.b == pytest.approx(b, abs=2 * TOLERANCE)
    assert fit.c == pytest.approx((1 - b) / (1 + b), abs=TOLERANCE)
    # the model's area is P(l(diseased) > l(non-diseased)): the Mann-Whitney statistic of the latent ratios
    sample = np.random.default_rng(0).choice(N_PER_CLASS, 3000, replace=False)
    normal, diseased = ratio[~truth][sample], ratio[truth][sample]
    assert fit.auc == pytest.approx((diseased[:, None] > normal[None, :]).mean(), abs=0.015)


@pytest.mark.parametrize("b", [0.3, 1.0, 3.0])
def test_the_proper_curve_is_never_below_chance_and_never_hooks(b):
    fpf, tpf = proper_curve(1.0, b)
    assert np.all(np.diff(fpf) >= 0) and np.all(np.diff(tpf) >= -1e-12)
    assert np.all(tpf >= fpf - 1e-9)
    conventional_fpf, conventional_tpf = binormal_curve(1.0, b)
    hooks = np.any(conventional_tpf < conventional_fpf - 1e-3)
    assert hooks == (b != 1.0)  # the conventional curve crosses the chance line whenever b != 1


def test_merging_single_truth_state_categories_gives_the_same_fit_as_an_independent_full_likelihood():
    # 6-point ratings whose two lowest categories hold only non-diseased cases
    normal_counts, diseased_counts = np.array([5, 7, 6, 4, 2, 0]), np.array([0, 0, 3, 5, 6, 9])
    ratings = np.concatenate([np.repeat(np.arange(6), normal_counts), np.repeat(np.arange(6), diseased_counts)])
    truth = np.repeat([False, True], [normal_counts.sum(), diseased_counts.sum()])

    def negative_log_likelihood(params):  # every category its own threshold, as Dorfman & Alf wrote it
        a, b, cuts = params[0], np.exp(params[1]), np.cumsum(np.r_[params[2], np.exp(params[3:])])
        edges = np.r_[-np.inf, cuts, np.inf]
        p_normal, p_diseased = np.diff(stats.norm.cdf(edges)), np.diff(stats.norm.cdf(b * edges - a))
        return -(normal_counts @ np.log(np.maximum(p_normal, 1e-300))
                 + diseased_counts @ np.log(np.maximum(p_diseased, 1e-300)))

    from scipy import optimize

    independent = optimize.minimize(negative_log_likelihood, np.r_[1.0, 0.0, -1.5, np.zeros(4)], method="BFGS")
    fit = fit_binormal(ratings, truth)
    assert fit.n_categories == 5  # the two lowest merged
    assert fit.a == pytest.approx(independent.x[0], abs=2e-3)
    assert fit.b == pytest.approx(np.exp(independent.x[1]), abs=2e-3)
