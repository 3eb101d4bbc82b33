"""First middleware: the request id, the request's log line and its latency metrics."""

import logging
import time

from . import context, metrics

request_log = logging.getLogger("mrmc.request")
# Probes and scrapes every few seconds would drown the log; logged at DEBUG unless they fail.
QUIET_ROUTES = frozenset({"healthz", "livez", "metrics"})


class RequestObservabilityMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` when it is a sane token, else a new one),
    returned in the response's ``X-Request-ID``, written into every log record made while it is served
    and into the messages of the tasks it queues; logs one line per request and observes its latency.

    The sanitized id replaces the header itself, so the audit context (studies.middleware) records
    the same id.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = request.META["HTTP_X_REQUEST_ID"] = request_id
        request.__dict__.pop("headers", None)  # read again from META by whoever asks next
        token = context.enter(context.Scope(request_id, request))
        started = time.perf_counter()
        metrics.REQUESTS_IN_FLIGHT.inc()
        try:
            response = self.get_response(request)
        finally:
            metrics.REQUESTS_IN_FLIGHT.dec()
        seconds = time.perf_counter() - started
        try:
            response["X-Request-ID"] = request_id
            self._record(request, response.status_code, seconds)
        finally:
            context.leave(token)
        return response

    @staticmethod
    def _record(request, status: int, seconds: float) -> None:
        route = context.route_of(request)
        metrics.observe_request(route=route, method=request.method, status=status, seconds=seconds)
        level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
        duration_ms = round(seconds * 1000, 1)
        request_log.log(level, "%s %s %s %.1f ms", request.method, route, status, duration_ms,
                        extra={"method": request.method, "status": status, "duration_ms": duration_ms})
