"""Roe & Metz simulation, and the RRRC test's type I error on null studies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mrmc.stats import ROE_METZ_STRUCTURES, FigureOfMerit, auc, simulate_roe_metz
from mrmc.stats.covariance import jackknife_covariance
from mrmc.stats.or_analysis import rrrc_test


def test_published_structures():
    assert len(ROE_METZ_STRUCTURES) == 12
    for name, structure in ROE_METZ_STRUCTURES.items():
        total = structure.var_C + structure.var_TC + structure.var_RC + structure.var_error
        assert total == pytest.approx(1.0), name
    assert norm.cdf(ROE_METZ_STRUCTURES["HL1"].mu / np.sqrt(2)) == pytest.approx(0.702, abs=1e-3)
    assert norm.cdf(ROE_METZ_STRUCTURES["LH2"].mu / np.sqrt(2)) == pytest.approx(0.855, abs=1e-3)
    assert norm.cdf(ROE_METZ_STRUCTURES["HH3"].mu / np.sqrt(2)) == pytest.approx(0.962, abs=1e-3)


def test_seeded_shapes_and_population_auc():
    first, truth = simulate_roe_metz(n_readers=4, n_normal=30, n_abnormal=20, n_treatments=3, seed=1)
    again, _ = simulate_roe_metz(n_readers=4, n_normal=30, n_abnormal=20, n_treatments=3, seed=1)
    assert first.shape == (3, 4, 50) and truth.sum() == 20
    np.testing.assert_array_equal(first, again)
    many, truth = simulate_roe_metz(n_readers=5, n_normal=400, n_abnormal=400, structure="LL2", n_studies=20, seed=2)
    assert auc(many, truth).mean() == pytest.approx(0.855, abs=0.01)


def test_treatment_effect_raises_auc_of_later_treatments():
    ratings, truth = simulate_roe_metz(
        n_readers=5, n_normal=300, n_abnormal=300, treatment_effect=0.5, n_studies=10, seed=3
    )
    means = auc(ratings, truth).mean(axis=(0, 2))
    assert means[1] - means[0] == pytest.approx(norm.cdf(2.0 / np.sqrt(2)) - norm.cdf(1.5 / np.sqrt(2)), abs=0.015)


@pytest.mark.slow
@pytest.mark.parametrize("structure", ["HL2", "LL2", "HH2"])
def test_rrrc_type_one_error_is_nominal(structure):
    """2,000 null studies (5 readers, 50 + 50 cases): rejection rate at alpha 0.05 in [0.04, 0.06]."""
    ratings, truth = simulate_roe_metz(
        n_readers=5, n_normal=50, n_abnormal=50, structure=structure, n_studies=2000, seed=20261128
    )
    p = rrrc_test(auc(ratings, truth), jackknife_covariance(FigureOfMerit("auc"), ratings, truth)).p
    assert 0.04 <= np.mean(p < 0.05) <= 0.06
