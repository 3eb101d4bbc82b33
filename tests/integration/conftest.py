"""Real services for integration tests: a Celery worker process on Redis, against the test database."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real ``celery worker`` process consuming from Redis and writing to the test database."""
    from mrmc.celery import app

    if not _redis_reachable(BROKER_URL):
        skip_or_fail(f"Redis not reachable at {BROKER_URL}")
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "CELERY_BROKER_URL": BROKER_URL,
           "MRMC_DATA_DIR": str(settings.DATA_DIR)}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mrmc", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    previous = {key: app.conf[key] for key in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=BROKER_URL, result_backend=BROKER_URL)
    try:
        _wait_until_ready(app, worker, tmp_path / "worker.log")
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        app.conf.update(previous)
        log.close()


def _wait_until_ready(app, worker, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"Celery worker exited:\n{log_path.read_text()[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    pytest.fail(f"Celery worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
