import contextlib
import hashlib
import json
import threading
import uuid
from datetime import UTC

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, close_old_connections, connection, transaction

from studies.models import Assignment, AuditEvent, Case, Read
from studies.services import audit, reads
from studies.services import studies as services
from studies.services.audit_verify import verify


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


# ---------------------------------------------------------------- the hash chain

def spec_hash(event: AuditEvent) -> str:
    """The documented canonical content, written out independently of the service."""

    def whole_floats_as_ints(value):
        if isinstance(value, float) and value == int(value):
            return int(value)
        if isinstance(value, dict):
            return {k: whole_floats_as_ints(v) for k, v in value.items()}
        if isinstance(value, list):
            return [whole_floats_as_ints(v) for v in value]
        return value

    content = {
        "seq": event.seq, "at": event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": event.actor_id, "actor_username": event.actor_username, "study_id": event.study_id,
        "action": event.action, "entity": event.entity, "entity_id": event.entity_id,
        "before": whole_floats_as_ints(event.before), "after": whole_floats_as_ints(event.after),
        "request_id": event.request_id, "prev_hash": event.prev_hash,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def submitted_read(study, rating=40) -> Read:
    assignment = Assignment.objects.filter(session__study=study, session__number=1, read__isnull=True).first()
    user = assignment.reader.user
    with audit.context(user=user):
        read, _ = reads.submit_read(user=user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                                    values=reads.ReadInput(rating=rating, marks=[]))
    return read


@contextlib.contextmanager
def append_only_lifted():
    """As the tables' owner would: the test's transaction restores the trigger afterwards."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE studies_auditevent DISABLE TRIGGER studies_auditevent_append_only")
        else:
            cursor.execute("DROP TRIGGER studies_auditevent_no_update")
        yield cursor


def test_events_form_a_hash_chain_over_their_canonical_content(make_study):
    study = make_study()
    submitted_read(study, rating=33.5)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    for event in events:
        assert event.hash == spec_hash(event), event


def test_a_clean_trail_verifies_in_one_line(make_study, audit_anchor_file, capsys):
    study = make_study()
    submitted_read(study)
    audit.anchor_head()
    call_command("verify_audit")
    out = capsys.readouterr().out
    head = AuditEvent.objects.order_by("seq").last()
    assert out.count("\n") == 1
    assert out.startswith(f"audit trail intact: {head.seq} events, head seq {head.seq} hash {head.hash}")
    assert f"last anchor seq {head.seq}" in out and "1 reads and 8 cases match" in out


def test_the_head_is_anchored_every_n_events(make_study, audit_anchor_file, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_ANCHOR_EVERY = 10
    with django_capture_on_commit_callbacks(execute=True):
        make_study()
    lines = [json.loads(line) for line in audit_anchor_file.read_text().splitlines()]
    count = AuditEvent.objects.count()
    assert len(lines) == count // 10 > 0
    hashes = dict(AuditEvent.objects.values_list("seq", "hash"))
    assert all(hashes[line["seq"]] == line["hash"] for line in lines)


def test_a_read_changed_behind_the_applications_back_is_named(make_study, audit_anchor_file):
    study = make_study()
    read, other = submitted_read(study), submitted_read(study)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE studies_read SET rating = 99 WHERE id = %s", [read.pk])
    assert verify(anchor_file=audit_anchor_file).problems == [
        f"1 read(s) differ from the values of their last audit event (changed without one): read {read.pk}"
    ]
    with pytest.raises(CommandError, match="NOT intact"):
        call_command("verify_audit")
    assert other.pk != read.pk


def test_truth_changed_or_a_read_deleted_behind_the_applications_back_is_named(make_study, audit_anchor_file):
    study = make_study()
    read = submitted_read(study)
    case = Case.objects.filter(study=study, truth=1).first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE studies_case SET truth = 0 WHERE id = %s", [case.pk])
        cursor.execute("DELETE FROM studies_read WHERE id = %s", [read.pk])
    problems = verify(anchor_file=audit_anchor_file).problems
    assert problems == [
        f"1 read(s) are gone without an audit event of their deletion: read {read.pk}",
        f"1 case(s) differ from the values of their last audit event (changed without one): case {case.pk}",
    ]


def test_changes_made_through_the_application_keep_the_trail_intact(make_study, audit_anchor_file):
    study = make_study(revision_policy="audited")
    read = submitted_read(study)
    reads.revise_read(user=read.reader.user, read_id=read.pk, idempotency_key=uuid.uuid4(),
                      values=reads.ReadInput(rating=12.25), reason="misclick")
    case = Case.objects.filter(study=study).first()
    case.truth_established_by = "panel"
    case.save()
    assert verify(anchor_file=audit_anchor_file).problems == []


def test_an_edited_event_is_named_and_the_rest_of_the_chain_still_checked(make_study, audit_anchor_file):
    make_study()
    with append_only_lifted() as cursor:
        cursor.execute("UPDATE studies_auditevent SET actor_username = 'someone else' WHERE seq = 3")
    event = AuditEvent.objects.get(seq=3)
    assert verify(anchor_file=audit_anchor_file).problems == [
        f"event seq 3 (id {event.pk}, {event.action} {event.entity} {event.entity_id}) does not match its hash: "
        "edited or forged"
    ]


def test_a_rehashed_edit_breaks_the_next_link_and_its_anchor(make_study, audit_anchor_file):
    make_study()
    audit.anchor_head()
    head = AuditEvent.objects.order_by("seq").last().seq
    event = AuditEvent.objects.get(seq=head - 1)
    event.actor_username = "someone else"
    with append_only_lifted() as cursor:
        cursor.execute("UPDATE studies_auditevent SET actor_username = %s, hash = %s WHERE seq = %s",
                       [event.actor_username, spec_hash(event), head - 1])
    problems = verify(anchor_file=audit_anchor_file).problems
    assert len(problems) == 1 and problems[0].startswith(f"broken link at seq {head} ")


def test_deleted_events_and_a_removed_tail_are_reported(make_study, audit_anchor_file):
    make_study()
    audit.anchor_head()
    head = AuditEvent.objects.order_by("seq").last().seq
    with append_only_lifted() as cursor:
        cursor.execute("DELETE FROM studies_auditevent WHERE seq IN (4, 5, 6) OR seq > %s", [head - 2])
    problems = verify(anchor_file=audit_anchor_file).problems
    assert problems[0] == "missing events: seq 4–6 deleted (the chain jumps from 3 to 7)"
    assert problems[1] == (f"truncated: the chain ends at seq {head - 2} but the anchor of "
                           f"{json.loads(audit_anchor_file.read_text())['anchored_at']} records seq {head}: "
                           f"events {head - 1}–{head} (at least) were removed")


def test_an_anchor_file_that_is_not_one_is_refused(db, audit_anchor_file):
    audit_anchor_file.write_text("not json\n")
    with pytest.raises(CommandError, match="line 1 of the anchor file is not an anchor"):
        call_command("verify_audit")


def test_audit_api_shows_each_events_hashes(api, make_study, coordinator):
    study = make_study(status="draft")
    body = api(coordinator).get(f"/api/v1/studies/{study.pk}/audit/").json()
    rows = body["results"]
    first = AuditEvent.objects.filter(study_id=study.pk).order_by("seq").first()
    assert rows[0]["seq"] == first.seq and rows[0]["hash"] == first.hash and rows[0]["prev_hash"] == first.prev_hash


def test_downloads_are_recorded(api, make_study, coordinator):
    study = make_study()
    client = api(coordinator)
    assert client.get(f"/api/v1/studies/{study.pk}/reads.csv").status_code == 200
    assert client.get(f"/api/v1/studies/{study.pk}/schedule.csv").status_code == 200
    files = list(AuditEvent.objects.filter(action="download", study_id=study.pk)
                 .values_list("actor_username", "after"))
    assert files == [("coord", {"file": f"study-{study.pk}-reads.csv"}),
                     ("coord", {"file": f"study-{study.pk}-schedule.csv"})]


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_stay_one_chain(audit_anchor_file):
    """Writers in parallel transactions: each event follows the last committed one, none forks."""
    writers, per_writer = 6, 15
    start = threading.Barrier(writers)

    def write(n):
        start.wait()
        try:
            for i in range(per_writer):
                with transaction.atomic():
                    audit.record(action="test", entity="thread", entity_id=f"{n}-{i}")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert AuditEvent.objects.filter(action="test").count() == writers * per_writer
    assert verify(anchor_file=audit_anchor_file).problems == []
