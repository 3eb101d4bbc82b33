"""The beat task on a real Celery worker (Redis broker, the test database): it computes the deployments with new
records and leaves the others alone."""

import time

import pytest

from studies.models import MonitoredDeployment, MonitoringWindow, Role
from studies.services import field_monitoring
from studies.tasks import compute_field_monitoring
from tests.conftest import create_user

from .conftest import RULES, simulated_rows

pytestmark = pytest.mark.integration


def test_the_worker_computes_the_deployments_with_new_records(celery_worker):
    monitor = create_user("quality_w", Role.MONITOR)
    fed = field_monitoring.create_deployment(actor=monitor, name="fed", device="D", rules=RULES)
    idle = field_monitoring.create_deployment(actor=monitor, name="idle", device="D", rules=RULES)
    rows = [row for row in simulated_rows() if row["acquired_at"] < "2026-03"]
    field_monitoring.import_records(actor=monitor, deployment=fed, rows=rows, source="site feed")
    compute_field_monitoring.delay()  # results are not kept: the deployment's state says when it is done
    fed = computed(fed.pk)
    assert not fed.alarms.exists()  # two months without a change
    assert sorted(MonitoringWindow.objects.filter(deployment=fed, group="").values_list("n_records", flat=True)) \
        == sorted([sum(row["acquired_at"] < "2026-02" for row in rows), sum(row["acquired_at"] >= "2026-02"
                                                                              for row in rows)])
    assert not MonitoringWindow.objects.filter(deployment=idle).exists()
    assert "dirty" not in idle.state


def computed(deployment_id: int, timeout: float = 120) -> MonitoredDeployment:
    """The deployment once the worker has computed what was pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment = MonitoredDeployment.objects.get(pk=deployment_id)
        if deployment.state.get("dirty") == []:
            return deployment
        time.sleep(0.1)
    pytest.fail(f"deployment {deployment_id} not computed after {timeout}s")
