"""The monitoring API as the manufacturer's quality staff use it, and who else may see it: a monitor sees only the
deployments they are a member of, a coordinator member reads them without changing them, readers never."""

from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import AuditEvent, Role
from studies.services import field_monitoring
from tests.conftest import create_user

from .conftest import record, simulated_rows

BASE = "/api/v1/monitoring/deployments/"


def test_a_monitor_sees_only_their_deployments(api, monitor, deployment):
    other = create_user("quality2", Role.MONITOR)
    theirs = field_monitoring.create_deployment(actor=other, name="Other region", device="Detector 1.0")
    listed = api(monitor).get(BASE).json()["results"]
    assert [row["id"] for row in listed] == [deployment.pk]
    assert api(monitor).get(f"{BASE}{theirs.pk}/").status_code == 404
    assert api(monitor).get(f"{BASE}{theirs.pk}/windows/").status_code == 404
    admin = create_user("root", Role.ADMIN)
    assert {row["id"] for row in api(admin).get(BASE).json()["results"]} == {deployment.pk, theirs.pk}


def test_readers_and_truthers_never_see_monitoring(api, deployment):
    for role in (Role.READER, Role.TRUTHER):
        user = create_user(f"a_{role}", role)
        assert api(user).get(BASE).status_code == 403
        assert api(user).get(f"{BASE}{deployment.pk}/alarms/").status_code == 403
    response = api(create_user("boss", Role.ADMIN)).patch(f"{BASE}{deployment.pk}/", {"members": ["a_reader"]},
                                                          format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "members"


def test_a_coordinator_member_reads_but_does_not_change(api, monitor, deployment):
    coordinator = create_user("coord", Role.COORDINATOR)
    assert api(coordinator).get(f"{BASE}{deployment.pk}/").status_code == 404
    field_monitoring.update_deployment(actor=monitor, deployment=deployment,
                                       changes={"members": ["quality1", "coord"]})
    assert api(coordinator).get(f"{BASE}{deployment.pk}/").json()["members"] == ["coord", "quality1"]
    response = api(coordinator).post(f"{BASE}{deployment.pk}/records/", {"records": [record()]}, format="json")
    assert response.status_code == 403
    assert not deployment.records.exists()


def test_rules_are_refused_by_name(api, monitor):
    body = {"name": "Detector", "device": "Detector 1.0", "rules": {"cusum": {"in_control_arl": 5}}}
    response = api(monitor).post(BASE, body, format="json")
    assert (response.status_code, response.json()["field"]) == (400, "cusum.in_control_arl")
    body["rules"] = {"drift": {"psi": 0.25, "kvp": 1}}
    assert api(monitor).post(BASE, body, format="json").json()["field"] == "drift.kvp"
    body["rules"] = {"window": "day"}
    assert api(monitor).post(BASE, body, format="json").json()["field"] == "window"


def test_records_windows_alarms_and_acknowledgement_through_the_api(api, monitor, deployment):
    client = api(monitor)
    rows = simulated_rows(change_month=7)
    without_outcomes = [{k: v for k, v in row.items() if k not in ("outcome", "outcome_at")} for row in rows]
    response = client.post(f"{BASE}{deployment.pk}/records/", {"records": without_outcomes, "source": "site feed"},
                           format="json")
    assert response.json() == {"created": len(rows), "completed": 0, "unchanged": 0}
    outcomes = [{"case_key": r["case_key"], "outcome": r["outcome"], "outcome_at": r["outcome_at"]} for r in rows]
    assert client.post(f"{BASE}{deployment.pk}/records/", {"records": outcomes}, format="json").json()["completed"] \
        == len(rows)
    computed = client.post(f"{BASE}{deployment.pk}/compute/", {}, format="json").json()
    assert computed["windows"] == 12
    windows = client.get(f"{BASE}{deployment.pk}/windows/", {"group": "site=site-C", "limit": 20}).json()["results"]
    assert [window["start"][:7] for window in windows] == [f"2026-{month:02d}" for month in range(1, 13)]
    assert [window["drift"]["software_version"]["flagged"] for window in windows[1:]] == [False] * 5 + [True] * 6
    alarms = client.get(f"{BASE}{deployment.pk}/alarms/").json()["results"]
    cusum = next(alarm for alarm in alarms if alarm["kind"] == "cusum" and alarm["details"]["group"] == "site=site-C")
    assert "miss rate among confirmed positives rose (site=site-C)" in cusum["summary"]
    acknowledged = client.post(f"/api/v1/monitoring/alarms/{cusum['id']}/acknowledge/",
                               {"note": "software update rolled back at site C"}, format="json")
    assert acknowledged.json()["acknowledged_by"] == "quality1"
    again = client.post(f"/api/v1/monitoring/alarms/{cusum['id']}/acknowledge/", {"note": "x"}, format="json")
    assert again.status_code == 409


def test_a_csv_upload_names_the_bad_line_and_stores_nothing(api, monitor, deployment):
    text = ("case_key,site,model_version,score,acquired_at\n"
            "K1,site-A,1.0.0,0.8,2026-01-05T10:00:00Z\n"
            "K2,site-A,1.0.0,,2026-01-05T10:00:00Z\n")
    response = api(monitor).post(f"{BASE}{deployment.pk}/records/import/",
                                 {"file": SimpleUploadedFile("feed.csv", text.encode())}, format="multipart")
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["field"]) == (3, "score")
    assert not deployment.records.exists()
    assert not AuditEvent.objects.filter(action="field_records_imported").exists()


def test_a_deployment_is_not_renamed_to_another_ones_name(api, monitor, deployment):
    field_monitoring.create_deployment(actor=monitor, name="Second", device="Detector 1.0")
    response = api(monitor).patch(f"{BASE}{deployment.pk}/", {"name": "Second"}, format="json")
    assert (response.status_code, response.json()["field"]) == (409, "name")


def test_the_monitoring_routes_are_in_the_schema(api, monitor):
    paths = api(monitor).get("/api/schema/?format=json").json()["paths"]
    assert {path for path in paths if path.startswith("/api/v1/monitoring/")} == {
        "/api/v1/monitoring/deployments/", "/api/v1/monitoring/deployments/{deployment_id}/",
        "/api/v1/monitoring/deployments/{deployment_id}/records/",
        "/api/v1/monitoring/deployments/{deployment_id}/records/import/",
        "/api/v1/monitoring/deployments/{deployment_id}/windows/",
        "/api/v1/monitoring/deployments/{deployment_id}/compute/",
        "/api/v1/monitoring/deployments/{deployment_id}/alarms/",
        "/api/v1/monitoring/alarms/{alarm_id}/acknowledge/"}
