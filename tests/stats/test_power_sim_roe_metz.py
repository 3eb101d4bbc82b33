"""OR parameters of a Roe & Metz model and the RM model for given OR parameters (Hillis 2018, 2020)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import FigureOfMerit, auc, simulate_roe_metz
from mrmc.stats.covariance import jackknife_covariance
from mrmc.stats.or_components import covariance_averages, sums_of_squares
from mrmc.stats.roe_metz_params import (
    RoeMetzModel,
    bivariate_normal_cdf,
    or_parameters_of_roe_metz,
    roe_metz_from_or,
)
from mrmc.stats.simulation import ROE_METZ_STRUCTURES

# A pilot like the VanDyke study (69 + 45 cases): its AUCs and OR reader variances, round correlations
PILOT = dict(auc=(0.897, 0.941), var_R=0.00153, var_TR=0.0002, correlations=(0.43, 0.43, 0.30))


@pytest.mark.parametrize(("h", "k", "rho"), [(0.3, -0.5, 0.4), (1.0, 1.2, 0.95), (0.2, 0.7, -0.3), (-1.5, 0.1, 0.0)])
def test_bivariate_normal_cdf_matches_scipy(h, k, rho):
    expected = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]], abseps=1e-12, releps=1e-12).cdf([h, k])
    assert bivariate_normal_cdf(h, k, rho) == pytest.approx(expected, abs=1e-10)


def test_bivariate_normal_cdf_at_perfect_correlation_is_the_smaller_margin():
    assert bivariate_normal_cdf(0.5, 0.5, 1.0) == pytest.approx(stats.norm.cdf(0.5), abs=1e-12)
    assert bivariate_normal_cdf(0.2, 0.9, 1.0) == pytest.approx(stats.norm.cdf(0.2), abs=1e-6)


def test_auc_of_a_roe_metz_structure():
    """Roe & Metz (1997) Table 1: separation 1.5 gives AUC 0.855 without reader variability."""
    structure = ROE_METZ_STRUCTURES["HL2"]
    implied = or_parameters_of_roe_metz(RoeMetzModel(structure), n_normal=50, n_abnormal=50)
    expected = stats.norm.cdf(1.5 / np.sqrt(2 + 4 * structure.var_R))
    assert implied.auc == pytest.approx((expected, expected), abs=1e-12)
    assert implied.var_R > 0 and implied.var_TR > 0
    assert implied.var_error > implied.cov2 > implied.cov3 > 0 and implied.cov1 > implied.cov3


def test_a_model_is_recovered_from_its_own_or_parameters():
    structure = ROE_METZ_STRUCTURES["HH2"]
    model = RoeMetzModel(structure, treatment_effect=0.2)
    implied = or_parameters_of_roe_metz(model, n_normal=60, n_abnormal=40)
    fit = roe_metz_from_or(
        auc=implied.auc, var_R=implied.var_R, var_TR=implied.var_TR, correlations=implied.correlations,
        n_normal=60, n_abnormal=40,
    )
    assert fit.max_residual < 1e-6
    found = fit.model.structure
    for name in ("var_R", "var_TR", "var_C", "var_TC", "var_RC", "var_error", "mu"):
        assert getattr(found, name) == pytest.approx(getattr(structure, name), rel=1e-3, abs=1e-5), name
    assert fit.model.treatment_effect == pytest.approx(0.2, rel=1e-3)


def test_unattainable_correlations_leave_a_residual():
    fit = roe_metz_from_or(auc=(0.8, 0.8), var_R=0.001, var_TR=0.0005, correlations=(0.9, 0.9, 0.1),
                           n_normal=50, n_abnormal=50)
    assert fit.max_residual > 0.05


@pytest.mark.slow
def test_studies_simulated_from_the_converted_model_give_back_the_or_parameters():
    """2,000 fully crossed studies (6 readers, 69 + 45 cases) from the RM model fitted to PILOT;
    each analysed as a pilot would be (jackknife covariance, OR method of moments).

    The AUCs, var_R, var_TR and Cov1-3 averaged over studies must lie within 4 Monte-Carlo SE of
    their targets. The correlations divide by the jackknife Var, which overestimates a
    U-statistic's variance by O(1/n) (Efron & Stein 1981): about 1.5% here, so they are held
    within 3% of the target.
    """
    n_studies, n_readers = 2000, 6
    fit = roe_metz_from_or(**PILOT, n_normal=69, n_abnormal=45)
    assert fit.max_residual < 1e-6
    ratings, truth = simulate_roe_metz(
        n_readers=n_readers, n_normal=69, n_abnormal=45, structure=fit.model.structure,
        treatment_effect=fit.model.treatment_effect, n_studies=n_studies, seed=20261204,
    )
    theta = auc(ratings, truth)
    var, cov1, cov2, cov3 = covariance_averages(jackknife_covariance(FigureOfMerit("auc"), ratings, truth), 2, n_readers)
    _, ss_r, ss_tr = sums_of_squares(theta)
    ms_r, ms_tr = ss_r / (n_readers - 1), ss_tr / (n_readers - 1)
    estimates = {  # Hillis (2007): the OR method-of-moments estimators
        "auc1": (theta[:, 0].mean(axis=1), PILOT["auc"][0]),
        "auc2": (theta[:, 1].mean(axis=1), PILOT["auc"][1]),
        "var_R": ((ms_r - ms_tr) / 2 - cov1 + cov3, PILOT["var_R"]),
        "var_TR": (ms_tr - var + cov1 + cov2 - cov3, PILOT["var_TR"]),
        "cov1": (cov1, fit.implied.cov1),
        "cov2": (cov2, fit.implied.cov2),
        "cov3": (cov3, fit.implied.cov3),
    }
    for name, (values, target) in estimates.items():
        mc_se = values.std(ddof=1) / np.sqrt(n_studies)
        assert abs(values.mean() - target) < 4 * mc_se, (name, values.mean(), target, mc_se)
    correlations = np.array([cov1.mean(), cov2.mean(), cov3.mean()]) / var.mean()
    assert correlations == pytest.approx(PILOT["correlations"], rel=0.03)
