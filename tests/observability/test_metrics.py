"""/metrics: Prometheus text format, for allowed networks or a bearer token only; request latency by
route name, reads submitted, jobs by kind and status, queue lengths read from the broker."""

import uuid

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from studies.models import Job
from tests.studies.test_reads import first_open_assignment, submit
from tests.studies.test_robustness import unreachable_database  # noqa: F401 (fixture)

OUTSIDE = "203.0.113.9"  # TEST-NET-3


def scrape(**request) -> dict[tuple[str, frozenset], float]:
    response = Client().get("/metrics", **request)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.content.decode()) for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# ---------------------------------------------------------------- who may scrape


def test_loopback_may_scrape_and_other_networks_are_told_nothing_is_there(db):
    assert Client().get("/metrics").status_code == 200  # the test client's peer is 127.0.0.1
    assert Client().get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 404
    assert Client().post("/metrics").status_code == 405


def test_configured_networks_may_scrape(db, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert Client().get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert Client().get("/metrics").status_code == 404  # loopback is no longer listed


def test_behind_the_proxy_the_forwarded_address_counts_not_the_proxys_loopback(db, settings):
    settings.BEHIND_PROXY = True
    assert Client().get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    assert Client().get("/metrics").status_code == 200  # a scraper on the host, straight to gunicorn


def test_a_bearer_token_opens_metrics_from_anywhere(db, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789abcdef"
    anywhere = {"REMOTE_ADDR": OUTSIDE}
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789abcdef", **anywhere
                        ).status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-wrong", **anywhere).status_code == 403
    assert Client().get("/metrics", **anywhere).status_code == 404


# ---------------------------------------------------------------- what is counted


def test_request_latency_is_labelled_by_route_name_method_and_status_class(db):
    uid = "1.2.826.0.1.3680043.8.498.4711"
    before = scrape()
    Client().get("/api/v1/studies/")  # 401: no credentials
    Client().get(f"/dicomweb/studies/{uid}/series")
    Client().get("/no/such/page")
    after = scrape()
    count = "mrmc_http_request_duration_seconds_count"
    for route, status in (("study-list", "4xx"), ("dicomweb-series-search", "4xx"), ("unmatched", "4xx")):
        labels = {"route": route, "method": "GET", "status": status}
        assert value(after, count, **labels) - value(before, count, **labels) == 1, route
    exposition = Client().get("/metrics").content.decode()
    assert uid not in exposition and "/no/such/page" not in exposition
    assert value(after, "mrmc_http_requests_in_flight") == 1  # the scrape itself


def test_reads_are_counted_once_when_their_transaction_commits(make_study, django_capture_on_commit_callbacks):
    assignment = first_open_assignment(make_study())
    before = value(scrape(), "mrmc_reads_submitted_total")
    key = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        submit(assignment, key=key)
    with django_capture_on_commit_callbacks(execute=True):
        submit(assignment, key=key)  # the outbox sending it again: the stored read is returned
    assert value(scrape(), "mrmc_reads_submitted_total") - before == 1


def test_jobs_are_counted_by_kind_and_status_from_the_table(db):
    for kind, status in [("ingest", "failed"), ("ingest", "failed"), ("ingest", "succeeded"), ("analysis", "queued")]:
        Job.objects.create(kind=kind, status=status)
    samples = scrape()
    assert value(samples, "mrmc_jobs", kind="ingest", status="failed") == 2
    assert value(samples, "mrmc_jobs", kind="ingest", status="succeeded") == 1
    assert value(samples, "mrmc_jobs", kind="analysis", status="queued") == 1
    assert value(samples, "mrmc_metrics_source_up", source="database") == 1


def test_without_the_database_the_rest_is_still_reported(unreachable_database):  # noqa: F811
    samples = scrape()
    assert value(samples, "mrmc_metrics_source_up", source="database") == 0
    assert not any(name == "mrmc_jobs" for name, _ in samples)
    assert value(samples, "mrmc_metrics_source_up", source="broker") == 1


def test_queue_lengths_come_from_the_broker(db, redis_broker, own_queue):
    samples = scrape()
    assert value(samples, "mrmc_celery_queue_length", queue=own_queue) == 0
    for _ in range(3):
        redis_broker.send_task("studies.no_such_task", queue=own_queue)
    try:
        samples = scrape()
        assert value(samples, "mrmc_celery_queue_length", queue=own_queue) == 3
        assert value(samples, "mrmc_celery_queue_workers", queue=own_queue) == 0
        assert value(samples, "mrmc_metrics_source_up", source="broker") == 1
    finally:  # the queue and kombu's bindings of it
        with redis_broker.connection_for_write() as connection:
            redis = connection.default_channel.client
            redis.delete(*redis.keys(f"*{own_queue}*"))


@pytest.mark.parametrize("watched", [[], ["celery"]])
def test_the_watched_queues_default_to_those_the_settings_declare(settings, watched):
    from studies.observability.workers import watched_queues

    settings.CELERY_QUEUES_WATCHED = watched
    assert watched_queues() == (watched or ["analysis", "celery", "ingest", "precompute"])
