"""A seeded year of field data for a monitored deployment, and what the monitoring statistics make of it.

Several sites send the device's scores and, later, confirmed diagnoses. At one site a scanner software
update from a given month lowers the device's sensitivity. The script prints when the per-site Bernoulli
CUSUM on misses among confirmed positives alarms (positives after the change, against the delay the
chart's Markov chain predicts), the false-alarm rate over null years (no change) against the design's
in-control run length, and the month in which the software-version drift signal is flagged.

Run: python benchmarks/monitoring_simulation.py [--seed N] [--null-runs N] [--replications N] [--change-month M]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.stats.field_simulation import (  # noqa: E402
    SOFTWARE,
    UPDATED_SOFTWARE,
    FieldScenario,
    detection,
    monitoring_chart,
    monthly_drift,
    null_false_alarms,
    predicted_delay,
    replicated_detection,
    simulate_field_year,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--null-runs", type=int, default=200)
    parser.add_argument("--replications", type=int, default=100, help="seeded years with the change")
    parser.add_argument("--change-month", type=int, default=7)
    parser.add_argument("--in-control-arl", type=float, default=2000.0, help="confirmed positives per false alarm")
    parser.add_argument("--detect-sensitivity", type=float, default=0.70, help="the sensitivity the chart is tuned to")
    args = parser.parse_args(argv)
    scenario = FieldScenario(change_month=args.change_month)
    chart = monitoring_chart(
        scenario, in_control_arl=args.in_control_arl, sensitivity_to_detect=args.detect_sensitivity
    )
    print(
        f"Scenario: {len(SOFTWARE)} sites x {scenario.cases_per_site_month} cases/month x {scenario.months} months, "
        f"prevalence {scenario.prevalence}; sensitivity {scenario.sensitivity} -> {scenario.sensitivity_after} "
        f"at {scenario.change_site} from month {scenario.change_month} ({UPDATED_SOFTWARE})"
    )
    print(
        f"CUSUM on misses among confirmed positives: p0 {chart.p0:.3f} -> p1 {chart.p1:.3f}, k {chart.k:.4f}, "
        f"h {chart.h:.3f} (steps +{chart.up}/-{chart.down}, threshold {chart.threshold}); "
        f"in-control ARL {chart.arl(chart.p0):.0f}, out-of-control ARL {chart.arl(chart.p1):.1f} positives"
    )

    field = simulate_field_year(scenario, np.random.default_rng(args.seed))
    found = detection(field, scenario, chart)
    prediction = predicted_delay(scenario, chart)
    print(
        f"\nSeed {args.seed}: {found.positives_before_change} positives at {scenario.change_site} before the change; "
        f"first alarm at positive {found.first_alarm}"
    )
    print(
        f"  detection delay {found.delay} positives after the change; predicted: mean at most {prediction.arl:.1f} "
        f"(zero-state ARL), {prediction.quantile:.0%} bound {prediction.bound}; alarms at other sites: "
        f"{found.alarms_elsewhere}"
    )
    replicated = replicated_detection(scenario, chart, prediction, runs=args.replications, seed=args.seed + 2)
    print(
        f"\n{replicated.years} seeded years with the change: alarm before the change in "
        f"{replicated.alarmed_before_change} (predicted {replicated.predicted_before_change * replicated.years:.1f}); "
        f"mean delay {replicated.mean_delay:.1f} positives; beyond the bound {prediction.bound}: "
        f"{replicated.beyond_bound} (predicted at most {(1 - prediction.quantile) * replicated.years:.1f})"
    )

    null = null_false_alarms(scenario, chart, runs=args.null_runs, seed=args.seed + 1)
    print(
        f"\nNull years ({args.null_runs} runs, {null.site_years} site-years): {null.with_alarm} with a false alarm "
        f"({null.with_alarm / null.site_years:.3f}; predicted {null.predicted_probability:.3f}); "
        f"{null.alarms} alarms, predicted {null.predicted_alarms:.1f} from the in-control ARL"
    )

    print("\nMonth  software PSI  chi2 p     flagged  score PSI  score KS p  sensitivity at the changed site (95% CI)")
    for row in monthly_drift(field, scenario):
        low, high = row.changed_site_sensitivity_ci
        print(
            f"{row.month:5d}  {row.software_psi:12.3f}  {row.software_p:9.2e}  {'yes' if row.flagged else 'no':>7}  "
            f"{row.score_psi:9.3f}  {row.score_ks_p:10.3f}  {row.changed_site_sensitivity:.3f} ({low:.3f}-{high:.3f})"
        )


if __name__ == "__main__":
    main()
