"""AI versus readers with readers random (1T-RRRC, Hillis 2007 sec. 5.3; RJafroc's StCadVsRad).

RJafroc is not installed on the test machines; the checks are the formulas written out by hand,
the one-sample t test they reduce to, the equivalent two-treatment OR analysis (RJafroc's
"2T-RRRC", which its documentation says gives the same F, ddf and p), and type I error.
"""

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import FigureOfMerit, analyze, auc
from mrmc.stats.covariance import estimate_covariance, jackknife_covariance
from mrmc.stats.standalone import ai_versus_readers, reader_minus_ai_test

AUC = FigureOfMerit("auc")


def roe_metz(rng, n_studies, n_readers, n_cases, *, reader_sd=0.3, case_var=0.3, separation=1.5):
    """Null studies: reader j separates the classes by separation + N(0, reader_sd^2), the AI by a
    fixed amount whose AUC equals the readers' population mean AUC.

    Every rating has a case effect N(0, case_var) shared by the readers and the AI and its own
    noise N(0, 1 - case_var), so a reader's AUC is Phi(mu_j / sqrt(2)) and its mean over readers
    Phi(separation / sqrt(2 + reader_sd^2)). Returns ratings (studies, J + 1, cases), AI last.
    """
    truth = np.arange(n_cases) < n_cases // 2
    ai_separation = separation * np.sqrt(2) / np.sqrt(2 + reader_sd**2)
    reader_separation = separation + reader_sd * rng.normal(size=(n_studies, n_readers, 1))
    separations = np.concatenate([reader_separation, np.full((n_studies, 1, 1), ai_separation)], axis=1)
    case_effect = np.sqrt(case_var) * rng.normal(size=(n_studies, 1, n_cases))
    noise = np.sqrt(1 - case_var) * rng.normal(size=(n_studies, n_readers + 1, n_cases))
    return separations * truth + case_effect + noise, truth


def test_hand_computed_example():
    # psi = (0.02, -0.01, 0.05): mean 0.02, MS(R) = (0 + 0.03^2 + 0.03^2) / 2 = 0.0009
    # Var = 0.001, Cov2 = 0.0004: den = 0.0009 + 3 * 0.0004 = 0.0021, SE = sqrt(0.0021 / 3) = sqrt(0.0007)
    # df = 0.0021^2 / (0.0009^2 / 2) = 4.41e-6 / 4.05e-7 = 10.8888...
    differences = np.array([0.02, -0.01, 0.05])
    covariance = np.full((3, 3), 0.0004) + np.eye(3) * 0.0006
    test = reader_minus_ai_test(differences, covariance)
    assert (test.ms_r, test.var_error, test.cov2) == pytest.approx((0.0009, 0.001, 0.0004), abs=1e-15)
    assert test.se == pytest.approx(np.sqrt(0.0007), rel=1e-12)
    assert test.df == pytest.approx(4.41e-6 / 4.05e-7, rel=1e-12)
    assert test.statistic == pytest.approx(0.02 / np.sqrt(0.0007), rel=1e-12)
    assert test.p == pytest.approx(2 * stats.t.sf(0.02 / np.sqrt(0.0007), 4.41e-6 / 4.05e-7), rel=1e-10)
    # FRRC: Var(mean psi) = (Var + (J - 1) Cov2) / J = (0.001 + 0.0008) / 3 = 0.0006, z test
    frrc = reader_minus_ai_test(differences, covariance, method="frrc")
    assert (frrc.se, frrc.df) == (pytest.approx(np.sqrt(0.0006), rel=1e-12), None)
    # 1T-RRFC: the one-sample t test, SE = sqrt(0.0009 / 3), df 2
    rrfc = reader_minus_ai_test(differences, covariance, method="rrfc")
    assert (rrfc.se, rrfc.df) == (pytest.approx(np.sqrt(0.0003), rel=1e-12), 2)


def test_without_case_covariance_between_readers_it_is_the_one_sample_t_test():
    differences = np.array([0.031, -0.012, 0.054, 0.007, 0.022, -0.004])
    expected = stats.ttest_1samp(differences, 0.0)
    for covariance in (np.zeros((6, 6)), np.eye(6) * 0.002, np.eye(6) * 0.002 - 0.0001):  # Cov2 = 0, 0, < 0
        test = reader_minus_ai_test(differences, covariance)
        assert test.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert test.df == pytest.approx(expected.df, rel=1e-12)
        assert test.p == pytest.approx(expected.pvalue, rel=1e-10)


