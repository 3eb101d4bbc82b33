"""The read-side rules (studies.rules): one meaning whether asked per session or for all at once, at a
bounded cost on every reader DICOMweb request and every read submitted."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from studies import rules, selectors
from studies.models import Assignment, Case, ReadingSession, Study
from studies.permissions import can_view_dicom_study, case_study_uids_visible_to, open_case_ids

FOUR_ARMS = (("a", False), ("b", True), ("c", False), ("d", True))


@pytest.fixture
def sessions_in_every_state(make_study):
    """Reader R01 of a four-session study: completed, open, waiting for the previous, in washout;
    and the same reader's sessions of a locked study."""
    study = make_study(n_readers=2, n_cases=4, arms=FOUR_ARMS, washout_days=10)
    sessions = {s.number: s for s in ReadingSession.objects.filter(study=study, reader__code="R01")}
    past = timezone.now() - timedelta(days=1)
    ReadingSession.objects.filter(pk=sessions[1].pk).update(completed_at=past)
    ReadingSession.objects.filter(pk__in=[sessions[2].pk, sessions[3].pk]).update(opens_at=past)
    locked = make_study(n_readers=1, n_cases=2, arms=FOUR_ARMS)
    Study.objects.filter(pk=locked.pk).update(status=Study.Status.LOCKED)
    return {"reader": sessions[1].reader.user, "open": sessions[2], "locked": locked}


def test_open_sessions_says_what_session_state_says(sessions_in_every_state):
    now = timezone.now()
    reasons = {}
    for session in ReadingSession.objects.select_related("study", "reader"):
        is_open, why = rules.session_state(session, now)
        assert is_open == rules.open_sessions(now).filter(pk=session.pk).exists(), (session, why)
        reasons.setdefault(why, session)
    assert set(reasons) >= {"", "session completed", "finish the previous session first",
                            "the study is locked, not open for reading"}
    assert any(why.startswith("this session opens on") for why in reasons)
    mine = rules.open_sessions(now).filter(reader__user=sessions_in_every_state["reader"])
    assert list(mine) == [sessions_in_every_state["open"]]


def test_reader_image_scope_costs_one_query_however_many_sessions(sessions_in_every_state, settings,
                                                                  django_assert_num_queries):
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "upstream", "https://archive.invalid/dicomweb"  # scope: the cases
    reader, session = sessions_in_every_state["reader"], sessions_in_every_state["open"]
    assert ReadingSession.objects.filter(reader__user=reader).count() == 8
    expected = set(Case.objects.filter(assignments__session=session).values_list("study_instance_uid", flat=True))
    with django_assert_num_queries(1):
        assert set(case_study_uids_visible_to(reader)) == expected
    with django_assert_num_queries(1):
        assert set(Case.objects.filter(pk__in=open_case_ids(reader)).values_list("study_instance_uid", flat=True)) \
            == expected
    locked_case = Case.objects.filter(study=sessions_in_every_state["locked"]).first()
    with django_assert_num_queries(2):
        assert can_view_dicom_study(reader, next(iter(expected)))
        assert not can_view_dicom_study(reader, locked_case.study_instance_uid)


def test_read_submission_stays_within_its_query_budget(make_study, api, django_assert_max_num_queries):
    """In a savepoint: the assignment (locked) with its read, the insert, the audit chain's head and
    event (PostgreSQL: and its lock), whether the session is done."""
    study = make_study()
    assignment = Assignment.objects.filter(session__study=study, session__number=1).order_by("order").first()
    client = api(assignment.reader.user)
    body = {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 50}
    with django_assert_max_num_queries(7 + (connection.vendor == "postgresql")):
        assert client.post("/api/v1/reads/", body, format="json").status_code == 201
    with django_assert_max_num_queries(3):  # a retry: the locked assignment brings its read
        assert client.post("/api/v1/reads/", body, format="json").status_code == 200


def test_worklist_costs_one_query_however_many_sessions(sessions_in_every_state, django_assert_num_queries):
    with django_assert_num_queries(1):
        items = selectors.worklist(sessions_in_every_state["reader"])
    assert [item.session for item in items if item.is_open] == [sessions_in_every_state["open"]]
    reasons = [item.reason_closed for item in items]  # the locked study's sessions are not listed
    assert reasons[:3] == ["session completed", "", "finish the previous session first"]
    assert reasons[3].startswith("this session opens on") and len(reasons) == 4
