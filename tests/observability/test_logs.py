"""Logs: one JSON object per line (or text) with the request id, user id, route, status and duration;
no patient data or secrets; the request id returned, audited and carried into the tasks it queues."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
from django.test import Client
from pydicom.dataset import Dataset

from studies.models import AuditEvent
from studies.observability import context, task_context
from studies.observability.logs import ContextFilter, JsonFormatter, RedactFilter, redact
from tests.conftest import ROOT


@pytest.fixture
def json_log():
    """The root logger also writes, as production does, to a buffer; returns the parsed records."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)


def request_lines(records, route):
    return [record for record in records if record["logger"] == "mrmc.request" and record.get("route") == route]


# ---------------------------------------------------------------- request ids


@pytest.mark.parametrize("sent", ["3f2a9c0d8e7b4a61b5c4d3e2f1a09876", "client-7.retry:2"])
def test_a_sane_request_id_is_kept_and_returned(db, sent):
    assert Client().get("/livez", HTTP_X_REQUEST_ID=sent)["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["", "a b", "line\nbreak", "x" * 65, "Jane Doe <jane@example.org>", "-leading"])
def test_any_other_request_id_is_replaced_by_a_new_one(db, sent):
    returned = Client().get("/livez", HTTP_X_REQUEST_ID=sent)["X-Request-ID"]
    assert returned != sent and len(returned) == 32 and int(returned, 16) >= 0


def test_the_audit_trail_records_the_request_id_the_response_returns(api, coordinator):
    response = api(coordinator).post("/api/v1/studies/", {"title": "Ids"}, format="json",
                                     HTTP_X_REQUEST_ID="bad id with spaces")
    assert response.status_code == 201
    event = AuditEvent.objects.get(entity="studies.Study", action="create")
    assert event.request_id == response["X-Request-ID"] != "bad id with spaces"


# ---------------------------------------------------------------- the request line


def test_each_request_logs_its_route_status_duration_and_user_id_but_no_name(json_log, api, coordinator):
    response = api(coordinator).get("/api/v1/studies/", HTTP_X_REQUEST_ID="req-0001")
    assert response.status_code == 200
    (line,) = request_lines(json_log(), "study-list")
    assert line["request_id"] == "req-0001" and line["user_id"] == coordinator.pk
    assert (line["method"], line["status"], line["level"]) == ("GET", 200, "INFO")
    assert line["duration_ms"] >= 0 and line["timestamp"].endswith("+00:00")
    assert coordinator.username not in json.dumps(json_log())


def test_an_anonymous_request_has_no_user_id_and_its_query_is_not_logged(json_log, db):
    Client().get("/dicomweb/studies", {"PatientName": "DOE^JANE", "PatientID": "MRN-4711"}, HTTP_X_REQUEST_ID="q-1")
    records = json_log()
    (line,) = request_lines(records, "dicomweb-studies")
    assert "user_id" not in line and line["status"] == 401
    text = json.dumps(records)
    assert "DOE" not in text and "MRN-4711" not in text
    assert {record["request_id"] for record in records} == {"q-1"}  # Django's own warning carries it too


def test_probes_and_scrapes_are_logged_only_when_they_fail(json_log, db):
    Client().get("/livez")
    Client().get("/metrics")
    assert request_lines(json_log(), "livez") == [] and request_lines(json_log(), "metrics") == []


# ---------------------------------------------------------------- patient data and secrets


def test_a_data_set_in_a_message_loses_its_values():
    dataset = Dataset()
    dataset.PatientName = "DOE^JANE"
    dataset.PatientID = "MRN-4711"
    dataset.PatientBirthDate = "19700101"
    dataset.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    dataset.Modality = "CR"
    text = redact(f"cannot store\n{dataset}")
    for identifying in ("DOE", "MRN-4711", "19700101", "1.2.826.0.1.3680043.8.498.99", "'CR'"):
        assert identifying not in text
    assert "Patient's Name" in text and "Modality" in text  # which elements, not their values


@pytest.mark.parametrize(("message", "kept", "gone"), [
    ("GET /dicomweb/studies?PatientName=DOE*&limit=5 400", "/dicomweb/studies?", "DOE"),
    ("match PatientID=MRN-4711, AccessionNumber: A123", "PatientID=", "MRN-4711"),
    ('{"PatientName": "DOE^J", "Modality": "CR"}', '"Modality": "CR"', "DOE"),
    ("Not Found: /dicomweb/studies/2.25.329800735698586629295641978511506172918", "Not Found", "2.25.3298"),
    ("transfer syntax 1.2.840.10008.1.2.4.90 not supported", "1.2.840.10008.1.2.4.90", "[uid]"),
    ("broker redis://:hunter2-secret@redis:6379/0 unreachable", "redis://:", "hunter2-secret"),
    ("sent Authorization: Token 0123456789abcdef0123456789abcdef", "Token", "0123456789abcdef"),
    ("postgres://mrmc_app:pw-4711@db:5432/mrmc refused", "mrmc_app", "pw-4711"),
])
def test_identifiers_and_credentials_are_taken_out_by_their_shape(message, kept, gone):
    assert kept in redact(message) and gone not in redact(message)


def test_configured_secrets_are_taken_out_wherever_they_appear(settings):
    settings.DEID_KEY = "deid-key-4711-do-not-log"
    settings.METRICS_TOKEN = "metrics-token-do-not-log"
    text = redact(f"keys {settings.DEID_KEY} {settings.METRICS_TOKEN} {settings.SECRET_KEY}")
    assert text == "keys [secret] [secret] [secret]"


def test_tracebacks_are_redacted_too(json_log):
    try:
        raise ValueError("bad value (0010,0010) Patient's Name  PN: 'DOE^JANE'")
    except ValueError:
        logging.getLogger("studies.test").exception("ingest of %s failed", "2.25.1234567")
    (record,) = [r for r in json_log() if r["logger"] == "studies.test"]
    assert record["message"] == "ingest of [uid] failed"
    assert "ValueError" in record["exception"] and "DOE" not in record["exception"]


# ---------------------------------------------------------------- tasks


def test_a_queued_task_carries_the_request_id_and_logs_under_it():
    """before_task_publish in the web process, task_prerun/postrun in the worker."""
    token = context.enter(context.Scope("req-from-web"))
    headers = {}
    task_context.add_request_id(headers=headers)
    context.leave(token)
    assert headers == {task_context.HEADER: "req-from-web"}

    task = SimpleNamespace(name="studies.run_job", request=SimpleNamespace(**headers))
    task_context.enter_task(task_id="t-1", task=task)
    assert (context.current().request_id, context.current().task) == ("req-from-web", "studies.run_job")
    task_context.leave_task(task_id="t-1")
    assert context.current() is None


def test_a_task_queued_by_beat_gets_an_id_of_its_own():
    task_context.enter_task(task_id="t-2", task=SimpleNamespace(name="studies.anchor_audit", request=SimpleNamespace()))
    assert len(context.current_request_id()) == 32
    task_context.leave_task(task_id="t-2")


@pytest.mark.integration
def test_a_worker_logs_the_task_under_the_request_that_queued_it(celery_worker, tmp_path, api, make_study):
    study = make_study(status="enrolling")
    request_id = f"sched-{uuid.uuid4().hex[:8]}"
    response = api(study.created_by).post(f"/api/v1/studies/{study.pk}/schedule/", {"seed": 1}, format="json",
                                          HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 202, response.content
    from tests.conftest import wait_for_job

    wait_for_job(response.json()["id"])
    worker_log = (tmp_path / "worker.log").read_text()
    assert any(request_id in line and "succeeded" in line for line in worker_log.splitlines()), worker_log[-3000:]


# ---------------------------------------------------------------- the configuration


def test_logs_are_json_in_production_and_text_on_the_laptop(tmp_path):
    from tests.config.test_production_settings import production_env, settings_of

    assert settings_of(production_env(tmp_path), "LOG_FORMAT").stdout == "'json'\n"
    assert settings_of(production_env(tmp_path, DJANGO_DEBUG=None), "LOG_FORMAT").stdout == "'text'\n"
    assert settings_of(production_env(tmp_path, LOG_FORMAT="xml"), "LOG_FORMAT").returncode != 0


def test_production_logs_are_json_lines(tmp_path):
    """LOG_FORMAT=json wired through LOGGING: every line on stderr parses, requests included."""
    script = (
        "import django, logging; django.setup()\n"
        "from django.test import Client\n"
        "Client().get('/api/v1/studies/', HTTP_X_REQUEST_ID='json-1')\n"
        "logging.getLogger('studies.x').warning('PatientID=MRN-4711 seen')\n"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "MRMC_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"logger": "mrmc.request", "route": "study-list", "status": 401, "request_id": "json-1"}.items() <= \
        next(r for r in records if r["logger"] == "mrmc.request").items()
    assert "MRN-4711" not in result.stderr