def test_on_ratings_with_negative_cov2_the_t_test_of_the_reader_differences():
    rng = np.random.default_rng(21)
    truth = np.arange(60) % 2 == 0
    readers = 1.2 * truth + rng.normal(size=(5, 60))  # independent readers: no shared case effect
    ai = truth + 0.0  # separates the classes perfectly: AUC 1 without case-sampling variance
    result = ai_versus_readers(readers, ai, truth, fom=AUC)
    differences = [auc(r, truth) - 1.0 for r in readers]
    assert result.reader_differences == pytest.approx(differences, abs=1e-15)
    assert result.cov2 < 0  # what this seed gives: the readers' sample covariances average below 0
    expected = stats.ttest_1samp(differences, 0.0)
    assert (result.statistic, result.df, result.p) == pytest.approx(
        (expected.statistic, expected.df, expected.pvalue), rel=1e-10
    )


def test_same_f_ddf_and_p_as_the_two_treatment_or_analysis_with_the_ai_replicated():
    rng = np.random.default_rng(22)
    ratings, truth = roe_metz(rng, 1, 6, 80)
    readers, ai = ratings[0, :6], ratings[0, 6]
    result = ai_versus_readers(readers, ai, truth, fom=AUC)
    replicated = analyze(np.stack([readers, np.tile(ai, (6, 1))]), truth, treatments=("readers", "AI"))
    rrrc = replicated.analysis.rrrc
    assert result.method == "rrrc" and "random" in result.method_description
    assert result.difference == pytest.approx(rrrc.differences[0].estimate, abs=1e-15)
    assert result.statistic**2 == pytest.approx(rrrc.test.statistic, rel=1e-10)
    assert result.df == pytest.approx(rrrc.test.df2, rel=1e-10)
    assert result.p == pytest.approx(rrrc.test.p, rel=1e-10)
    assert result.ci == pytest.approx(rrrc.differences[0].ci, rel=1e-10)


def test_frrc_keeps_the_fixed_reader_variance():
    rng = np.random.default_rng(23)
    ratings, truth = roe_metz(rng, 1, 4, 70)
    readers, ai = ratings[0, :4], ratings[0, 4]
    result = ai_versus_readers(readers, ai, truth, fom=AUC, method="frrc")
    weights = np.r_[np.full(4, 0.25), -1.0]
    s = estimate_covariance("jackknife", AUC, ratings[0][None], truth)
    assert result.se == pytest.approx(np.sqrt(weights @ s @ weights), rel=1e-12)
    assert result.df is None
    assert result.p == pytest.approx(2 * stats.norm.sf(abs(result.difference) / result.se), rel=1e-10)


def test_readers_random_needs_two_readers():
    rng = np.random.default_rng(24)
    ratings, truth = roe_metz(rng, 1, 1, 40)
    with pytest.raises(ValueError, match="at least two readers"):
        ai_versus_readers(ratings[0, :1], ratings[0, 1], truth, fom=AUC)
    with pytest.raises(ValueError, match="unknown method"):
        ai_versus_readers(ratings[0, :1], ratings[0, 1], truth, fom=AUC, method="dbm")


def rejection_rates(n_studies, n_readers, n_cases, seed):
    rng = np.random.default_rng(seed)
    ratings, truth = roe_metz(rng, n_studies, n_readers, n_cases)
    covariance = jackknife_covariance(AUC, ratings[:, None], truth)  # (studies, J + 1, J + 1)
    theta = auc(ratings, truth)
    to_differences = np.hstack([np.eye(n_readers), -np.ones((n_readers, 1))])
    differences = theta @ to_differences.T
    cov_differences = to_differences @ covariance @ to_differences.T
    return {
        method: float(np.mean(reader_minus_ai_test(differences, cov_differences, method=method).p < 0.05))
        for method in ("rrrc", "frrc")
    }


@pytest.mark.slow
@pytest.mark.parametrize(("n_readers", "n_cases"), [(5, 100), (3, 60)])
def test_type_one_error_with_readers_random(n_readers, n_cases):
    rates = rejection_rates(10_000, n_readers, n_cases, seed=25)
    assert 0.04 <= rates["rrrc"] <= 0.06, rates
    # the AI as a fixed reader ignores the spread of the reader population: far too many rejections
    assert rates["frrc"] > 0.08, rates
