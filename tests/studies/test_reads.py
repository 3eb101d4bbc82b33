import threading
import uuid
from datetime import UTC

import pytest
from django.db import connection

from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import Assignment, Read, ReadRevision, Study
from studies.services import reads


def first_open_assignment(study, reader_code="R01", arm=None):
    queryset = Assignment.objects.filter(session__study=study, reader__code=reader_code, session__number=1)
    if arm:
        queryset = queryset.filter(arm__name=arm)
    return queryset.order_by("order").first()


def submit(assignment, key=None, **values):
    values.setdefault("rating", 60)
    return reads.submit_read(
        user=assignment.reader.user,
        assignment_id=assignment.pk,
        idempotency_key=key or uuid.uuid4(),
        values=reads.ReadInput(**values),
    )


def test_submit_stores_read_with_timings(make_study):
    from datetime import datetime, timedelta

    study = make_study()
    assignment = first_open_assignment(study)
    opened = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    read, created = submit(
        assignment, rating=72.5, opened_at=opened, first_image_at=opened + timedelta(milliseconds=350),
        client_submitted_at=opened + timedelta(seconds=41, milliseconds=200),
    )
    assert created
    assert (read.reader, read.case, read.arm) == (assignment.reader, assignment.case, assignment.arm)
    assert read.rating == 72.5
    assert read.duration_ms == 41200


def test_retry_with_same_key_returns_the_stored_read(make_study):
    study = make_study()
    assignment = first_open_assignment(study)
    key = uuid.uuid4()
    first, created_first = submit(assignment, key=key, rating=30)
    again, created_again = submit(assignment, key=key, rating=99)  # a retry never overwrites
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk and again.rating == 30
    assert Read.objects.count() == 1


def test_second_read_with_new_key_is_refused(make_study):
    study = make_study()
    assignment = first_open_assignment(study)
    submit(assignment)
    with pytest.raises(RuleViolation, match="already been read"):
        submit(assignment)


def test_key_of_another_read_is_refused(make_study):
    study = make_study()
    one, two = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1)[:2]
    key = uuid.uuid4()
    submit(one, key=key)
    with pytest.raises(RuleViolation, match="another read"):
        submit(two, key=key)


def test_reader_cannot_submit_for_anothers_assignment(make_study):
    study = make_study()
    mine = first_open_assignment(study, "R01")
    theirs = first_open_assignment(study, "R02")
    with pytest.raises(NotFound):
        reads.submit_read(user=mine.reader.user, assignment_id=theirs.pk, idempotency_key=uuid.uuid4(),
                          values=reads.ReadInput(rating=1))


@pytest.mark.parametrize(
    "values,field",
    [
        ({"rating": 101}, "rating"),
        ({"rating": -1}, "rating"),
        ({"rating": float("nan")}, "rating"),
        ({"rating": 50, "marks": [{"x": 1, "y": 2}]}, "marks"),
    ],
)
def test_invalid_values_are_refused(make_study, values, field):
    study = make_study()
    with pytest.raises(InvalidInput) as error:
        submit(first_open_assignment(study), **values)
    assert error.value.field == field
    assert Read.objects.count() == 0


def test_ordinal_scale_and_required_decision(make_study):
    study = make_study(rating_scale="ordinal", ordinal_labels=["1", "2", "3", "4", "5"], binary_decision=True)
    assignment = first_open_assignment(study)
    with pytest.raises(InvalidInput, match="whole number"):
        submit(assignment, rating=2.5, decision=True)
    with pytest.raises(InvalidInput, match="yes/no"):
        submit(assignment, rating=2)
    read, _ = submit(assignment, rating=5, decision=False)
    assert read.decision is False


def test_reads_refused_when_study_not_reading(make_study, coordinator):
    from studies.services.studies import transition_study

    study = make_study()
    transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)
    with pytest.raises(Exception, match="locked"):
        submit(first_open_assignment(study))


def test_sequential_aided_score_only_after_unaided(make_study):
    study = make_study(design=Study.Design.SEQUENTIAL)
    unaided = first_open_assignment(study, arm="unaided")
    aided = Assignment.objects.get(session=unaided.session, case=unaided.case, arm__name="aided")
    with pytest.raises(RuleViolation, match="unaided score"):
        submit(aided)
    submit(unaided, rating=40)
    read, _ = submit(aided, rating=70)
    assert Read.objects.filter(case=unaided.case, reader=unaided.reader).count() == 2


def test_revision_forbidden_by_default(make_study):
    study = make_study()
    read, _ = submit(first_open_assignment(study))
    with pytest.raises(RuleViolation, match="final"):
        reads.revise_read(user=read.reader.user, read_id=read.pk, idempotency_key=uuid.uuid4(),
                          values=reads.ReadInput(rating=1))


def test_audited_revision_keeps_history(make_study):
    study = make_study(revision_policy="audited")
    read, _ = submit(first_open_assignment(study), rating=20)
    key = uuid.uuid4()
    revised = reads.revise_read(user=read.reader.user, read_id=read.pk, idempotency_key=key,
                                values=reads.ReadInput(rating=80), reason="misclick")
    again = reads.revise_read(user=read.reader.user, read_id=read.pk, idempotency_key=key,
                              values=reads.ReadInput(rating=80), reason="misclick")
    assert revised.rating == 80 and revised.revision == 1 and again.revision == 1
    history = ReadRevision.objects.get(read=read)
    assert history.previous["rating"] == 20 and history.reason == "misclick"


