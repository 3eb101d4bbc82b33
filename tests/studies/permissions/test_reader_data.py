"""What a reader's payloads carry: no truth, no other reader's data, AI output only where the arm shows it."""

import uuid

from studies.models import Assignment, Read


def test_reader_payloads_never_carry_truth_or_others_data(api, world):
    client = api(world.users["reader"])
    assignment = client.get(f"/api/v1/assignments/{world.assignment.pk}/").json()
    worklist = client.get("/api/v1/worklist/").json()
    own_reads = client.get("/api/v1/reads/").json()
    text = str([assignment, worklist, own_reads])
    for forbidden in ("truth", "lesions", "metadata", "R02", "site-", "C00"):  # C00x: case labels
        assert forbidden not in text
    assert {r["id"] for r in own_reads} == {world.read.pk}
    other_assignment = Assignment.objects.filter(session__study=world.study, reader__code="R02").first()
    assert client.get(f"/api/v1/assignments/{other_assignment.pk}/").status_code == 404


def test_ai_output_only_in_arms_that_show_it(api, world):
    client = api(world.users["reader"])
    for assignment in world.session.assignments.select_related("arm"):
        body = client.get(f"/api/v1/assignments/{assignment.pk}/").json()
        if assignment.arm.shows_ai:
            assert body["ai"] and body["ai"][0]["score"] is not None
        else:
            assert body["ai"] is None
            assert "score" not in str(body)


def test_reader_cannot_read_in_a_session_before_washout(api, world):
    later = world.session.reader.sessions.get(number=2)
    assignment = later.assignments.first()
    response = api(world.users["reader"]).post(
        "/api/v1/reads/", {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 5},
        format="json",
    )
    assert response.status_code == 403
    assert "opens on" in response.json()["detail"]
    assert not Read.objects.filter(assignment=assignment).exists()
