"""The whole workflow through the HTTP API: coordinator sets up, readers read, statistician exports."""

import csv
import io
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import Role


def upload(name, text):
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


def test_coordinator_to_reader_to_statistician(api, coordinator, statistician, make_user, django_capture_on_commit_callbacks):
    readers = [make_user(f"r{i}", Role.READER) for i in range(3)]
    staff = api(coordinator)
    study = staff.post("/api/v1/studies/", {"title": "API study", "washout_days": 0, "binary_decision": True},
                       format="json").json()
    sid = study["id"]
    for name, shows_ai in (("unaided", False), ("aided", True)):
        assert staff.post(f"/api/v1/studies/{sid}/arms/", {"name": name, "label": name, "shows_ai": shows_ai},
                          format="json").status_code == 201
    for reader in readers:
        assert staff.post(f"/api/v1/studies/{sid}/readers/", {"username": reader.username}, format="json").status_code == 201
    truth = "case,truth,study_instance_uid\n" + "".join(f"K{i},{i % 2},1.9.{i}\n" for i in range(6))
    assert staff.post(f"/api/v1/studies/{sid}/cases/import/", {"file": upload("t.csv", truth)}).json()["created"] == 6
    ai = "case,model_name,model_version,score\n" + "".join(f"K{i},m,1,{i / 10}\n" for i in range(6))
    assert staff.post(f"/api/v1/studies/{sid}/ai-outputs/import/", {"file": upload("a.csv", ai)}).status_code == 200
    assert staff.post(f"/api/v1/studies/{sid}/transition/", {"status": "enrolling"}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        job = staff.post(f"/api/v1/studies/{sid}/schedule/", {"seed": 99}, format="json")
    assert job.status_code == 202
    assert staff.get(f"/api/v1/jobs/{job.json()['id']}/").json()["status"] == "succeeded"
    schedule_rows = list(csv.DictReader(io.StringIO(staff.get(f"/api/v1/studies/{sid}/schedule.csv").content.decode())))
    assert len(schedule_rows) == 3 * 6 * 2
    assert staff.post(f"/api/v1/studies/{sid}/transition/", {"status": "reading"}, format="json").status_code == 200

    for reader in readers:  # washout 0: both sessions, in order
        client = api(reader)
        for _ in range(2):
            session = next(s for s in client.get("/api/v1/worklist/").json()["sessions"] if s["is_open"])
            detail = client.get(f"/api/v1/sessions/{session['id']}/").json()
            for item in detail["assignments"]:
                case = client.get(f"/api/v1/assignments/{item['id']}/").json()
                assert case["study_instance_uid"].startswith("1.9.")
                body = {"assignment": item["id"], "idempotency_key": str(uuid.uuid4()), "rating": 30 + item["order"],
                        "decision": item["order"] % 2 == 0, "opened_at": "2026-11-28T10:00:00Z",
                        "first_image_at": "2026-11-28T10:00:00.400Z", "submitted_at": "2026-11-28T10:00:20Z"}
                response = client.post("/api/v1/reads/", body, format="json")
                assert response.status_code == 201, response.content
                assert response.json()["duration_ms"] == 20000
                assert client.post("/api/v1/reads/", body, format="json").status_code == 200  # retry
        assert all(s["completed_at"] for s in client.get("/api/v1/worklist/").json()["sessions"])

    progress = api(statistician).get(f"/api/v1/studies/{sid}/progress/")
    assert progress.status_code == 404  # not a member: the study is invisible to them
    staff_client = api(coordinator)
    progress = staff_client.get(f"/api/v1/studies/{sid}/progress/").json()
    assert progress["read"] == progress["assigned"] == 36
    assert staff.post(f"/api/v1/studies/{sid}/transition/", {"status": "locked"}, format="json").status_code == 200
    assert api(readers[0]).get("/api/v1/worklist/").json() == {"sessions": []}  # locked work leaves the worklist
    rows = list(csv.DictReader(io.StringIO(staff.get(f"/api/v1/studies/{sid}/reads.csv").content.decode())))
    assert len(rows) == 36
    assert {r["treatment"] for r in rows} == {"unaided", "aided"}
    assert {r["reader"] for r in rows} == {"R01", "R02", "R03"}
    assert all(r["duration_ms"] == "20000" for r in rows)


def test_openapi_schema_and_docs_served(client, coordinator):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/reads/" in schema.content
    assert client.get("/api/docs/").status_code == 200