def revise(read, rating=90):
    return reads.revise_read(user=read.reader.user, read_id=read.pk, idempotency_key=uuid.uuid4(),
                             values=reads.ReadInput(rating=rating), reason="second look")


def test_sequential_unaided_read_is_final_once_the_ai_is_open(make_study):
    """The AI output is shown right after the unaided score: revising that score would measure the AI."""
    study = make_study(design=Study.Design.SEQUENTIAL, revision_policy="audited")
    unaided = first_open_assignment(study, arm="unaided")
    aided = Assignment.objects.get(session=unaided.session, case=unaided.case, arm__name="aided")
    unaided_read, _ = submit(unaided, rating=30)
    with pytest.raises(RuleViolation, match="AI output for this case"):
        revise(unaided_read)
    aided_read, _ = submit(aided, rating=50)
    assert revise(aided_read).rating == 90
    unaided_read.refresh_from_db()
    assert unaided_read.rating == 30 and unaided_read.revision == 0


def test_crossover_unaided_read_revisable_until_the_aided_session_opens(make_study):
    from datetime import timedelta

    from django.utils import timezone

    study = make_study(revision_policy="audited")
    unaided = Assignment.objects.filter(session__study=study, session__number=1, arm__name="unaided").first()
    later = Assignment.objects.get(reader=unaided.reader, case=unaided.case, arm__name="aided").session
    assert later.number > 1 and later.opens_at > timezone.now()  # after the washout
    read, _ = submit(unaided, rating=30)
    assert revise(read, rating=35).revision == 1
    later.opens_at = timezone.now() - timedelta(minutes=1)
    later.save()
    with pytest.raises(RuleViolation, match="unaided read of it is final"):
        revise(read, rating=40)


def test_assignment_says_whether_its_read_may_still_change(make_study, api):
    study = make_study(design=Study.Design.SEQUENTIAL, revision_policy="audited")
    unaided = first_open_assignment(study, arm="unaided")
    aided = Assignment.objects.get(session=unaided.session, case=unaided.case, arm__name="aided")
    client = api(unaided.reader.user)
    assert client.get(f"/api/v1/assignments/{unaided.pk}/").json()["final_because"] is None  # nothing read yet
    unaided_read, _ = submit(unaided, rating=30)
    aided_read, _ = submit(aided, rating=50)
    assert "AI output" in client.get(f"/api/v1/assignments/{unaided.pk}/").json()["final_because"]
    assert client.get(f"/api/v1/assignments/{aided.pk}/").json()["final_because"] is None
    change = {"idempotency_key": str(uuid.uuid4()), "rating": 65, "reason": "second look"}
    response = client.patch(f"/api/v1/reads/{aided_read.pk}/", change, format="json")
    assert response.status_code == 200 and response.json()["revision"] == 1
    refused = client.patch(f"/api/v1/reads/{unaided_read.pk}/", {**change, "idempotency_key": str(uuid.uuid4())},
                           format="json")
    assert refused.status_code == 409 and "final" in refused.json()["detail"]


def test_the_api_marks_a_twin_of_a_stored_read_and_no_other_refusal(make_study, api):
    """The workstation's outbox drops a read the server holds already (``code``: already_read) as saved; a read
    refused for another reason (the aided score before the unaided one) stays with the reader."""
    study = make_study(design=Study.Design.SEQUENTIAL)
    unaided = first_open_assignment(study, arm="unaided")
    aided = Assignment.objects.get(session=unaided.session, case=unaided.case, arm__name="aided")
    client = api(unaided.reader.user)

    def post(assignment):
        return client.post("/api/v1/reads/", {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()),
                                              "rating": 40}, format="json")

    early = post(aided)
    assert early.status_code == 409 and "submit the unaided score for this case first" in early.json()["detail"]
    assert "code" not in early.json()
    assert post(unaided).status_code == 201
    twin = post(unaided)
    assert twin.status_code == 409 and twin.json()["code"] == "already_read"


needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and concurrent transactions need PostgreSQL"
)


def _in_threads(n, target):
    results, barrier = [None] * n, threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:  # collected and checked by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_submissions_store_one_read(make_study):
    study = make_study()
    assignment = first_open_assignment(study)
    results = _in_threads(8, lambda i: submit(assignment, rating=10 + i))
    created = [r for r in results if isinstance(r, tuple) and r[1]]
    refused = [r for r in results if isinstance(r, RuleViolation)]
    assert len(created) == 1 and len(refused) == 7, results
    assert Read.objects.filter(assignment=assignment).count() == 1


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_return_one_read(make_study):
    study = make_study()
    assignment = first_open_assignment(study)
    key = uuid.uuid4()
    results = _in_threads(8, lambda i: submit(assignment, key=key, rating=10 + i))
    assert all(isinstance(r, tuple) for r in results), results
    assert len({r[0].pk for r in results}) == 1
    assert sum(r[1] for r in results) == 1
    assert Read.objects.count() == 1
