"""Celery workers as the web processes see them: heartbeats in the broker, queue lengths.

Each worker's main process writes ``mrmc:worker-heartbeat:<hostname>`` = ``{"queues": [...]}`` into
the broker's Redis every ``WORKER_HEARTBEAT_S`` seconds, expiring after three missed beats: a
health check reads keys instead of broadcasting ``celery inspect`` and waiting for replies (which a
solo-pool worker busy with an analysis never sends). The beats come from a thread, so a long task
does not stop them.
"""

import json
import logging
import os
import threading
from collections import Counter
from contextlib import contextmanager

from celery import current_app
from django.conf import settings

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "mrmc:worker-heartbeat:"
MISSED_BEATS = 3


class BrokerWithoutKeys(Exception):
    """The broker is not Redis: there is nowhere to keep heartbeats."""


def tasks_run_in_process() -> bool:
    """No broker (the laptop): tasks run inside the request, there is no queue and no worker to check."""
    return bool(current_app.conf.task_always_eager)


@contextmanager
def broker_connection():
    """A connection to the broker that gives up after one attempt (``broker_connection_timeout``)."""
    with current_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=current_app.conf.broker_connection_timeout)
        yield connection


@contextmanager
def broker_redis():
    with broker_connection() as connection:
        if connection.transport.driver_type != "redis":
            raise BrokerWithoutKeys(f"worker heartbeats need a Redis broker, not {connection.transport.driver_type}")
        yield connection.default_channel.client


def watched_queues() -> list[str]:
    """``CELERY_QUEUES_WATCHED``, or the default queue and every queue the routes and queues settings name."""
    if settings.CELERY_QUEUES_WATCHED:
        return list(settings.CELERY_QUEUES_WATCHED)
    conf = current_app.conf
    routes = conf.task_routes or {}
    route_maps = [routes] if isinstance(routes, dict) else [route for route in routes if isinstance(route, dict)]
    routed = {
        target if isinstance(target, str) else target.get("queue")
        for route_map in route_maps for target in route_map.values() if isinstance(target, str | dict)
    }
    declared = {queue.name for queue in conf.task_queues or ()}
    return sorted(({conf.task_default_queue} | routed | declared) - {None})


def queue_lengths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (a passive declare: Redis list lengths, RabbitMQ's message count)."""
    lengths = {}
    with broker_connection() as connection:
        for queue in queues:
            try:
                with connection.channel() as channel:
                    lengths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except connection.channel_errors:  # never declared, or emptied and gone (Redis): nothing waits
                lengths[queue] = 0
    return lengths


def consumers_by_queue() -> Counter:
    """How many workers with a fresh heartbeat consume each queue."""
    with broker_redis() as redis:
        keys = list(redis.scan_iter(match=f"{HEARTBEAT_KEY}*", count=1000))
        records = redis.mget(keys) if keys else []
    return Counter(queue for record in records if record for queue in json.loads(record)["queues"])


class Heartbeat(threading.Thread):
    """Started by ``worker_ready`` in a worker's main process, stopped by ``worker_shutdown``."""

    running: "Heartbeat | None" = None

    def __init__(self, consumer):
        super().__init__(name="mrmc-worker-heartbeat", daemon=True)
        self.consumer = consumer
        self.key = HEARTBEAT_KEY + consumer.hostname
        self.stopped = threading.Event()
        self.failing = False

    def run(self):
        while True:
            self.beat()
            if self.stopped.wait(settings.WORKER_HEARTBEAT_S):
                break
        self.forget()

    def beat(self):
        record = json.dumps({"queues": sorted(queue.name for queue in self.consumer.task_consumer.queues),
                             "pid": os.getpid()})
        try:
            with broker_redis() as redis:
                redis.set(self.key, record, ex=MISSED_BEATS * settings.WORKER_HEARTBEAT_S)
        except Exception as exc:  # noqa: BLE001 - a broker outage must not end the beats; said once
            if not self.failing:
                log.warning("worker heartbeat not recorded: %s", exc)
            self.failing = True
        else:
            self.failing = False

    def forget(self):
        try:
            with broker_redis() as redis:
                redis.delete(self.key)
        except Exception:  # noqa: BLE001 - shutting down: the key expires by itself
            pass


def start_heartbeat(sender, **kwargs):
    if Heartbeat.running is None:
        Heartbeat.running = Heartbeat(sender)
        Heartbeat.running.start()


def stop_heartbeat(sender, **kwargs):
    beating, Heartbeat.running = Heartbeat.running, None
    if beating is not None:
        beating.stopped.set()
        beating.join(timeout=5)
