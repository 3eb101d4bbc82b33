import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from studies.models import Assignment, AuditEvent
from studies.services import audit, reads
from studies.services import studies as services


def test_study_changes_recorded_with_before_and_after(make_study, coordinator):
    study = make_study(status="draft")
    with audit.context(user=coordinator):
        services.update_study(actor=coordinator, study=study, title="Renamed", washout_days=14)
    event = AuditEvent.objects.filter(entity="studies.Study", action="update").last()
    assert event.actor_username == "coord"
    assert event.study_id == study.pk
    assert event.before["title"] == "Study fully_crossed" and event.after["title"] == "Renamed"
    assert event.before["washout_days"] == 28 and event.after["washout_days"] == 14


def test_creations_imports_and_schedule_are_recorded(make_study):
    study = make_study()
    entities = set(AuditEvent.objects.filter(study_id=study.pk).values_list("entity", "action"))
    for expected in [
        ("studies.Study", "create"),
        ("studies.Arm", "create"),
        ("studies.Reader", "create"),
        ("studies.Case", "create"),
        ("studies.AIOutput", "create"),
        ("studies.Study", "generate_schedule"),
    ]:
        assert expected in entities


def test_read_submission_recorded_as_the_reader(make_study):
    study = make_study()
    assignment = Assignment.objects.filter(session__study=study, session__number=1).first()
    user = assignment.reader.user
    with audit.context(user=user, request_id="req-1"):
        read, _ = reads.submit_read(user=user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                                    values=reads.ReadInput(rating=33))
    event = AuditEvent.objects.get(entity="studies.Read", entity_id=str(read.pk))
    assert (event.action, event.actor_username, event.request_id) == ("create", user.username, "req-1")
    assert event.after["rating"] == 33.0 and event.study_id == study.pk


def test_api_requests_are_attributed(api, make_study, coordinator):
    study = make_study(status="draft")
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"title": "Via API"}, format="json")
    assert response.status_code == 200
    event = AuditEvent.objects.filter(entity="studies.Study", action="update").last()
    assert event.actor_username == "coord" and event.request_id == response["X-Request-ID"]


def test_deletes_are_recorded(make_study, coordinator, api):
    study = make_study(status="draft")
    pk = study.pk
    assert api(coordinator).delete(f"/api/v1/studies/{pk}/").status_code == 204
    assert AuditEvent.objects.filter(entity="studies.Study", entity_id=str(pk), action="delete").exists()
    assert AuditEvent.objects.filter(study_id=pk, action="create").exists()  # history survives the delete


def test_audit_rows_cannot_be_changed(make_study):
    make_study(status="draft")
    event = AuditEvent.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_passwords_never_reach_the_audit_trail(make_user):
    user = make_user("someone")
    user.set_password("new secret")
    user.save()
    assert "password" not in str(list(AuditEvent.objects.filter(entity="studies.User").values("before", "after")))
