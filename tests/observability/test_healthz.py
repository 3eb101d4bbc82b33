"""/healthz checks the database, the broker, the workers and the DICOMweb archive; /livez only the process."""

import time
from types import SimpleNamespace

import pytest
from django.test import Client

from studies.observability import workers
from tests.studies.test_robustness import closed_port, unreachable_database  # noqa: F401 (fixture)

CHECKS = ["database", "broker", "workers", "archive"]


def health(**headers):
    response = Client().get("/healthz", **headers)
    return response, response.json()


def test_healthz_reports_each_check_with_its_status_and_latency(db):
    response, body = health()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["failed"] == []
    assert list(body["checks"]) == CHECKS
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert 0 <= check["latency_ms"] < 1000
    # the laptop: no broker, tasks in-process, images in the local store
    assert body["checks"]["broker"]["detail"] == "none: tasks run in-process"
    assert body["checks"]["archive"]["detail"] == "local store"
    assert response["Cache-Control"].startswith("max-age=0")


def test_database_down_fails_healthz_but_not_livez(unreachable_database):  # noqa: F811
    response, body = health()
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert body["failed"] == ["database"]
    assert body["checks"]["database"]["status"] == "unavailable"
    assert Client().get("/livez").json() == {"status": "ok"}


def test_a_local_store_that_cannot_be_created_fails_the_archive_check(db, settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.DICOM_STORAGE = tmp_path / "a-file" / "dicom"
    response, body = health()
    assert response.status_code == 503 and body["failed"] == ["archive"]
    assert body["checks"]["archive"]["detail"] == "local store cannot be created"


@pytest.mark.parametrize(("mode", "setting"), [("archive", "DICOMWEB_ARCHIVE_URL"), ("upstream", "DICOMWEB_UPSTREAM")])
def test_a_dicomweb_archive_is_asked_for_one_study(db, settings, stub_archive, mode, setting):
    handler, url = stub_archive
    settings.IMAGE_MODE = mode
    setattr(settings, setting, url)
    response, body = health()
    assert response.status_code == 200 and body["checks"]["archive"]["detail"] == f"{mode} DICOMweb server"
    assert handler.requests == ["/dicom-web/studies?limit=1"]
    handler.status = 500
    response, body = health()
    assert response.status_code == 503 and body["failed"] == ["archive"]
    assert body["checks"]["archive"]["detail"] == f"{mode} DICOMweb server answered 500"


def test_an_unreachable_archive_fails_without_naming_it(db, settings):
    settings.IMAGE_MODE = "archive"
    settings.DICOMWEB_ARCHIVE_URL = f"http://orthanc-user:orthanc-secret@127.0.0.1:{closed_port()}/dicom-web"
    response, body = health()
    assert response.status_code == 503 and body["failed"] == ["archive"]
    assert body["checks"]["archive"]["detail"] == "archive DICOMweb server unreachable"
    assert "orthanc" not in response.content.decode() and "127.0.0.1" not in response.content.decode()


def fake_consumer(*queues):
    queues = [SimpleNamespace(name=name) for name in queues]
    return SimpleNamespace(hostname=f"test-{time.monotonic_ns()}@host", task_consumer=SimpleNamespace(queues=queues))


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_workers_pass_while_a_heartbeat_names_every_watched_queue(db, redis_broker, own_queue):
    other = workers.Heartbeat(fake_consumer("some-other-queue"))
    other.start()
    try:
        wait_for(lambda: workers.consumers_by_queue()["some-other-queue"] >= 1)
        response, body = health()
        assert response.status_code == 503 and body["failed"] == ["workers"]
        assert body["checks"]["workers"]["detail"] == f"no worker consumes {own_queue}"
        assert body["checks"]["broker"]["status"] == "ok"

        consumer = workers.Heartbeat(fake_consumer(own_queue, "celery"))
        consumer.start()
        wait_for(lambda: workers.consumers_by_queue()[own_queue] == 1)
        response, body = health()
        assert response.status_code == 200, body
        consumer.stopped.set()
        consumer.join(timeout=5)
        assert workers.consumers_by_queue()[own_queue] == 0  # a stopped worker removes its heartbeat
    finally:
        other.stopped.set()
        other.join(timeout=5)


def test_a_heartbeat_expires_after_three_missed_beats(db, settings, redis_broker, own_queue):
    settings.WORKER_HEARTBEAT_S = 1
    beating = workers.Heartbeat(fake_consumer(own_queue))
    beating.beat()  # one beat, then the worker is gone without saying so (killed)
    assert workers.consumers_by_queue()[own_queue] == 1
    time.sleep(3.2)
    assert workers.consumers_by_queue()[own_queue] == 0


@pytest.mark.integration
def test_a_real_worker_passes_the_workers_check(celery_worker, settings):
    settings.CELERY_QUEUES_WATCHED = ["celery", "ingest", "analysis", "precompute"]
    wait_for(lambda: health()[0].status_code == 200, timeout=15)
