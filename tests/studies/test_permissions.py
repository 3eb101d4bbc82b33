"""The role × endpoint matrix: every API route, every role, including readers probing others' data."""

import uuid

import pytest
from django.urls import get_resolver

from studies.models import Assignment, Job, Read, Role
from studies.services import analysis, reads

ROLES = ["anonymous", "reader", "other_reader", "coordinator", "other_coordinator", "statistician", "admin"]
STAFF = {"coordinator", "statistician", "admin"}
CHANGE = {"coordinator", "admin"}
READER = {"reader"}
ANY_READER = {"reader", "other_reader"}
SIGNED_IN = set(ROLES) - {"anonymous"}

# url name -> {method: roles allowed}. Every route under /api/v1/ must be listed (checked below).
MATRIX = {
    "study-list": {"get": STAFF | {"other_coordinator"}, "post": CHANGE | {"other_coordinator"}},
    "study-detail": {"get": STAFF, "patch": CHANGE, "delete": CHANGE},
    "study-transition": {"post": CHANGE},
    "arm-list": {"get": STAFF, "post": CHANGE},
    "case-list": {"get": STAFF},
    "case-import": {"post": CHANGE},
    "ai-output-list": {"get": STAFF},
    "ai-output-import": {"post": CHANGE},
    "dicom-upload": {"post": CHANGE},
    "reader-list": {"get": STAFF, "post": CHANGE},
    "schedule": {"get": STAFF, "post": CHANGE},
    "schedule-csv": {"get": STAFF},
    "progress": {"get": STAFF},
    "study-reads": {"get": STAFF},
    "study-reads-csv": {"get": STAFF},
    "audit": {"get": STAFF},
    "job-detail": {"get": STAFF},
    "analysis-run-list": {"get": STAFF, "post": STAFF},
    "analysis-run-detail": {"get": STAFF},
    "analysis-run-report-html": {"get": STAFF},
    "analysis-run-report-pdf": {"get": STAFF},
    "analysis-run-reads-csv": {"get": STAFF},
    "analysis-run-mrmcaov-csv": {"get": STAFF},
    "analysis-run-imrmc-imrmc": {"get": STAFF},
    "analysis-run-rjafroc-xlsx": {"get": STAFF},
    "analysis-run-results-json": {"get": STAFF},
    "worklist": {"get": ANY_READER},
    "session-detail": {"get": READER},
    "assignment-detail": {"get": READER},
    "read-list": {"get": ANY_READER, "post": READER},
    "read-detail": {"patch": READER},
    "api-logout": {"post": SIGNED_IN},
    "api-logout-all": {"post": SIGNED_IN},
}
PUBLIC = {"api-token"}  # obtaining a token is how one authenticates


def api_url_names():
    resolver = get_resolver()
    return {name for name in resolver.reverse_dict if isinstance(name, str) and _is_api(resolver, name)}


def _is_api(resolver, name):
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, kwargs=_dummy_kwargs(resolver, name)).startswith("/api/v1/")
    except NoReverseMatch:
        return False


def _dummy_kwargs(resolver, name):
    (possibility, _pattern, _defaults, _converters), *_ = resolver.reverse_dict.getlist(name)
    return {param: 1 for param in possibility[0][1]}


def test_every_api_route_is_in_the_matrix():
    assert api_url_names() - PUBLIC == set(MATRIX)


