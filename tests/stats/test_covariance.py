"""Covariance estimators against slow, obvious implementations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import FigureOfMerit, estimate_covariance, read_long_csv
from mrmc.stats import covariance as covariance_module

DATA = Path(__file__).parent / "data"
AUC = FigureOfMerit("auc")


def small_study(seed=0, n_normal=9, n_abnormal=7, shape=(2, 3), levels=5):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(n_normal, dtype=bool), np.ones(n_abnormal, dtype=bool)]
    ratings = rng.integers(1, levels + 1, size=shape + (truth.size,)).astype(float)
    ratings[..., truth] += 1
    return ratings, truth


def kernels(ratings, truth):
    flat = ratings.reshape(-1, truth.size)
    diseased, normal = flat[:, truth], flat[:, ~truth]
    return (diseased[:, :, None] > normal[:, None, :]) + 0.5 * (diseased[:, :, None] == normal[:, None, :])


def recomputed_jackknife(fom, ratings, truth):
    """Leave each case out and recompute the figure of merit from scratch."""
    left_out = np.array(
        [fom.values(np.delete(ratings, k, axis=-1), np.delete(truth, k)).ravel() for k in range(truth.size)]
    )
    centred = left_out - left_out.mean(axis=0)
    return (truth.size - 1) / truth.size * centred.T @ centred


@pytest.mark.parametrize(
    "fom",
    [
        AUC,
        FigureOfMerit("sens", threshold=4),
        FigureOfMerit("spec", threshold=3),
        FigureOfMerit("pauc", pauc_range=(0.6, 1.0)),
    ],
    ids=lambda fom: fom.kind,
)
def test_jackknife_equals_leave_one_out_recomputation(fom):
    ratings, truth = small_study()
    np.testing.assert_allclose(
        estimate_covariance("jackknife", fom, ratings, truth),
        recomputed_jackknife(fom, ratings, truth),
        rtol=1e-10,
        atol=1e-15,
    )


def test_delong_equals_structural_component_formula():
    ratings, truth = small_study(1)
    psi = kernels(ratings, truth)
    v10 = psi.mean(axis=2)  # (fom, diseased)
    v01 = psi.mean(axis=1)  # (fom, normal)
    n1, n0 = v10.shape[1], v01.shape[1]
    s10 = np.array([[np.sum((a - a.mean()) * (b - b.mean())) / (n1 - 1) for b in v10] for a in v10])
    s01 = np.array([[np.sum((a - a.mean()) * (b - b.mean())) / (n0 - 1) for b in v01] for a in v01])
    np.testing.assert_allclose(estimate_covariance("delong", AUC, ratings, truth), s10 / n1 + s01 / n0, rtol=1e-12)


def unbiased_by_enumeration(ratings, truth):
    """Gallas's estimator from explicit means over the four kinds of pairs of case pairs."""
    psi = kernels(ratings, truth).reshape(ratings.shape[0] * ratings.shape[1], -1)
    n1, n0 = int(truth.sum()), int((~truth).sum())
    diseased, normal = np.divmod(np.arange(n1 * n0), n0)
    same_diseased = diseased[:, None] == diseased[None, :]
    same_normal = normal[:, None] == normal[None, :]
    masks = [
        same_diseased & same_normal,
        same_diseased & ~same_normal,
        ~same_diseased & same_normal,
        ~same_diseased & ~same_normal,
    ]
    result = np.empty((psi.shape[0], psi.shape[0]))
    for a in range(psi.shape[0]):
        for b in range(psi.shape[0]):
            products = np.outer(psi[a], psi[b])
            a1, a2, a3, a4 = (products[mask].mean() for mask in masks)
            result[a, b] = (a1 + (n0 - 1) * a2 + (n1 - 1) * a3 + (1 - n0 - n1) * a4) / (n0 * n1)
    return result


@pytest.mark.parametrize(("block_elements", "bin_cost_ratio"), [(2**20, 1 / 3), (5, 1 / 3), (1, 1e-3)])
def test_unbiased_equals_enumeration(monkeypatch, block_elements, bin_cost_ratio):
    monkeypatch.setattr(covariance_module, "_PAIR_BLOCK_ELEMENTS", block_elements)
    monkeypatch.setattr(covariance_module, "_BIN_COST_RATIO", bin_cost_ratio)
    ratings, truth = small_study(2)
    np.testing.assert_allclose(
        estimate_covariance("unbiased", AUC, ratings, truth),
        unbiased_by_enumeration(ratings, truth),
        rtol=1e-10,
        atol=1e-15,
    )


@pytest.mark.parametrize("bin_cost_ratio", [1 / 3, 1e-2, 1e-4])
@pytest.mark.parametrize(
    ("n_diseased", "n_normal", "levels"), [(37, 23, 6), (29, 41, 101), (40, 31, None), (3, 2, None), (1, 1, 2)]
)
def test_kernel_product_sums_equal_brute_force(monkeypatch, bin_cost_ratio, n_diseased, n_normal, levels):
    """Dominance counting (histograms and within-bin corrections) against the definition."""
    monkeypatch.setattr(covariance_module, "_BIN_COST_RATIO", bin_cost_ratio)
    monkeypatch.setattr(covariance_module, "_PAIR_BLOCK_ELEMENTS", 2**12)
    rng = np.random.default_rng(n_diseased)
    shape = (6, n_diseased + n_normal)
    ratings = rng.normal(size=shape) if levels is None else rng.integers(0, levels, size=shape).astype(float)
    diseased, normal = ratings[:, :n_diseased], ratings[:, n_diseased:]
    psi = (diseased[:, :, None] > normal[:, None, :]) + 0.5 * (diseased[:, :, None] == normal[:, None, :])
    expected = np.einsum("aij,bij->ab", psi, psi)
    np.testing.assert_array_equal(covariance_module._kernel_product_sums(diseased, normal), expected)


def test_unbiased_rejects_other_figures_of_merit():
    ratings, truth = small_study()
    with pytest.raises(ValueError, match="auc"):
        estimate_covariance("unbiased", FigureOfMerit("sens", threshold=3), ratings, truth)
    with pytest.raises(ValueError, match="DeLong"):
        estimate_covariance("delong", FigureOfMerit("pauc"), ratings, truth)
    with pytest.raises(ValueError, match="unknown covariance"):
        estimate_covariance("sandwich", AUC, ratings, truth)


def test_bootstrap_is_seeded_and_close_to_jackknife():
    study = read_long_csv(DATA / "vandyke.csv")
    first = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=7)
    again = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=7)
    other = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    jackknife = estimate_covariance("jackknife", AUC, study.ratings, study.truth)
    # Sampling error of 1000 resamples is a few percent; the mean variance must agree to ~15%.
    assert np.mean(np.diag(first)) == pytest.approx(np.mean(np.diag(jackknife)), rel=0.15)


def test_bootstrap_resamples_within_truth_class():
    """A figure of merit that is constant under stratified resampling has zero variance."""
    ratings, truth = small_study(3, shape=(1, 1))
    perfect = np.where(truth, 10.0, 0.0)[None, None, :] + ratings * 0.01
    cov = estimate_covariance("bootstrap", AUC, perfect, truth, n_bootstrap=50, seed=0)
    assert cov == pytest.approx(0.0, abs=1e-20)
