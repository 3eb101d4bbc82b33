import logging
import sys
import uuid

import kombu.exceptions
import redis.exceptions
from django import db
from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse

from .services import audit

log = logging.getLogger(__name__)


class AuditContextMiddleware:
    """Makes the requesting user and a request id available to audit records."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        with audit.context(user_getter=lambda: getattr(request, "user", None), request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


# What a request meets when a dependency is down: the database, or the Celery broker while a job is queued.
UNAVAILABLE = {
    "database": (db.OperationalError, db.InterfaceError),
    "broker": (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
}
JSON_PREFIXES = ("/api/", "/dicomweb/", "/healthz")


def unavailable_dependency(exc: BaseException) -> str | None:
    """``"database"`` or ``"broker"`` when ``exc`` says that dependency cannot be reached, else None."""
    return next((name for name, errors in UNAVAILABLE.items() if isinstance(exc, errors)), None)


def service_unavailable(request, dependency: str) -> HttpResponse:
    """503 with ``Retry-After``: JSON for the API and DICOMweb, a short page otherwise."""
    message = f"The {dependency} is unavailable; please retry shortly."
    if request.path.startswith(JSON_PREFIXES):
        response = JsonResponse({"detail": message, "unavailable": dependency}, status=503)
    else:
        response = HttpResponse(f"<!doctype html><title>Unavailable</title><p>{message}</p>", status=503)
    response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return response


class ServiceUnavailableMiddleware:
    """An unreachable database or broker answers 503 with ``Retry-After`` instead of a 500, so
    clients (the viewer's outbox) know to try again rather than give up.

    Errors of views arrive in :meth:`process_exception`. Errors of other middleware (the session
    lookup, the idle timeout) are already a 500 response when they get here: the exception is
    noted on the request by :func:`note_unavailable_dependency` and the 500 replaced. So this
    middleware comes first in ``MIDDLEWARE``, after SecurityMiddleware only.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        dependency = getattr(request, "unavailable_dependency", None)
        if response.status_code == 500 and dependency:
            return service_unavailable(request, dependency)
        return response

    def process_exception(self, request, exception):
        dependency = unavailable_dependency(exception)
        if dependency is None:
            return None
        log.warning("%s unavailable during %s %s: %s", dependency, request.method, request.path, exception)
        return service_unavailable(request, dependency)


@receiver(got_request_exception, dispatch_uid="studies.note_unavailable_dependency")
def note_unavailable_dependency(sender, request=None, **kwargs):
    """Sent while Django turns an uncaught exception into a 500; the exception is the one being handled."""
    if request is not None:
        request.unavailable_dependency = unavailable_dependency(sys.exception())
