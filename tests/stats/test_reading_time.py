"""Reading-time summaries and the two-way clustered comparison, against hand values and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from mrmc.stats.reading_time import arm_times, clustered_variance, compare_times, two_way_cluster_variance


def test_arm_times_ignore_untimed_reads():
    result = arm_times(np.array([[10.0, 20.0, np.nan], [30.0, 40.0, 50.0]]))
    assert (result.n_reads, result.mean, result.median) == (5, 30.0, 30.0)


def test_two_way_cluster_variance_by_hand():
    # 2 readers x 2 cases, scores e (already centred): reader totals 1+(-1)=0, 2+(-2)=0 ... computed below
    scores = np.array([1.0, -1.0, 2.0, -2.0])
    readers = np.array([0, 0, 1, 1])
    cases = np.array([0, 1, 0, 1])
    # reader totals 0, 0; case totals 3, -3; sum of squares 10 -> (0 + 18 - 10) / 16
    assert two_way_cluster_variance(scores, readers, cases) == pytest.approx(8 / 16)


def test_a_negative_two_way_variance_falls_back_to_the_largest_one_way_variance():
    # reader totals 1-1=0 and -1+1=0, case totals 0 and 0, sum of squares 4: two-way (0 + 0 - 4) / 16
    scores = np.array([1.0, -1.0, -1.0, 1.0])
    readers = np.array([0, 0, 1, 1])
    cases = np.array([0, 1, 0, 1])
    assert two_way_cluster_variance(scores, readers, cases) == pytest.approx(-4 / 16)
    # by reader 0, by case 0, independent reads 4 / 16
    assert clustered_variance(scores, readers, cases) == pytest.approx(4 / 16)


def test_a_non_negative_two_way_variance_is_kept():
    scores = np.array([1.0, -1.0, 2.0, -2.0])
    readers = np.array([0, 0, 1, 1])
    cases = np.array([0, 1, 0, 1])
    assert clustered_variance(scores, readers, cases) == pytest.approx(8 / 16)


def test_two_way_cluster_variance_matches_statsmodels():
    rng = np.random.default_rng(2)
    readers, cases = np.meshgrid(np.arange(6), np.arange(40), indexing="ij")
    readers, cases = readers.ravel(), cases.ravel()
    y = rng.normal(size=6)[readers] + rng.normal(size=40)[cases] + rng.normal(size=readers.size)
    fit = sm.OLS(y, np.ones_like(y)).fit(
        cov_type="cluster", cov_kwds={"groups": np.column_stack([readers, cases]), "use_correction": False}
    )
    assert two_way_cluster_variance(y - y.mean(), readers, cases) == pytest.approx(fit.cov_params()[0, 0], rel=1e-10)


def test_compare_times_ratio_and_difference():
    rng = np.random.default_rng(4)
    unaided = 60 * np.exp(
        rng.normal(size=(5, 1)) * 0.2 + rng.normal(size=(1, 80)) * 0.3 + rng.normal(size=(5, 80)) * 0.2
    )
    aided = unaided * 0.8
    aided[0, 0] = np.nan  # untimed: the pair drops out
    result = compare_times(unaided, aided)
    keep = np.isfinite(aided)
    assert result.n_pairs == 5 * 80 - 1
    assert result.ratio == pytest.approx(0.8)
    assert result.difference == pytest.approx(aided[keep].mean() - unaided[keep].mean())
    assert result.ratio_ci[0] <= 0.8 <= result.ratio_ci[1]
    assert result.df == 4


def test_ratio_interval_widens_with_reader_clustering():
    rng = np.random.default_rng(9)
    base = 60 * np.exp(rng.normal(size=(1, 100)) * 0.3 + rng.normal(size=(6, 100)) * 0.2)
    same_change = compare_times(base, base * np.exp(-0.2 + rng.normal(size=(6, 100)) * 0.05))
    reader_specific = compare_times(
        base, base * np.exp(-0.2 + rng.normal(size=(6, 1)) * 0.2 + rng.normal(size=(6, 100)) * 0.05)
    )
    width = lambda r: np.log(r.ratio_ci[1] / r.ratio_ci[0])  # noqa: E731
    assert width(reader_specific) > 2 * width(same_change)
