"""The demo's monitored deployment in Chromium, under the enforced Content-Security-Policy: monitor1 logs in, lands
on field monitoring, opens the deployment, sees its figures and the alarms of site-C's software update, and
acknowledges one; nothing fails in the browser."""

import pytest

from .browser import login
from .enforced import enforced_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def deployment(transactional_db):
    from studies.models import Role
    from studies.services.demo import _demo_user
    from studies.services.demo_field_monitoring import seed_monitored_deployment

    users = {name: _demo_user(name, role, "", None) for name, role in (("admin", Role.ADMIN),
                                                                       ("monitor1", Role.MONITOR))}
    return seed_monitored_deployment(users=users)


def test_monitor1_sees_and_acknowledges_the_demo_alarm(page, server, deployment, artifacts):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(page, server.url, "monitor1", next_url="/")
    assert page.url.endswith("/console/monitoring/")
    page.locator("#deployments a", has_text=deployment.name).click()
    figures = page.locator("#figures figure img")
    assert figures.count() == 3
    assert all(figures.nth(i).evaluate("img => img.naturalWidth > 400") for i in range(3))
    open_alarms = page.locator("#alarms tr.open-alarm")
    assert open_alarms.count() == deployment.alarms.count() >= 2
    assert "miss rate among confirmed positives rose (site=site-C)" in page.locator("#alarms").inner_text()
    page.screenshot(path=str(artifacts / "field-monitoring.png"), full_page=True)
    cusum = page.locator("#alarms tr.open-alarm", has_text="CUSUM").first
    cusum.locator("textarea[name=note]").fill("Site C's scanner software rolled back; re-checked 40 cases")
    cusum.locator("button", has_text="Acknowledge").click()
    assert "Alarm acknowledged." in page.locator(".messages").inner_text()
    assert page.locator("#alarms tr.open-alarm").count() == deployment.alarms.count() - 1
    assert "monitor1" in page.locator("#alarms").inner_text()
    assert errors == []
