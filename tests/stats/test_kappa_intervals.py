"""Cohen's kappa and the intervals of Cohen's and Fleiss' kappa against hand computation, statsmodels and the
jackknife."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from mrmc.stats.agreement import cohen_kappa, fleiss_kappa


def ratings_from_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two raters' categories of the cases counted in a (k x k) table."""
    first, second = np.nonzero(table)
    counts = table[first, second]
    return np.repeat(first, counts), np.repeat(second, counts)


def test_cohen_hand_computed():
    # 50 cases: both say 1 on 20, both 0 on 15, 5 and 10 disagreements. P_o = 35/50 = 0.7;
    # rater 1 says 1 on 25 (0.5), rater 2 on 30 (0.6): P_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    result = cohen_kappa(*ratings_from_table(np.array([[15, 10], [5, 20]])))
    assert result.observed_agreement == pytest.approx(0.7)
    assert result.chance_agreement == pytest.approx(0.5)
    assert result.kappa == pytest.approx(0.4)
    # Under kappa = 0: Var0 = [P_e + P_e^2 - sum p_i. p_.i (p_i. + p_.i)] / (N (1 - P_e)^2)
    #     = [0.5 + 0.25 - (0.5 * 0.4 * 0.9 + 0.5 * 0.6 * 1.1)] / (50 * 0.25) = 0.24 / 12.5
    var0 = (0.5 + 0.25 - (0.5 * 0.4 * 0.9 + 0.5 * 0.6 * 1.1)) / (50 * 0.25)
    assert result.se_null == pytest.approx(np.sqrt(var0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cohen_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 3, 80)
    second = np.where(rng.random(80) < 0.6, first, rng.integers(0, 3, 80))
    table = np.zeros((3, 3))
    np.add.at(table, (first, second), 1)
    expected = cohens_kappa(table)
    result = cohen_kappa(first, second)
    assert result.kappa == pytest.approx(expected.kappa, rel=1e-12)
    assert result.se == pytest.approx(expected.std_kappa, rel=1e-12)  # Fleiss, Cohen & Everitt (1969)
    assert result.se_null == pytest.approx(expected.std_kappa0, rel=1e-12)
    assert result.ci == pytest.approx((expected.kappa_low, expected.kappa_upp), rel=1e-12)
    assert result.p == pytest.approx(expected.pvalue_two_sided, rel=1e-9)


def test_cohen_categories_only_one_rater_used():
    # rater 2 uses a category rater 1 never does: the table is 3 x 3 all the same
    first, second = np.array([0, 0, 1, 1, 1]), np.array([0, 2, 1, 1, 0])
    table = np.zeros((3, 3))
    np.add.at(table, (first, second), 1)
    assert cohen_kappa(first, second).kappa == pytest.approx(cohens_kappa(table).kappa)


def test_cohen_undefined_when_both_raters_use_one_category():
    result = cohen_kappa(np.ones(6), np.ones(6))
    assert np.isnan(result.kappa) and result.observed_agreement == 1.0


def test_cohen_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="same cases"):
        cohen_kappa(np.ones(3), np.ones(4))


def test_fleiss_interval_agrees_with_the_jackknife():
    """The large-sample (Gwet 2008) standard error against the jackknife's, an independent estimate of the same
    sampling variance, on 3 raters and 600 cases."""
    rng = np.random.default_rng(11)
    truth = rng.random(600) < 0.4
    decisions = np.array([np.where(rng.random(600) < agree, truth, rng.random(600) < 0.4)
                          for agree in (0.8, 0.6, 0.7)]).astype(int)
    result = fleiss_kappa(decisions)
    assert result.kappa == pytest.approx(sm_fleiss_kappa(aggregate_raters(decisions.T)[0]), rel=1e-12)
    n = decisions.shape[1]
    leave_one_out = np.array([fleiss_kappa(np.delete(decisions, i, axis=1)).kappa for i in range(n)])
    jackknife_se = np.sqrt((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean()) ** 2))
    assert result.se == pytest.approx(jackknife_se, rel=0.03)
    assert result.ci == pytest.approx((result.kappa - 1.959964 * result.se, result.kappa + 1.959964 * result.se))
    assert result.se != pytest.approx(result.se_null, rel=0.03)  # the null SE would be the wrong width here


def test_intervals_stay_within_kappas_range():
    """Three raters agreeing on all but one of ten cases: the Wald interval reaches past 1 and is clipped there."""
    decisions = np.array([[1, 1, 1, 0, 0, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 1, 0, 1, 0, 1]])
    fleiss = fleiss_kappa(decisions)
    assert fleiss.kappa + 1.96 * fleiss.se > 1  # unclipped, the interval would pass 1
    assert fleiss.ci[1] == 1.0 and fleiss.ci[0] == pytest.approx(fleiss.kappa - stats.norm.ppf(0.975) * fleiss.se)
    cohen = cohen_kappa(decisions[0], decisions[2])
    assert cohen.kappa + 1.96 * cohen.se > 1 and cohen.ci[1] == 1.0
