"""Lists hold only what the caller may see: another coordinator's study and everything in it never
appear, and a reader sees only their own sessions and reads. Checked by ids against the database."""

import pytest

from studies.models import AIOutput, AnalysisRun, Arm, AuditEvent, Case, Read, Reader, ReadingSession, Study, User
from studies.services import analysis

# list route (under /api/v1/studies/<id>/) -> the study's objects it lists
STUDY_LISTS = {
    "arms": lambda study: Arm.objects.filter(study=study),
    "cases": lambda study: Case.objects.filter(study=study),
    "ai-outputs": lambda study: AIOutput.objects.filter(study=study),
    "readers": lambda study: Reader.objects.filter(study=study),
    "reads": lambda study: Read.objects.filter(case__study=study),
    "audit": lambda study: AuditEvent.objects.filter(study_id=study.pk),
    "analysis-runs": lambda study: AnalysisRun.objects.filter(study=study),
}


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {row["id"] for row in rows}


def db_ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


@pytest.fixture
def both(world, theirs, statistician):
    """Our study with an analysis run of its own, next to theirs."""
    analysis.start_run(actor=statistician, study=world.study)
    return world, theirs


def test_study_list_holds_the_callers_studies_only(api, both):
    world, theirs = both
    users = world.users
    seen = {role: ids(api(users[role]).get("/api/v1/studies/?limit=1000"))
            for role in ("coordinator", "statistician", "other_coordinator", "admin")}
    assert seen["coordinator"] == seen["statistician"] == {world.study.pk}
    assert seen["other_coordinator"] == {theirs.pk}
    assert seen["admin"] == db_ids(Study.objects.all()) >= {world.study.pk, theirs.pk}


@pytest.mark.parametrize("route", STUDY_LISTS)
@pytest.mark.parametrize("role", ["coordinator", "statistician", "admin", "other_coordinator"])
def test_study_lists_hold_that_studys_objects_only(api, both, route, role):
    world, theirs = both
    mine = world.study if role != "other_coordinator" else theirs
    other = theirs if mine is world.study else world.study
    listed = ids(api(world.users[role]).get(f"/api/v1/studies/{mine.pk}/{route}/?limit=1000"))
    expected = db_ids(STUDY_LISTS[route](mine))
    assert expected, "nothing to list: the check would prove nothing"
    assert db_ids(STUDY_LISTS[route](other)), "the other study has none: the check would prove nothing"
    assert listed == expected
    assert listed.isdisjoint(db_ids(STUDY_LISTS[route](other)))


@pytest.mark.parametrize("route", STUDY_LISTS)
def test_another_coordinators_study_lists_are_not_found(api, both, route):
    world, theirs = both
    for role, study in (("coordinator", theirs), ("statistician", theirs), ("other_coordinator", world.study)):
        response = api(world.users[role]).get(f"/api/v1/studies/{study.pk}/{route}/")
        assert response.status_code == 404, (role, response.status_code)


@pytest.mark.parametrize("username", ["reader1", "reader2", "their_reader1"])
def test_a_reader_lists_only_their_own_sessions_and_reads(api, both, username):
    reader = User.objects.get(username=username)
    client = api(reader)
    own_reads = db_ids(Read.objects.filter(reader__user=reader))
    assert own_reads and own_reads != db_ids(Read.objects.all())
    assert ids(client.get("/api/v1/reads/")) == own_reads
    worklist = client.get("/api/v1/worklist/").json()["sessions"]
    # Locked work is done: the worklist holds the sessions of studies still enrolling or reading.
    current = ReadingSession.objects.filter(study__status__in=[Study.Status.ENROLLING, Study.Status.READING])
    assert {session["id"] for session in worklist} == db_ids(current.filter(reader__user=reader))
