"""Case-mix representativeness: counts, Wilson intervals and the under-representation rule, by hand."""

import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from mrmc.stats.representation import BELOW_RATIO, CI_BELOW_TARGET, representation, wilson_interval


def wilson_by_hand(count: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = count / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.parametrize(("count", "n"), [(3, 10), (0, 12), (12, 12), (37, 120)])
def test_wilson_interval_matches_the_formula_and_statsmodels(count, n):
    assert wilson_interval(count, n) == pytest.approx(wilson_by_hand(count, n), abs=1e-12)
    assert wilson_interval(count, n, 0.1) == pytest.approx(proportion_confint(count, n, 0.1, method="wilson"))


def test_wilson_interval_of_three_in_ten_is_the_published_one():
    # Brown, Cai & DasGupta (2001) style check: 3/10 -> 0.1078 to 0.6032
    assert wilson_interval(3, 10) == pytest.approx((0.1078, 0.6032), abs=1e-4)


def test_groups_counts_targets_and_flags():
    values = ["40-49"] * 2 + ["50-59"] * 10 + ["60-69"] * 7 + ["90+"] + [""] * 2
    truth = np.array([True, False] + [True] * 4 + [False] * 6 + [True] * 3 + [False] * 4 + [True] + [False, True])
    rows = representation(values, truth, {"40-49": 0.3, "50-59": 0.3, "60-69": 0.3, "70-79": 0.1},
                          min_ratio=0.5, alpha=0.05)
    assert [row.group for row in rows] == ["40-49", "50-59", "60-69", "70-79", "90+", ""]
    by_group = {row.group: row for row in rows}
    n = 22
    assert all(row.n == n for row in rows) and sum(row.count for row in rows) == n
    # 40-49: 2/22 = 0.0909 < 0.5 x 0.3 = 0.15, and its Wilson upper limit (0.2778) < 0.3: both reasons
    forty = by_group["40-49"]
    assert (forty.count, forty.count_diseased, forty.count_non_diseased) == (2, 1, 1)
    assert forty.proportion == pytest.approx(2 / 22) and forty.ci == pytest.approx(wilson_by_hand(2, 22))
    assert forty.reasons == (BELOW_RATIO, CI_BELOW_TARGET) and forty.under_represented
    # 50-59: 10/22 = 0.4545, above its target: fine
    assert by_group["50-59"].reasons == () and by_group["50-59"].count_diseased == 4
    # 60-69: 7/22 = 0.318, fine; 70-79: none at all, below the ratio
    assert by_group["60-69"].reasons == ()
    seventy = by_group["70-79"]
    assert seventy.count == 0 and seventy.ci[0] == 0.0 and seventy.ci[1] == pytest.approx(wilson_by_hand(0, 22)[1])
    assert seventy.ci[1] == pytest.approx(0.1487, abs=1e-4)  # z²/(n + z²): above the target 0.1
    assert seventy.reasons == (BELOW_RATIO,)
    # groups without a target are listed, never flagged; the cases without a value count in the denominator
    assert by_group["90+"].target is None and by_group["90+"].reasons == ()
    assert by_group[""].count == 2 and by_group[""].count_diseased == 1


def test_a_shortfall_within_chance_but_below_the_ratio_is_flagged_by_the_ratio_only():
    # 1 of 5 against a target of 0.5: 0.2 < 0.25 but the Wilson upper limit (0.6245) is above 0.5
    rows = representation(["a", "b", "b", "b", "b"], np.array([True] * 5), {"a": 0.5}, min_ratio=0.5)
    assert rows[0].ci[1] == pytest.approx(wilson_by_hand(1, 5)[1]) and rows[0].ci[1] > 0.5
    assert rows[0].reasons == (BELOW_RATIO,)


def test_a_statistical_shortfall_above_the_ratio_is_flagged_by_the_interval_only():
    # 60 of 200 against 0.4: 0.3 > 0.2, but the Wilson upper limit (0.3685) is below 0.4
    values = ["a"] * 60 + ["b"] * 140
    rows = representation(values, np.zeros(200, dtype=bool), {"a": 0.4}, min_ratio=0.5)
    assert wilson_by_hand(60, 200)[1] < 0.4
    assert rows[0].reasons == (CI_BELOW_TARGET,)


def test_truth_must_match_the_cases():
    with pytest.raises(ValueError, match="one truth value per case"):
        representation(["a", "b"], np.array([True]), {"a": 0.5})
