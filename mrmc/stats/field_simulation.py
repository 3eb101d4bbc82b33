"""A seeded year of field data for a monitored deployment (several sites; at one, a scanner software update
lowers the device's sensitivity from a given month) and what the monitoring statistics make of it: when the
per-site Bernoulli CUSUM alarms against the delay its Markov chain predicts, false alarms over null years, and
the month the software-version drift is flagged. ``benchmarks/monitoring_simulation.py`` prints the figures;
the demo's monitored deployment is simulated with :func:`simulate_field_year`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from .monitoring import (
    BernoulliCusum,
    CategoryCounts,
    CusumState,
    categorical_drift,
    continuous_drift,
    design_bernoulli_cusum,
    window_performance,
)

SOFTWARE = {"site-A": "GE 28.1", "site-B": "Siemens VA40", "site-C": "Siemens VA50", "site-D": "Philips 5.1"}
UPDATED_SOFTWARE = "Siemens VA60"


@dataclass(frozen=True)
class FieldScenario:
    """A year of field cases, Poisson in number per site and month; from ``change_month`` (1-12, None: no change) the
    device's sensitivity at ``change_site`` falls from ``sensitivity`` to ``sensitivity_after``."""

    cases_per_site_month: int = 250
    prevalence: float = 0.12
    sensitivity: float = 0.90
    specificity: float = 0.85
    sensitivity_after: float = 0.70
    change_site: str = "site-C"
    change_month: int | None = 7
    months: int = 12

    @property
    def threshold(self) -> float:
        """Operating point of the binormal scores: non-diseased N(0, 1), diseased N(mu, 1)."""
        return float(special.ndtri(self.specificity))

    def diseased_mean(self, sensitivity: float) -> float:
        return self.threshold + float(special.ndtri(sensitivity))


@dataclass(frozen=True)
class FieldYear:
    """One record per case, in arrival order."""

    month: np.ndarray
    site: np.ndarray
    software: np.ndarray
    truth: np.ndarray
    score: np.ndarray


def simulate_field_year(scenario: FieldScenario, rng: np.random.Generator) -> FieldYear:
    sites = np.array(sorted(SOFTWARE))
    counts = rng.poisson(scenario.cases_per_site_month, (scenario.months, sites.size))
    month = np.repeat(np.arange(1, scenario.months + 1), counts.sum(axis=1))
    site = np.repeat(np.tile(sites, scenario.months), counts.ravel())
    order = np.lexsort((rng.random(month.size), month))  # sites interleaved within a month
    month, site = month[order], site[order]
    changed = (site == scenario.change_site) & (
        month >= (scenario.change_month if scenario.change_month is not None else scenario.months + 1)
    )
    software = np.array([SOFTWARE[name] for name in site], dtype=object)
    software[changed] = UPDATED_SOFTWARE
    truth = rng.random(month.size) < scenario.prevalence
    mean = np.where(
        changed, scenario.diseased_mean(scenario.sensitivity_after), scenario.diseased_mean(scenario.sensitivity)
    )
    score = rng.normal(np.where(truth, mean, 0.0), 1.0)
    return FieldYear(month, site, software, truth, score)


def monitoring_chart(scenario: FieldScenario, *, in_control_arl: float, sensitivity_to_detect: float) -> BernoulliCusum:
    """The CUSUM on misses among confirmed positives, designed for a drop to ``sensitivity_to_detect``."""
    return design_bernoulli_cusum(1 - scenario.sensitivity, 1 - sensitivity_to_detect, in_control_arl=in_control_arl)


def site_misses(field: FieldYear, threshold: float) -> dict[str, np.ndarray]:
    """Per site, the confirmed positives in arrival order: 1 where the device missed the case."""
    missed = field.score < threshold
    return {name: missed[(field.site == name) & field.truth].astype(int) for name in sorted(SOFTWARE)}


def cusum_alarms(field: FieldYear, chart: BernoulliCusum, threshold: float, *, month_batches: bool = True):
    """Each site's alarms as positive counts (1-based), fed month by month to the incremental state
    (as the scheduled job does) or all at once."""
    alarms = {}
    for name in sorted(SOFTWARE):
        positives = (field.site == name) & field.truth
        state = CusumState()
        batches = [positives & (field.month == m) for m in np.unique(field.month)] if month_batches else [positives]
        for batch in batches:
            state = chart.update(state, (field.score[batch] < threshold).astype(int))
        alarms[name] = state.alarms
    return alarms


@dataclass(frozen=True)
class Detection:
    positives_before_change: int
    first_alarm: int | None  # positives at the changed site when the first alarm came (1-based)
    delay: int | None  # positives from the change to the first alarm after it, counting the alarming one
    alarms_elsewhere: int


