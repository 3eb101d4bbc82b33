"""``/healthz``: is every dependency answering? ``/livez``: is this process answering at all?

``/healthz`` checks the database, the Celery broker, the workers (their heartbeats: at least one
alive and every watched queue consumed) and the image archive of ``IMAGE_MODE`` (the platform's
DICOMweb archive, the external one, or the local store), each bounded by a short timeout. 200 only
when all pass, else 503 with ``Retry-After`` and the names of the failed checks. The body holds
fixed words and numbers only: no host names, URLs, exception texts or patient data. For
monitoring, load balancers and readiness probes; ``/livez`` (no dependency) for liveness probes,
so that an outage of the database or the broker does not make an orchestrator restart every web
process.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django import db
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from studies.middleware import UNAVAILABLE

from . import workers


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""


def database() -> Outcome:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except db.Error:
        return Outcome(False, "no answer to SELECT 1")
    return Outcome(True)


def broker() -> Outcome:
    if workers.tasks_run_in_process():
        return Outcome(True, "none: tasks run in-process")
    try:
        with workers.broker_connection():
            pass
    except UNAVAILABLE["broker"]:
        return Outcome(False, "no connection")
    return Outcome(True)


def celery_workers() -> Outcome:
    if workers.tasks_run_in_process():
        return Outcome(True, "none: tasks run in-process")
    try:
        consumers = workers.consumers_by_queue()
    except workers.BrokerWithoutKeys:
        return Outcome(False, "heartbeats need a Redis broker")
    except UNAVAILABLE["broker"]:
        return Outcome(False, "broker unavailable")
    if not consumers:
        return Outcome(False, f"no worker heartbeat in {workers.MISSED_BEATS * settings.WORKER_HEARTBEAT_S} s")
    idle = [queue for queue in workers.watched_queues() if not consumers[queue]]
    if idle:
        return Outcome(False, f"no worker consumes {', '.join(idle)}")
    return Outcome(True, f"queues {', '.join(sorted(consumers))} consumed")


def archive() -> Outcome:
    """The archive of ``IMAGE_MODE``: the platform's own DICOMweb archive (Orthanc), the external one,
    or the local store."""
    url = {"archive": settings.DICOMWEB_ARCHIVE_URL, "upstream": settings.DICOMWEB_UPSTREAM}.get(settings.IMAGE_MODE)
    if url:
        return _dicomweb_archive(url, f"{settings.IMAGE_MODE} DICOMweb server")
    store = settings.DICOM_STORAGE
    try:
        store.mkdir(parents=True, exist_ok=True)  # created on the first write anyway
    except OSError:
        return Outcome(False, "local store cannot be created")
    if not os.access(store, os.W_OK | os.X_OK):
        return Outcome(False, "local store not writable")
    return Outcome(True, "local store")


def _dicomweb_archive(url: str, name: str) -> Outcome:
    """A QIDO-RS search for one study (PS3.18 10.6): the archive's database and DICOMweb service answer."""
    try:
        response = requests.get(url.rstrip("/") + "/studies", params={"limit": 1},
                                headers={"Accept": "application/dicom+json"}, timeout=settings.HEALTH_TIMEOUT_S)
    except requests.RequestException:
        return Outcome(False, f"{name} unreachable")
    if not response.ok:
        return Outcome(False, f"{name} answered {response.status_code}")
    return Outcome(True, name)


CHECKS: dict[str, Callable[[], Outcome]] = {
    "database": database, "broker": broker, "workers": celery_workers, "archive": archive,
}


@never_cache
@require_GET
def healthz(request):
    """``{"status", "checks": {name: {"status", "latency_ms", "detail"}}, "failed": [names]}``."""
    checks = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        outcome = check()
        checks[name] = {
            "status": "ok" if outcome.ok else "unavailable",
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            **({"detail": outcome.detail} if outcome.detail else {}),
        }
    failed = [name for name, result in checks.items() if result["status"] != "ok"]
    body = {"status": "unavailable" if failed else "ok", "checks": checks, "failed": failed}
    response = JsonResponse(body, status=503 if failed else 200)
    if failed:
        response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return response


@never_cache
@require_GET
def livez(request):
    return JsonResponse({"status": "ok"})