@pytest.fixture
def world(make_study, make_user, coordinator, statistician, admin_user):
    """One study in reading with two readers; an outsider coordinator; one submitted read."""
    from studies.services import studies as services

    study = make_study(n_readers=2, n_cases=4)
    services.add_member(actor=coordinator, study=study, user=statistician)
    mine = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1).first()
    read, _ = reads.submit_read(user=mine.reader.user, assignment_id=mine.pk, idempotency_key=uuid.uuid4(),
                                values=reads.ReadInput(rating=40))
    next_mine = Assignment.objects.filter(session=mine.session, read__isnull=True).first()
    job = Job.objects.create(kind="generate_schedule", study=study, created_by=coordinator)
    run = analysis.start_run(actor=statistician, study=study)  # interim; fails (not fully crossed) but exists
    users = {
        "anonymous": None,
        "reader": mine.reader.user,
        "other_reader": make_user("outsider_reader", Role.READER),
        "coordinator": coordinator,
        "other_coordinator": make_user("other_coord", Role.COORDINATOR),
        "statistician": statistician,
        "admin": admin_user,
    }
    return {"study": study, "users": users, "session": mine.session, "assignment": next_mine, "read": read, "job": job, "run": run}


def _request(api, world, role, name, method):
    from django.urls import reverse

    kwargs = {
        "study_id": world["study"].pk,
        "session_id": world["session"].pk,
        "assignment_id": world["assignment"].pk,
        "read_id": world["read"].pk,
        "job_id": world["job"].pk,
        "run_id": world["run"].pk,
    }
    resolver = get_resolver()
    url = reverse(name, kwargs={k: kwargs[k] for k in _dummy_kwargs(resolver, name)})
    body = {
        "read-list": {"assignment": world["assignment"].pk, "idempotency_key": str(uuid.uuid4()), "rating": 50},
        "read-detail": {"idempotency_key": str(uuid.uuid4()), "rating": 55},
        "study-transition": {"status": "locked"},
        "study-list": {"title": "new"},
        "study-detail": {"title": "renamed"},
        "arm-list": {"name": "third", "label": "Third"},
        "reader-list": {"username": "outsider_reader"},
        "schedule": {"seed": 1},
    }.get(name, {})
    return getattr(api(world["users"][role]), method)(url, body, format="json")


CASES = [(name, method, role) for name, methods in MATRIX.items() for method in methods for role in ROLES]


@pytest.mark.parametrize("name,method,role", CASES, ids=[f"{n}-{m}-{r}" for n, m, r in CASES])
def test_permission_matrix(api, world, name, method, role):
    response = _request(api, world, role, name, method)
    assert response.status_code < 500, response.content
    if role == "anonymous":
        assert response.status_code == 401
        assert "WWW-Authenticate" in response
    elif role in MATRIX[name][method]:
        assert response.status_code not in (401, 403, 404), response.content
    else:
        assert response.status_code in (403, 404), response.content


def test_reader_payloads_never_carry_truth_or_others_data(api, world):
    client = api(world["users"]["reader"])
    assignment = client.get(f"/api/v1/assignments/{world['assignment'].pk}/").json()
    worklist = client.get("/api/v1/worklist/").json()
    own_reads = client.get("/api/v1/reads/").json()
    text = str([assignment, worklist, own_reads])
    for forbidden in ("truth", "lesions", "metadata", "R02", "site-", "C00"):  # C00x: case labels
        assert forbidden not in text
    assert {r["id"] for r in own_reads} == {world["read"].pk}
    other_assignment = Assignment.objects.filter(session__study=world["study"], reader__code="R02").first()
    assert client.get(f"/api/v1/assignments/{other_assignment.pk}/").status_code == 404


def test_ai_output_only_in_arms_that_show_it(api, world):
    client = api(world["users"]["reader"])
    session = world["session"]
    for assignment in session.assignments.select_related("arm"):
        body = client.get(f"/api/v1/assignments/{assignment.pk}/").json()
        if assignment.arm.shows_ai:
            assert body["ai"] and body["ai"][0]["score"] is not None
        else:
            assert body["ai"] is None
            assert "score" not in str(body)


def test_reader_cannot_read_in_a_session_before_washout(api, world):
    later = world["session"].reader.sessions.get(number=2)
    assignment = later.assignments.first()
    response = api(world["users"]["reader"]).post(
        "/api/v1/reads/", {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 5},
        format="json",
    )
    assert response.status_code == 403
    assert "opens on" in response.json()["detail"]
    assert not Read.objects.filter(assignment=assignment).exists()
