"""The monitoring pages: a monitor sees their deployment's figures, windows and alarms and acknowledges one; others
are refused or told it does not exist."""

import pytest

from studies.models import Role
from studies.services import field_monitoring, field_monitoring_windows
from tests.conftest import create_user

from .conftest import simulated_rows


@pytest.fixture
def computed(monitor, deployment):
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=simulated_rows(), source="simulation")
    field_monitoring_windows.compute(deployment_id=deployment.pk)
    return deployment


def test_the_page_shows_figures_windows_and_alarms(client, monitor, computed):
    client.force_login(monitor)
    listing = client.get("/console/monitoring/").content.decode()
    assert computed.name in listing
    page = client.get(f"/console/monitoring/{computed.pk}/").content.decode()
    assert page.count("data:image/png;base64,") == 3  # performance, drift, CUSUM
    assert "miss rate among confirmed positives rose (site=site-C)" in page
    assert "drift of software_version (site=site-C) in the window from 2026-07-01" in page
    assert page.split('id="windows"')[1].count("<td>2026-") == 12  # a row per monthly window
    assert page.count('name="note"') == computed.alarms.count()
    by_device = client.get(f"/console/monitoring/{computed.pk}/?by=device")
    assert by_device.status_code == 200


def test_a_monitor_acknowledges_an_alarm_on_the_page(client, monitor, computed):
    alarm = computed.alarms.order_by("pk").first()
    client.force_login(monitor)
    empty = client.post(f"/console/monitoring/alarms/{alarm.pk}/acknowledge/", {"note": ""})
    assert empty.status_code == 400
    response = client.post(f"/console/monitoring/alarms/{alarm.pk}/acknowledge/", {"note": "rolled back"})
    assert response.status_code == 302
    alarm.refresh_from_db()
    assert (alarm.acknowledged_by, alarm.note) == (monitor, "rolled back")


def test_others_are_refused_or_told_it_does_not_exist(client, computed):
    alarm = computed.alarms.first()
    for role, status in ((Role.READER, 403), (Role.TRUTHER, 403), (Role.COORDINATOR, 404), (Role.MONITOR, 404)):
        client.force_login(create_user(f"someone_{role}", role))
        assert client.get(f"/console/monitoring/{computed.pk}/").status_code == status
        assert client.post(f"/console/monitoring/alarms/{alarm.pk}/acknowledge/", {"note": "x"}).status_code == status
    statistician = create_user("stat_member", Role.STATISTICIAN)
    computed.members.add(statistician)
    client.force_login(statistician)
    page = client.get(f"/console/monitoring/{computed.pk}/").content.decode()
    assert 'name="note"' not in page  # members who are not monitors look only
    assert client.post(f"/console/monitoring/alarms/{alarm.pk}/acknowledge/", {"note": "x"}).status_code == 403
