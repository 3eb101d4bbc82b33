"""A monitored deployment and simulated field records (the seeded year of mrmc.stats.field_simulation)."""

import numpy as np
import pytest

from mrmc.stats.field_simulation import FieldScenario, simulate_field_year
from studies.models import Role
from studies.services import field_monitoring
from studies.services.demo_field_monitoring import demo_rules, field_rows
from tests.conftest import create_user

SEED = 20261205
# Tuned so that a null year's charts (one overall, four sites) rarely alarm: the in-control ARL of 10000 confirmed
# positives gives each site's ~170 positives a false-alarm probability of 1.5% and the overall ~690 6.4%
# (BernoulliCusum.run_length_cdf).
SCENARIO = FieldScenario(cases_per_site_month=120)
RULES = demo_rules(SCENARIO, emails=["quality@example.org"]) | {
    "cusum": {"in_control_arl": 10000, "baseline_miss_rate": 0.10, "shifted_miss_rate": 0.30, "by_site": True}}


def simulated_rows(*, change_month=7, seed=SEED, with_outcomes=True) -> list[dict]:
    field = simulate_field_year(FieldScenario(cases_per_site_month=120, change_month=change_month),
                                np.random.default_rng(seed))
    return field_rows(field, year=2026, seed=seed, with_outcomes=with_outcomes)


@pytest.fixture
def monitor(db):
    return create_user("quality1", Role.MONITOR, email="quality1@example.org")


@pytest.fixture
def deployment(monitor):
    return field_monitoring.create_deployment(actor=monitor, name="Nodule detector, EU sites", device="Detector 1.0",
                                              rules=RULES)


def record(case_key="K1", **fields) -> dict:
    return {"case_key": case_key, "site": "site-A", "manufacturer": "GE", "device_model": "Definium 656",
            "software_version": "28.1", "model_version": "1.0.0", "score": 0.8,
            "acquired_at": "2026-01-05T10:00:00+00:00", **fields}
