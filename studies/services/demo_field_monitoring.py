"""The demo's monitored deployment: a year of simulated field records from four sites where a scanner software
update at one site lowers the device's sensitivity from July, so that its monitoring page shows the drift of the
software version and the CUSUM alarm. ``monitor1`` (the demo password scheme) is its member."""

from datetime import UTC, datetime, timedelta

import numpy as np

from mrmc.stats.field_simulation import FieldScenario, FieldYear, simulate_field_year
from studies.models import MonitoredDeployment, Role, User
from studies.services import audit, field_monitoring, field_monitoring_windows

DEMO_DEPLOYMENT = "Demo: chest radiograph nodule detector in the field"
DEMO_MONITORING_USERS = [("monitor1", Role.MONITOR, "", None)]
DEMO_FIELD_SEED = 20261205
DEMO_FIELD_YEAR = 2026
OUTCOME_DELAY_DAYS = 14  # a confirmed diagnosis comes about two weeks after the examination
DEVICES = {"site-A": ("GE", "Definium 656"), "site-B": ("Siemens", "Ysio Max"), "site-C": ("Siemens", "Multix Impact"),
           "site-D": ("Philips", "DigitalDiagnost C90")}


def demo_scenario() -> FieldScenario:
    """120 cases per site and month, sensitivity 0.90 falling to 0.70 at site-C from July (its software update)."""
    return FieldScenario(cases_per_site_month=120)


def demo_rules(scenario: FieldScenario, emails=()) -> dict:
    return {
        "window": "month",
        "operating_point": scenario.threshold,
        "cusum": {"in_control_arl": 2000, "baseline_miss_rate": round(1 - scenario.sensitivity, 4),
                  "shifted_miss_rate": round(1 - scenario.sensitivity_after, 4), "by_site": True},
        "drift": {"psi": 0.25, "p": 0.01, "attributes": ["score", "software_version", "kvp"], "reference_windows": 1},
        "emails": list(emails),
    }


def field_rows(field: FieldYear, *, year: int, seed: int, with_outcomes: bool = True) -> list[dict]:
    """The records a deployment would receive for ``field``: each case acquired at a random moment of its month (in
    the simulation's order), its outcome confirmed ``OUTCOME_DELAY_DAYS`` later; keys are pseudonymous."""
    rng = np.random.default_rng(seed)
    rows = []
    for month in np.unique(field.month):
        start = datetime(year, int(month), 1, tzinfo=UTC)
        end = datetime(year + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=UTC)
        indices = np.nonzero(field.month == month)[0]
        offsets = np.sort(rng.uniform(0, (end - start).total_seconds(), indices.size))
        for index, offset in zip(indices, offsets, strict=True):
            acquired = start + timedelta(seconds=round(float(offset)))
            site = str(field.site[index])
            manufacturer, model = DEVICES[site]
            row = {"case_key": f"F{year}-{index:06d}", "site": site, "manufacturer": manufacturer,
                   "device_model": model, "software_version": str(field.software[index]), "model_version": "1.0.0",
                   "score": round(float(field.score[index]), 6), "acquired_at": acquired.isoformat(),
                   "attributes": {"kvp": float(rng.choice([110, 120, 125]))}}
            if with_outcomes:
                row["outcome"] = int(field.truth[index])
                row["outcome_at"] = (acquired + timedelta(days=OUTCOME_DELAY_DAYS)).isoformat()
            rows.append(row)
    return rows


def seed_monitored_deployment(*, users: dict[str, User]) -> MonitoredDeployment:
    """The demo deployment with its year of records, computed (idempotent: an existing one is returned)."""
    existing = MonitoredDeployment.objects.filter(name=DEMO_DEPLOYMENT).first()
    if existing is not None:
        return existing
    admin, monitor = users["admin"], users["monitor1"]
    scenario = demo_scenario()
    field = simulate_field_year(scenario, np.random.default_rng(DEMO_FIELD_SEED))
    with audit.context(user=admin):
        deployment = field_monitoring.create_deployment(
            actor=admin, name=DEMO_DEPLOYMENT, device="MRMC Demo Blob Detector 1.0.0", model_name="demo-detector",
            description="Simulated: site-C's scanner software update in July lowers the detector's sensitivity.",
            rules=demo_rules(scenario, emails=["quality@example.org"]), members=[monitor.username])
    rows = field_rows(field, year=DEMO_FIELD_YEAR, seed=DEMO_FIELD_SEED)
    with audit.context(user=monitor):
        size = field_monitoring.MAX_RECORDS_PER_IMPORT
        for first in range(0, len(rows), size):
            field_monitoring.import_records(actor=monitor, deployment=deployment, source="demo simulation",
                                            rows=rows[first:first + size])
    field_monitoring_windows.compute(deployment_id=deployment.pk)
    return deployment
