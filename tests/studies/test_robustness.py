"""Hostile requests get a 400 naming the problem, unreachable dependencies a 503 with Retry-After."""

import json
import socket
import time

import pytest
from django.db import connections
from django.test import Client

from studies.api.parsers import json_depth
from studies.models import Job, Study


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


# ---------------------------------------------------------------- request bodies


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["]]]]", "\\"[["]', 1), ('{"k\\"[": [{}]}', 3)],
)
def test_json_depth_ignores_brackets_inside_strings(text, depth):
    json.loads(text)  # the cases are valid JSON
    assert json_depth(text.encode()) == depth


def test_deeply_nested_json_to_the_token_endpoint_is_a_400_without_authentication(client):
    response = client.post("/api/v1/auth/token/", nested(1000), content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["detail"]


def test_nesting_up_to_the_limit_is_parsed_and_one_more_level_is_refused(api, make_study):
    study = make_study(status=Study.Status.DRAFT)
    staff = api(study.created_by)
    at_limit = {"pixel_cleaning": json.loads(nested(31))}  # the object itself is the 32nd level
    response = staff.patch(f"/api/v1/studies/{study.pk}/", at_limit, format="json")
    assert response.status_code == 400
    assert response.json().get("field") == "pixel_cleaning"  # parsed, then refused by the study's rules
    too_deep = {"pixel_cleaning": json.loads(nested(32))}
    response = staff.patch(f"/api/v1/studies/{study.pk}/", too_deep, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 32 levels"}


def test_body_over_the_size_limit_is_a_400(api, coordinator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"title": "x" * 1000})
    response = api(coordinator).post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "request body larger than 1000 bytes"}
    form = api(coordinator).post("/api/v1/studies/", f"title={'x' * 1000}",
                                 content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400
    assert Study.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    ['{"title": ', '{"title": NaN}', '{"title": "\udcff"}'.encode("utf-8", "surrogatepass"), "1" * 5000, b"\xff\xfe"],
)
def test_malformed_json_is_a_400(api, coordinator, body):
    response = api(coordinator).post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_too_many_form_fields_is_a_400_naming_the_limit(api, coordinator, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{i}=1" for i in range(11))
    response = api(coordinator).post("/api/v1/studies/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json() == {"detail": "more than 10 form fields"}


def test_import_file_over_the_limit_is_refused(api, make_study, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_FILE_MAX_BYTES = 100
    study = make_study(status=Study.Status.DRAFT, n_cases=0)
    upload = SimpleUploadedFile("truth.csv", b"case,truth\n" + b"C1,1\n" * 50)
    response = api(study.created_by).post(f"/api/v1/studies/{study.pk}/cases/import/", {"file": upload})
    assert response.status_code == 400
    assert "larger than 100 bytes" in str(response.json()["file"])
    assert not study.cases.exists()


# ---------------------------------------------------------------- unreachable dependencies


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_database(django_db_blocker, tmp_path):
    """The app's database connection pointed at a closed port (PostgreSQL) or an unopenable file (SQLite)."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        if connection.vendor == "sqlite":
            connection.settings_dict["NAME"] = str(tmp_path / "missing-folder" / "db.sqlite3")
        else:
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def assert_retry_later(response):
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("path", ["/api/v1/studies/", "/api/v1/worklist/", "/dicomweb/studies"])
def test_database_down_answers_503_json_on_the_api(unreachable_database, path):
    response = Client().get(path, HTTP_AUTHORIZATION="Token " + "a" * 64)
    assert_retry_later(response)
    assert response.json() == {"detail": "The database is unavailable; please retry shortly.", "unavailable": "database"}


def test_database_down_answers_a_503_page_and_healthz_names_it(unreachable_database):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32  # the session is looked up in the database
    page = client.get("/read/")
    assert_retry_later(page)
    assert page["Content-Type"].startswith("text/html")
    assert b"The database is unavailable" in page.content
    health = Client().get("/healthz")
    assert_retry_later(health)
    assert health.json()["failed"] == ["database"]


@pytest.fixture
def dead_broker(monkeypatch):
    """Tasks queued to a broker URL where nothing listens, as in production with Redis down."""
    from config.celery import app

    from ..conftest import _drop_connection_pools

    dead_url = f"redis://127.0.0.1:{closed_port()}/5"
    monkeypatch.setenv("CELERY_BROKER_URL", dead_url)  # Celery reads it before its configuration
    previous = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=dead_url)
    _drop_connection_pools(app)
    yield
    app.conf.update(previous)
    _drop_connection_pools(app)


def test_broker_down_answers_503_within_seconds_and_healthz_names_it(transactional_db, api, make_study, dead_broker):
    study = make_study(status=Study.Status.ENROLLING)
    health = Client().get("/healthz")  # (also loads the URL modules, which takes seconds the first time)
    assert_retry_later(health)
    assert health.json()["failed"] == ["broker", "workers"]  # no broker, no heartbeats to read
    started = time.monotonic()
    response = api(study.created_by).post(f"/api/v1/studies/{study.pk}/schedule/", {"seed": 1}, format="json")
    assert time.monotonic() - started < 2
    assert_retry_later(response)
    assert response.json()["unavailable"] == "broker"
    job = Job.objects.get(study=study, kind="generate_schedule")
    assert job.status == Job.Status.FAILED
    assert "broker is unreachable" in job.message


def test_healthz_ok_when_everything_answers(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["failed"] == []


# ---------------------------------------------------------------- numeric bounds


@pytest.mark.parametrize(
    ("field", "value"),
    [("washout_days", 5.6e13), ("washout_days", -1), ("block_size", 2**40), ("max_marks", 101),
     ("scale_max", 1e300), ("decision_threshold", -1e7)],
)
def test_study_fields_out_of_bounds_are_refused_naming_the_field(api, coordinator, field, value):
    response = api(coordinator).post("/api/v1/studies/", {"title": "Bounds", field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Study.objects.count() == 0


def test_services_apply_the_bounds_on_every_database(coordinator):
    from studies.errors import InvalidInput
    from studies.services import studies as services

    with pytest.raises(InvalidInput) as refused:
        services.create_study(actor=coordinator, title="Bounds", washout_days=56_000_000_000_000)
    assert refused.value.field == "washout_days"
    study = services.create_study(actor=coordinator, title="Bounds", washout_days=3650)
    with pytest.raises(InvalidInput) as refused:
        services.update_study(actor=coordinator, study=study, scale_min=float("nan"))
    assert refused.value.field == "scale_min"
    study.refresh_from_db()
    assert (study.washout_days, study.scale_min) == (3650, 0)


def test_reading_group_beyond_the_column_is_refused_by_the_truth_import(api, make_study):
    from django.core.files.uploadedfile import SimpleUploadedFile

    study = make_study(status=Study.Status.DRAFT, n_cases=0)
    upload = SimpleUploadedFile("truth.csv", b"case,truth,reading_group\nC1,1,1\nC2,0,99999999999999999999\n")
    response = api(study.created_by).post(f"/api/v1/studies/{study.pk}/cases/import/", {"file": upload})
    assert response.status_code == 400
    assert "line 3, field 'reading_group'" in str(response.json())
    assert not study.cases.exists()


@pytest.mark.parametrize(("field", "value"), [("code", "R" * 33), ("group", 2**15), ("group", 10**30)])
def test_enrollment_values_beyond_their_columns_are_refused(api, make_study, make_user, field, value):
    study = make_study(status=Study.Status.DRAFT, n_readers=0, n_cases=0)
    make_user("newreader")
    response = api(study.created_by).post(
        f"/api/v1/studies/{study.pk}/readers/", {"username": "newreader", field: value}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not study.readers.exists()


@pytest.mark.parametrize("query", ["limit=9223372036854775809", "offset=99999999999999999999999", "limit=-1&offset=-5"])
def test_paging_numbers_beyond_the_database_integers_are_bounded(api, coordinator, make_study, query):
    make_study(status=Study.Status.DRAFT, n_readers=0, n_cases=0)
    response = api(coordinator).get(f"/api/v1/studies/?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_read_with_client_times_centuries_apart_is_stored_without_overflow(api, make_study):
    import uuid

    study = make_study(washout_days=0)
    reader = study.readers.get(code="R01")
    assignment = reader.assignments.order_by("session__number", "order").first()
    body = {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 50,
            "opened_at": "1900-01-01T00:00:00Z", "submitted_at": "2100-01-01T00:00:00Z"}
    response = api(reader.user).post("/api/v1/reads/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["duration_ms"] is None  # 200 years says the clock is wrong, not the reading time
