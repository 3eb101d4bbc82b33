"""The seeded field-year simulation (mrmc.stats.field_simulation), run small: a scanner software
update at one site lowers sensitivity from month 7; the CUSUM and the drift signal must find it when and
as their designs say."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrmc.stats.field_simulation import (
    FieldScenario,
    cusum_alarms,
    detection,
    monitoring_chart,
    monthly_drift,
    null_false_alarms,
    predicted_delay,
    replicated_detection,
    simulate_field_year,
)

SCENARIO = FieldScenario(change_month=7)


@pytest.fixture(scope="module")
def chart():
    return monitoring_chart(SCENARIO, in_control_arl=2000, sensitivity_to_detect=0.70)


@pytest.fixture(scope="module")
def field():
    return simulate_field_year(SCENARIO, np.random.default_rng(2026))


def test_the_alarm_comes_after_the_change_within_the_predicted_delay(field, chart):
    found = detection(field, SCENARIO, chart)
    prediction = predicted_delay(SCENARIO, chart, quantile=0.99)
    assert found.first_alarm is not None and found.first_alarm > found.positives_before_change
    assert 0 < found.delay <= prediction.bound
    # the bound is the 99th percentile of the out-of-control run length, a few times its mean
    assert prediction.arl < prediction.bound < 5 * prediction.arl


def test_month_by_month_updates_alarm_where_one_pass_does(field, chart):
    assert cusum_alarms(field, chart, SCENARIO.threshold) == cusum_alarms(
        field, chart, SCENARIO.threshold, month_batches=False
    )


def test_false_alarms_in_null_years_are_as_many_as_the_in_control_run_length_predicts(chart):
    null = null_false_alarms(SCENARIO, chart, runs=60, seed=7)
    assert null.site_years == 240
    # site-years with a false alarm: binomial around the chain's P(run length <= positives of the year)
    low, high = stats.binom.ppf([0.0005, 0.9995], null.site_years, null.predicted_probability)
    assert low <= null.with_alarm <= high
    assert 0.05 < null.predicted_probability < 0.3  # about 360 positives a site-year against an ARL of 2000


def test_the_software_version_drift_is_flagged_from_the_month_of_the_update(field):
    rows = monthly_drift(field, SCENARIO)
    flagged = [row.month for row in rows if row.flagged]
    assert flagged == list(range(SCENARIO.change_month, SCENARIO.months + 1))
    before = [row for row in rows if row.month < SCENARIO.change_month]
    assert all(row.software_psi < 0.1 for row in before)


def test_over_seeded_years_early_alarms_and_long_delays_are_as_rare_as_the_chain_predicts(chart):
    prediction = predicted_delay(SCENARIO, chart, quantile=0.99)
    replicated = replicated_detection(SCENARIO, chart, prediction, runs=30, seed=11)
    assert replicated.alarmed_before_change <= stats.binom.ppf(0.9995, 30, replicated.predicted_before_change)
    assert replicated.beyond_bound <= stats.binom.ppf(0.9995, 30, 0.01)
    # the change finds the chart anywhere in its range, so a delay is stochastically at most the zero-state
    # run length: its mean at most that ARL, up to 4 standard errors (the run length's SD from the chain)
    p_after = 1 - SCENARIO.sensitivity_after
    pmf = np.diff(np.r_[0.0, chart.run_length_cdf(p_after, 2000)])
    n = np.arange(1, pmf.size + 1)
    sd = np.sqrt(pmf @ n**2 - (pmf @ n) ** 2)
    assert pmf @ n == pytest.approx(chart.arl(p_after), rel=1e-6)
    assert 0 < replicated.mean_delay <= chart.arl(p_after) + 4 * sd / np.sqrt(replicated.years)
