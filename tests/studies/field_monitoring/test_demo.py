"""The demo's monitored deployment: monitor1 lands on it and sees the alarms of site-C's software update."""

from studies.models import Role
from studies.services.demo import demo_password
from studies.services.demo_field_monitoring import DEMO_DEPLOYMENT, seed_monitored_deployment
from tests.conftest import create_user


def test_the_demo_deployment_shows_its_alarms_to_monitor1(client, db):
    users = {"admin": create_user("admin", Role.ADMIN), "monitor1": create_user("monitor1", Role.MONITOR)}
    users["monitor1"].set_password(demo_password("monitor1"))
    users["monitor1"].save()
    deployment = seed_monitored_deployment(users=users)
    assert seed_monitored_deployment(users=users) == deployment  # seeded once
    assert list(deployment.members.values_list("username", flat=True)) == ["monitor1"]
    alarms = {(alarm.rule, alarm.details["group"]) for alarm in deployment.alarms.all()}
    assert {("cusum", "site=site-C"), ("drift:software_version", "site=site-C")} <= alarms
    assert {group for _, group in alarms} <= {"", "site=site-C"}  # nothing at the sites that did not change
    response = client.post("/accounts/login/", {"username": "monitor1", "password": "monitor1-demo"})
    assert response.status_code == 302
    home = client.get("/")
    assert home["Location"] == "/console/monitoring/"
    page = client.get(f"/console/monitoring/{deployment.pk}/").content.decode()
    assert DEMO_DEPLOYMENT in page
    assert "miss rate among confirmed positives rose (site=site-C)" in page
