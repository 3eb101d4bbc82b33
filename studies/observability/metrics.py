"""Prometheus metrics (text exposition format at ``/metrics``, prometheus_client).

Counted where they happen: request latency and requests in flight (the middleware), reads submitted
(a read's row committed). Read when scraped: jobs by kind and status (the Job table, whichever
worker ran them), Celery queue lengths and the workers consuming each queue (the broker).

Under gunicorn every worker process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(set by deploy/gunicorn.conf.py before the workers start) and a scrape merges them, so the numbers
are the server's, whichever worker answers; without that folder (runserver, tests) they are the
process's own.
"""

import hmac
import ipaddress
import os
from functools import cache

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from studies.middleware import UNAVAILABLE
from studies.models import Job

from . import workers

# Up to 30 s: the API's slowest answers (an upload's last part, a report) stay in a bucket; the
# reading workstation's goal (p95 < 100 ms, README "Load") falls between two narrow ones.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30)
disable_created_metrics()  # no "_created" twin of every series: Prometheus infers resets itself
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "mrmc_http_request_duration_seconds", "Time to answer a request (streamed bodies: until their first byte)",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "mrmc_http_requests_in_flight", "Requests being answered", multiprocess_mode="livesum",
)
READS_SUBMITTED = Counter("mrmc_reads_submitted", "Reads stored (a replayed submission is not counted again)")


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """Labels of bounded cardinality: the route's name, a known method, the status class (2xx)."""
    method = method if method in METHODS else "other"
    REQUEST_SECONDS.labels(route=route, method=method, status=f"{status // 100}xx").observe(seconds)


def count_read(sender, instance, created, raw=False, **kwargs):
    """``post_save`` of Read: counted once its transaction commits (a rolled back read never was)."""
    if created and not raw:
        transaction.on_commit(READS_SUBMITTED.inc)


class StateCollector:
    """What the database and the broker hold, read at each scrape; a source that does not answer is
    reported by ``mrmc_metrics_source_up`` and its metrics left out."""

    def collect(self):
        up = GaugeMetricFamily("mrmc_metrics_source_up", "1 when the source answered this scrape", labels=["source"])
        for source, read in (("database", self._jobs), ("broker", self._queues)):
            try:
                families = read()
            except (*UNAVAILABLE["database"], *UNAVAILABLE["broker"], DatabaseError, OSError):
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    @staticmethod
    def _jobs():
        jobs = GaugeMetricFamily(
            "mrmc_jobs", "Jobs by kind and status; succeeded and failed only grow (alert on increase of failed)",
            labels=["kind", "status"],
        )
        for row in Job.objects.order_by().values("kind", "status").annotate(count=Count("id")):
            jobs.add_metric([row["kind"], row["status"]], row["count"])
        return [jobs]

    @staticmethod
    def _queues():
        queued = GaugeMetricFamily("mrmc_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"])
        consuming = GaugeMetricFamily(
            "mrmc_celery_queue_workers", "Workers with a fresh heartbeat consuming a queue", labels=["queue"],
        )
        if workers.tasks_run_in_process():
            return []
        lengths = workers.queue_lengths(workers.watched_queues())
        consumers = workers.consumers_by_queue()
        for queue, length in lengths.items():
            queued.add_metric([queue], length)
            consuming.add_metric([queue], consumers.get(queue, 0))
        return [queued, consuming]


class _Exposition:
    """The samples of this server (its processes merged, or this process) and the state read now."""

    def collect(self):
        yield from _live_samples().collect()
        yield from StateCollector().collect()


@cache
def _live_samples():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return MultiProcessCollector(None)
    return REGISTRY


@require_GET
def metrics(request):
    """The metrics for an allowed network or a bearer token; otherwise 404 (403 for a wrong token)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and settings.METRICS_TOKEN:
        if not hmac.compare_digest(token.encode(), settings.METRICS_TOKEN.encode()):
            return HttpResponseForbidden("wrong metrics token", content_type="text/plain")
    elif not _from_allowed_network(request):
        raise Http404
    return HttpResponse(generate_latest(_Exposition()), content_type=CONTENT_TYPE_LATEST)


def _from_allowed_network(request) -> bool:
    try:
        address = ipaddress.ip_address(_client_address(request))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def _client_address(request) -> str:
    """The peer, or behind the proxy the address nginx wrote last into X-Forwarded-For (deploy/nginx.conf
    replaces what a client sent), so that the proxy's own loopback address does not let everyone in."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


@cache
def _allowed_networks(networks: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)
