"""Shared fixtures: users of every role and studies built through the real services."""

import functools
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import TestCase, override_settings

from studies.models import Role, Study, User
from tests.xdist_worker import BROKER_URL

REQUIRE_SERVICES = os.environ.get("MRMC_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parents[1]
LIBRARY_PATH_AT_START = os.environ.get("LD_LIBRARY_PATH")


def skip_or_fail(reason: str):
    """Missing services skip a test on a laptop but fail it in CI (MRMC_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def wait_for_job(job_id: int, timeout: float = 120):
    """The job once it has succeeded or failed (a worker in another process runs it)."""
    from studies.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} still {job.status} after {timeout}s")


def create_user(username: str, role: str = Role.READER, **fields) -> User:
    user = User(username=username, role=role, **fields)
    user.set_password("pw")
    user.save()
    return user


@pytest.fixture
def make_user(db):
    return create_user


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", Role.COORDINATOR)


@pytest.fixture
def statistician(make_user):
    return make_user("stat", Role.STATISTICIAN)


@pytest.fixture
def admin_user(make_user):
    return make_user("boss", Role.ADMIN)


def create_study(
    coordinator: User,
    *,
    n_readers=3,
    n_cases=8,
    design=Study.Design.FULLY_CROSSED,
    arms=(("unaided", False), ("aided", True)),
    status=Study.Status.READING,
    seed=1,
    reader_prefix="reader",
    **fields,
) -> Study:
    """A study with arms, readers and cases (truth, AI outputs), optionally scheduled and reading."""
    from studies.services import imports, schedule
    from studies.services import studies as services

    fields.setdefault("washout_days", 28)
    study = services.create_study(actor=coordinator, title=f"Study {design}", design=design, **fields)
    for name, shows_ai in arms:
        services.add_arm(actor=coordinator, study=study, name=name, shows_ai=shows_ai)
    for i in range(n_readers):
        user = User.objects.filter(username=f"{reader_prefix}{i + 1}").first() or create_user(
            f"{reader_prefix}{i + 1}"
        )
        services.enroll_reader(actor=coordinator, study=study, user=user, group=i % 2 if design == "split_plot" else 0)
    rows = ["case,truth,study_instance_uid,reading_group,site"] + [
        f"C{i:03d},{i % 2},1.2.3.{study.pk}.{i},{i % 2},site-{'AB'[i % 2]}" for i in range(n_cases)
    ]
    if n_cases:
        imports.import_truth(actor=coordinator, study=study, data="\n".join(rows).encode())
    if n_cases and any(shows_ai for _, shows_ai in arms):
        ai = ["case,model_name,model_version,score"] + [f"C{i:03d},model,1,{i / n_cases}" for i in range(n_cases)]
        imports.import_ai_outputs(actor=coordinator, study=study, data="\n".join(ai).encode(), filename="ai.csv")
    if status == Study.Status.DRAFT:
        return study
    study = services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    if status == Study.Status.ENROLLING:
        return study
    schedule.generate_schedule(actor=coordinator, study=study, seed=seed)
    return services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)


@pytest.fixture
def make_study(db, coordinator):
    return functools.partial(create_study, coordinator)


@pytest.fixture
def api(db):
    """A DRF test client logged in as the given user (or anonymous with None)."""
    from rest_framework.test import APIClient

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture(autouse=True)
def audit_anchor_file(settings, tmp_path):
    """Anchors of test databases stay out of the data folder's own anchor file."""
    settings.AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors.jsonl"
    return settings.AUDIT_ANCHOR_FILE


@pytest.fixture(autouse=True, scope="session")
def cases_have_images():
    """For the whole session, as the studies of package- and module-scoped fixtures are built too (see
    tests/image_records.py)."""
    from tests.image_records import cases_taken_as_imaged

    with cases_taken_as_imaged():
        yield


@pytest.fixture
def image_records_checked(monkeypatch):
    """Readiness's image item reads the image index as it is (tests of the item itself)."""
    from studies.services import readiness
    from tests.image_records import cases_with_stored_images

    monkeypatch.setattr(readiness, "cases_with_images", cases_with_stored_images)


def pytest_collection_finish(session):
    """pytest-xdist schedules tests by node id: two tests with one id would run as one."""
    ids = Counter(item.nodeid for item in session.items)
    if twice := sorted(nodeid for nodeid, count in ids.items() if count > 1):
        pytest.exit(f"{len(twice)} node ids name more than one test, e.g. {twice[0]}", returncode=4)


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """For the whole session, so that users built once for a module or package are quick to make too."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def child_processes_without_r_libraries():
    """Loading R (rpy2) adds R's and the system's library folders to LD_LIBRARY_PATH, where a
    child Python then picks up Debian's libpython and fails to import _ssl: restore it."""
    yield
    if LIBRARY_PATH_AT_START is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = LIBRARY_PATH_AT_START


@pytest.fixture(autouse=True)
def tasks_in_process(request):
    """Tasks run in-process unless a test asks for the real worker (``celery_worker`` fixture)."""
    if "celery_worker" in request.fixturenames:
        yield
        return
    with eager_tasks():
        yield


@contextmanager
def eager_tasks():
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def kept_for_scope(django_db_blocker, build):
    """The body of a module- or package-scoped fixture (``yield from``) whose data is built once for its tests.

    Built in a transaction (a savepoint where an enclosing scope's is open) that stays open while the scope's
    tests run and is rolled back after the last one; pytest-django runs each test in a savepoint of it, so
    what a test writes is undone before the next, as with Django's ``TestCase.setUpTestData``. Not for tests
    that commit (``transactional_db``, a live server, a Celery worker): they would end the shared transaction.
    """
    with django_db_blocker.unblock():
        atomics = TestCase._enter_atomics()
        try:
            with eager_tasks():
                built = build()
        except BaseException:
            TestCase._rollback_atomics(atomics)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            TestCase._rollback_atomics(atomics)


# ---------------------------------------------------------------- Celery worker

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
def celery_worker(request, transactional_db, tmp_path):
    """A real ``celery worker`` process consuming from Redis and writing to the test database.

    Its pool is ``solo`` (tasks run in the worker process itself) unless a test asks for another
    through indirect parametrization, e.g. ``prefork`` (one child process, tasks run there).
    """
    from config.celery import app

    pool = getattr(request, "param", "solo")

    if not _redis_reachable(BROKER_URL):
        skip_or_fail(f"Redis not reachable at {BROKER_URL}")
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "CELERY_BROKER_URL": BROKER_URL,
           "MRMC_DATA_DIR": str(settings.DATA_DIR), "AUDIT_ANCHOR_FILE": str(settings.AUDIT_ANCHOR_FILE)}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    previous = {key: app.conf[key] for key in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=BROKER_URL, result_backend=BROKER_URL)
    _drop_connection_pools(app)
    try:
        _wait_until_ready(app, worker, tmp_path / "worker.log")
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        app.conf.update(previous)
        _drop_connection_pools(app)
        log.close()


def _drop_connection_pools(app):
    """Forget pools opened for another broker URL (Celery caches them per app, as before a fork)."""
    app._pool = None
    app.amqp._producer_pool = None
    app.control.mailbox._producer_pool = None



def _wait_until_ready(app, worker, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"Celery worker exited:\n{log_path.read_text()[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    pytest.fail(f"Celery worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
