"""Field monitoring statistics against hand computations, closed forms, Monte Carlo, scipy and statsmodels."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from mrmc.stats.monitoring import (
    BernoulliCusum,
    CategoryCounts,
    CusumState,
    PerformanceAccumulator,
    bernoulli_cusum_reference_value,
    binned_counts,
    categorical_drift,
    continuous_drift,
    design_bernoulli_cusum,
    holm_adjusted,
    population_stability_index,
    psi_bin_edges,
    window_performance,
)

# ---------------------------------------------------------------- CUSUM


@pytest.mark.parametrize("threshold", [1, 2, 3, 4, 6, 10])
def test_arl_of_the_fair_reflected_walk_is_h_times_h_plus_one(threshold):
    # Steps +1 / -1 with p = 1/2, reflected at 0, absorbed at H: E_0 = H (H + 1) (gambler's ruin
    # with a reflecting barrier; by hand for H = 2: E0 = 1 + E0/2 + E1/2, E1 = 1 + E0/2 -> 6).
    assert BernoulliCusum(0.5, 0.6, 1, 1, threshold).arl(0.5) == pytest.approx(threshold * (threshold + 1))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_arl_with_two_states_by_hand(p):
    # States 0 and 1: E0 = 1 + p E1 + q E0, E1 = 1 + q E0  =>  E0 = (1 + p) / p^2
    assert BernoulliCusum(0.1, 0.2, 1, 1, 2).arl(p) == pytest.approx((1 + p) / p**2)


def test_reference_value_by_hand():
    # p0 = 0.1, p1 = 0.3: ln(0.9 / 0.7) / ln(0.3 * 0.9 / (0.1 * 0.7)) = 0.251314 / 1.349927
    assert bernoulli_cusum_reference_value(0.1, 0.3) == pytest.approx(0.2513144 / 1.3499267, rel=1e-6)


def first_alarms(chart, p, runs, length, seed):
    rng = np.random.default_rng(seed)
    _, alarmed = chart.path(CusumState(), rng.random((runs, length)) < p)
    assert alarmed.any(axis=1).all(), "every simulated chart must alarm within the simulated length"
    return alarmed.argmax(axis=1) + 1


def test_designed_chart_meets_its_in_control_arl_with_the_smallest_threshold():
    chart = design_bernoulli_cusum(0.1, 0.3, in_control_arl=500)
    assert chart.k == pytest.approx(bernoulli_cusum_reference_value(0.1, 0.3), abs=1 / 100)
    assert chart.arl(0.1) >= 500
    assert BernoulliCusum(0.1, 0.3, chart.up, chart.down, chart.threshold - 1).arl(0.1) < 500
    assert chart.arl(0.3) < 40  # the shift it is designed for is found quickly


def test_markov_chain_arl_agrees_with_monte_carlo():
    # 3000 seeded charts each; the run length's SD is about its mean, so 4 SE is about 7% of the ARL
    chart = design_bernoulli_cusum(0.2, 0.4, in_control_arl=100)
    for p, seed in ((0.2, 1), (0.4, 2)):
        arl = chart.arl(p)
        runs = first_alarms(chart, p, 3000, int(15 * arl), seed)
        assert runs.mean() == pytest.approx(arl, abs=4 * runs.std() / np.sqrt(runs.size))


def test_run_length_distribution_agrees_with_monte_carlo():
    chart = design_bernoulli_cusum(0.2, 0.4, in_control_arl=100)
    runs = first_alarms(chart, 0.4, 4000, 400, 3)
    cdf = chart.run_length_cdf(0.4, 60)
    for n in (10, 20, 40):
        observed = np.mean(runs <= n)
        assert observed == pytest.approx(cdf[n - 1], abs=4 * np.sqrt(cdf[n - 1] * (1 - cdf[n - 1]) / runs.size))
    quantile = chart.run_length_quantile(0.4, 0.9)
    assert cdf[quantile - 1] >= 0.9 > cdf[quantile - 2]


def test_path_by_hand_restarts_after_an_alarm():
    chart = BernoulliCusum(0.1, 0.3, up=2, down=1, threshold=4)
    path, alarmed = chart.path(CusumState(), [1, 0, 1, 1, 0, 0, 0, 1])
    # 2, 1, 3, 5 (alarm, restart at 0), 0, 0, 0, 2
    assert path.tolist() == [2, 1, 3, 5, 0, 0, 0, 2]
    assert alarmed.tolist() == [False, False, False, True, False, False, False, False]
    state = chart.update(CusumState(), [1, 0, 1, 1, 0, 0, 0, 1])
    assert state == CusumState(statistic=2, n_observed=8, alarms=(4,))


def test_incremental_updates_give_the_state_of_one_update():
    chart = design_bernoulli_cusum(0.1, 0.3, in_control_arl=200)
    errors = (np.random.default_rng(4).random(3000) < 0.15).astype(int)
    whole = chart.update(CusumState(), errors)
    state = CusumState()
    for batch in np.array_split(errors, 17):
        state = CusumState.from_dict(chart.update(state, batch).to_dict())  # stored as JSON between batches
    assert state == whole and len(whole.alarms) > 0


def test_design_refuses_a_decrease():
    with pytest.raises(ValueError, match="increase of the error rate"):
        design_bernoulli_cusum(0.3, 0.1, in_control_arl=500)


# ---------------------------------------------------------------- drift


def test_psi_by_hand():
    result = population_stability_index([50, 30, 20], [30, 30, 40])
    # (0.3 - 0.5) ln(0.3 / 0.5) + 0 + (0.4 - 0.2) ln(0.4 / 0.2)
    expected = -0.2 * np.log(0.6) + 0.2 * np.log(2.0)
    assert result.psi == pytest.approx(expected) and expected == pytest.approx(0.2408, abs=1e-4)
    assert result.level == "moderate"
    assert population_stability_index([50, 50], [50, 50]).level == "stable"
    assert population_stability_index([80, 20], [40, 60]).level == "shift"  # 0.4 ln 2 + 0.4 ln 3 = 0.72


def test_a_new_category_counts_at_the_floor_share():
    result = categorical_drift({"VA50": 100}, {"VA50": 50, "VA60": 50})
    # VA50: (0.5 - 1) ln(0.5); VA60: (0.5 - 1e-4) ln(0.5 / 1e-4)
    assert result.stability.psi == pytest.approx(-0.5 * np.log(0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4))
    assert result.levels == ("VA50", "VA60") and result.stability.level == "shift"


def test_chi_square_by_hand():
    result = categorical_drift({"GE": 50, "Siemens": 50}, {"GE": 30, "Siemens": 70})
    # expected 40 / 60 in each row: 2 (10^2 / 40 + 10^2 / 60) = 8.3333
    assert result.chi2 == pytest.approx(2 * (100 / 40 + 100 / 60)) and result.df == 1
    assert result.p == pytest.approx(stats.chi2.sf(25 / 3, 1))
    assert result.min_expected == pytest.approx(40)


def test_kolmogorov_smirnov_statistic_by_hand_and_p_by_enumeration():
    reference, window = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.5, 5.0, 6.0])
    result = continuous_drift(reference, window, n_bins=2)
    assert result.ks_statistic == pytest.approx(0.75)  # just below 3.5: F_ref 0.75, F_window 0

    def statistic(a, b):
        grid = np.r_[a, b]
        return np.max(np.abs((a[:, None] <= grid).mean(0) - (b[:, None] <= grid).mean(0)))

    pooled = np.r_[reference, window]
    splits = [np.isin(np.arange(7), chosen) for chosen in combinations(range(7), 3)]
    exact = np.mean([statistic(pooled[~s], pooled[s]) >= 0.75 - 1e-12 for s in splits])  # 35 splits
    assert result.ks_p == pytest.approx(exact)


def test_decile_bins_of_the_reference_hold_a_tenth_each():
    reference = np.random.default_rng(6).normal(size=1000)
    edges = psi_bin_edges(reference)
    assert edges.size == 9 and binned_counts(reference, edges).tolist() == [100] * 10
    assert binned_counts([-50.0, 50.0], edges).tolist() == [1] + [0] * 8 + [1]  # open outer bins
    shifted = continuous_drift(reference, reference + 1.0)
    assert shifted.stability.level == "shift" and shifted.ks_p < 1e-10


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.04])
    assert holm_adjusted(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_category_counts_accumulate():
    counts = CategoryCounts().add(["VA50", "VA50", None]).add(["VA60"])
    assert counts.as_dict() == {"": 1, "VA50": 2, "VA60": 1}
    assert CategoryCounts.from_dict(counts.as_dict()) == counts


# ---------------------------------------------------------------- performance per window


def test_window_performance_by_hand():
    truth = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.6, 0.4, 0.2, 0.7, 0.3, 0.3, 0.1, 0.0, 0.5])
    result = window_performance(scores, truth, 0.5)
    # calls >= 0.5: TP 3 (0.9, 0.8, 0.6), FN 2, FP 2 (0.7, 0.5), TN 4
    assert (result.sensitivity.successes, result.sensitivity.n) == (3, 5)
    assert (result.specificity.successes, result.specificity.n) == (4, 6)
    assert (result.ppv.successes, result.ppv.n) == (3, 5)
    assert (result.npv.successes, result.npv.n) == (4, 6)
    u = stats.mannwhitneyu(scores[truth], scores[~truth]).statistic
    assert result.auc.auc == pytest.approx(u / 30)


def test_window_accumulator_grows_incrementally():
    rng = np.random.default_rng(9)
    truth = rng.random(500) < 0.2
    scores = rng.normal(truth * 1.5, 1.0)
    whole = PerformanceAccumulator(0.8).add(scores, truth)
    grown = PerformanceAccumulator(0.8)
    for part in np.array_split(np.arange(500), 7):
        grown = PerformanceAccumulator.from_dict(grown.add(scores[part], truth[part]).to_dict())
    assert grown.summary() == whole.summary()
    assert PerformanceAccumulator(0.5).add([0.9], [True]).summary().auc is None  # one class only


def test_one_chart_follows_the_same_path_as_a_batch_of_charts():
    chart = BernoulliCusum(0.1, 0.3, up=7, down=2, threshold=25)
    errors = np.random.default_rng(12).random((3, 2000)) < 0.2
    start = CusumState(statistic=11)
    batch_path, batch_alarms = chart.path(start, errors)
    for row in range(3):
        path, alarmed = chart.path(start, errors[row])
        assert path.tolist() == batch_path[row].tolist() and alarmed.tolist() == batch_alarms[row].tolist()
    assert batch_alarms.sum() > 10