def detection(field: FieldYear, scenario: FieldScenario, chart: BernoulliCusum) -> Detection:
    alarms = cusum_alarms(field, chart, scenario.threshold)
    changed_positives = (field.site == scenario.change_site) & field.truth
    before = int(np.sum(changed_positives & (field.month < scenario.change_month)))
    after_alarms = [a for a in alarms[scenario.change_site] if a > before]
    return Detection(
        before,
        alarms[scenario.change_site][0] if alarms[scenario.change_site] else None,
        after_alarms[0] - before if after_alarms else None,
        sum(len(found) for name, found in alarms.items() if name != scenario.change_site),
    )


@dataclass(frozen=True)
class DelayPrediction:
    arl: float  # zero-state ARL at the post-change miss rate: the mean delay is at most this
    bound: int  # the run length's ``quantile``: the delay exceeds it with probability at most 1 - quantile
    quantile: float


def predicted_delay(scenario: FieldScenario, chart: BernoulliCusum, *, quantile: float = 0.99) -> DelayPrediction:
    p_after = 1 - scenario.sensitivity_after
    return DelayPrediction(chart.arl(p_after), chart.run_length_quantile(p_after, quantile), quantile)


@dataclass(frozen=True)
class ReplicatedDetection:
    years: int
    alarmed_before_change: int
    predicted_before_change: float  # P(run length <= positives before the change), mean over the years
    mean_delay: float  # over the years whose chart alarmed after the change
    beyond_bound: int  # years whose delay exceeded the prediction's bound (or with no alarm after the change)


def replicated_detection(
    scenario: FieldScenario, chart: BernoulliCusum, prediction: DelayPrediction, *, runs: int, seed: int
) -> ReplicatedDetection:
    """The changed site's chart over ``runs`` seeded years: pre-change alarms and delays against the chain."""
    rng = np.random.default_rng(seed)
    cdf = chart.run_length_cdf(chart.p0, 2 * scenario.cases_per_site_month * scenario.months)
    early, predicted, delays, beyond = 0, [], [], 0
    for _ in range(runs):
        found = detection(simulate_field_year(scenario, rng), scenario, chart)
        early += found.first_alarm is not None and found.first_alarm <= found.positives_before_change
        predicted.append(cdf[found.positives_before_change - 1])
        beyond += found.delay is None or found.delay > prediction.bound
        if found.delay is not None:
            delays.append(found.delay)
    return ReplicatedDetection(runs, early, float(np.mean(predicted)), float(np.mean(delays)), beyond)


@dataclass(frozen=True)
class FalseAlarms:
    site_years: int
    with_alarm: int
    predicted_probability: float  # mean over the site-years of P(run length <= its positives)
    alarms: int
    predicted_alarms: float  # positives monitored / in-control ARL (renewal after each alarm)


def null_false_alarms(scenario: FieldScenario, chart: BernoulliCusum, *, runs: int, seed: int) -> FalseAlarms:
    """Years without a change: site-years with an alarm, against the chart's run-length distribution."""
    null = replace(scenario, change_month=None)
    rng = np.random.default_rng(seed)
    in_control_arl = chart.arl(chart.p0)
    cdf = chart.run_length_cdf(chart.p0, 2 * scenario.cases_per_site_month * scenario.months)
    with_alarm = alarms = 0
    predicted, monitored = [], 0
    for _ in range(runs):
        for misses in site_misses(simulate_field_year(null, rng), null.threshold).values():
            found = chart.update(CusumState(), misses).alarms
            with_alarm += bool(found)
            alarms += len(found)
            predicted.append(cdf[misses.size - 1])
            monitored += misses.size
    return FalseAlarms(len(predicted), with_alarm, float(np.mean(predicted)), alarms, monitored / in_control_arl)


@dataclass(frozen=True)
class MonthlyDrift:
    month: int
    software_psi: float
    software_p: float
    flagged: bool  # PSI >= 0.25 on software version
    score_psi: float
    score_ks_p: float
    changed_site_sensitivity: float
    changed_site_sensitivity_ci: tuple[float, float]


def monthly_drift(field: FieldYear, scenario: FieldScenario, *, reference_months: int = 3) -> list[MonthlyDrift]:
    """Each month after the reference quarter against it: software-version PSI and chi-square (flag at
    PSI >= 0.25), the label-free AI-score PSI and KS test, and the changed site's sensitivity."""
    reference = field.month <= reference_months
    reference_software = CategoryCounts().add(field.software[reference]).as_dict()
    rows = []
    for month in range(reference_months + 1, scenario.months + 1):
        window = field.month == month
        software = categorical_drift(reference_software, CategoryCounts().add(field.software[window]).as_dict())
        scores = continuous_drift(field.score[reference], field.score[window])
        at_site = window & (field.site == scenario.change_site)
        performance = window_performance(field.score[at_site], field.truth[at_site], scenario.threshold)
        rows.append(
            MonthlyDrift(
                month,
                software.stability.psi,
                software.p,
                software.stability.level == "shift",
                scores.stability.psi,
                scores.ks_p,
                performance.sensitivity.estimate,
                performance.sensitivity.ci,
            )
        )
    return rows
