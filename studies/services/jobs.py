"""Background jobs: a visible record around each Celery task (status, progress, outcome).

A job is never left running after its worker dies. The worker that claims a job records
itself (``host:pid``) and a heartbeat every few seconds; a job still running whose worker
process is gone, or whose heartbeat is older than ``JOB_LOST_AFTER_S``, is failed with
:data:`LOST_REASON` and its staged files are removed. That happens when its task is
delivered again (a prefork worker requeues the task of a lost child at once; Redis
redelivers an unacknowledged one after its visibility timeout) and in
:func:`sweep_lost_jobs`, run by Celery beat, at every worker start and by
``manage.py sweep_jobs``. A redelivered job is never run twice: the file that killed a
worker would kill the next one too.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum

from celery import group
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from studies.errors import DomainError
from studies.models import Job, Study, User
from studies.services.staging import remove_orphaned_staging, remove_staging
from studies.tasks import power_chunk, run_job

log = logging.getLogger(__name__)

LOST_REASON = "the worker running this job was lost"
NOT_QUEUED_REASON = "the job could not be queued: the task broker is unreachable"
HEARTBEAT_S = 10.0

# A job's work: the job in, a JSON-able result out (stored on the job).
Runner = Callable[[Job], dict]


class Kind(StrEnum):
    """What a job does. Each kind's runner is defined with its service and chosen in
    :func:`studies.tasks.run_job`."""

    GENERATE_SCHEDULE = "generate_schedule"
    ANALYSIS_RUN = "analysis_run"
    INGEST_DICOM = "ingest_dicom"


def enqueue(*, kind: str, actor: User, study: Study | None = None, params: dict | None = None) -> Job:
    """Create the job and queue its task once the surrounding transaction commits."""
    if kind not in set(Kind):
        raise ValueError(f"unknown job kind {kind}")
    job = Job.objects.create(kind=kind, study=study, created_by=actor, params=params or {})
    transaction.on_commit(lambda: _publish(job))
    return job


def _publish(job: Job) -> None:
    """Queue the job's task; a job whose task never reached the broker is failed, not left queued."""
    try:
        run_job.delay(job_pk=job.pk)
    except Exception as exc:
        _finish(job, Job.Status.FAILED, message=f"{NOT_QUEUED_REASON} ({type(exc).__name__})")
        raise


def run_power_chunks(*, spec: dict, seed: int, sizes: Sequence[int], timeout_s: float) -> list[dict]:
    """Run the chunks of a simulated power run as one Celery group, in parallel on the workers, and
    wait for their counts (in this process when Celery is eager, without a broker).

    Never call it from a task: a worker waiting for its own queue could wait forever (Celery refuses).
    """
    chunks = group(
        power_chunk.s(spec=spec, seed=seed, chunk=index, n_studies=size) for index, size in enumerate(sizes)
    )
    return chunks.apply_async().get(timeout=timeout_s)


def run(*, job_pk: int, runners: Mapping[str, Runner]) -> None:
    """Execute a queued job with the runner of its kind; a domain error fails the job with its
    message, anything else is logged too.

    Safe to call again for the same job: only a queued job is claimed and run. A job found
    running is a redelivered task: it is failed if its worker is lost, else left alone.
    """
    job = Job.objects.filter(pk=job_pk).first()
    if job is None:
        return  # a task redelivered after its job (or the whole study) was deleted
    now = timezone.now()
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker_identity())
    if not claimed:
        job.refresh_from_db()
        if job.status == Job.Status.RUNNING and is_lost(job):
            fail_lost(job)
        return
    try:
        with _heartbeat(job.pk):
            result = runners[job.kind](job)
    except DomainError as exc:
        _finish(job, Job.Status.FAILED, message=str(exc), result={"errors": exc.errors})
    except Exception as exc:
        log.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(job, Job.Status.FAILED, message=f"internal error: {type(exc).__name__}: {exc}")
    else:
        _finish(job, Job.Status.SUCCEEDED, result=result or {})


def report_progress(job: Job, fraction: float, message: str = "") -> None:
    Job.objects.filter(pk=job.pk).update(progress=min(max(fraction, 0.0), 1.0), message=message)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_lost(job: Job) -> bool:
    """Whether a running job's worker is gone: its process on this host has ended, or it stopped beating."""
    host, _, pid = job.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid)):
        return True
    last_sign = job.heartbeat_at or job.started_at or job.created_at
    return last_sign < timezone.now() - timedelta(seconds=settings.JOB_LOST_AFTER_S)


def fail_lost(job: Job) -> bool:
    """Fail a lost running job and remove its staged files; False if it finished meanwhile."""
    failed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, message=LOST_REASON, finished_at=timezone.now())
    if failed:
        log.warning("job %s (%s): %s (%s)", job.pk, job.kind, LOST_REASON, job.worker)
        if job.params.get("staging"):
            remove_staging(job.params["staging"])
    return bool(failed)


def sweep_lost_jobs() -> dict:
    """Fail every lost running job and delete staging folders no live job uses.

    Returns ``{"failed": [job ids], "staging_removed": [folder names]}``.
    """
    failed = [job.pk for job in Job.objects.filter(status=Job.Status.RUNNING) if is_lost(job) and fail_lost(job)]
    removed = remove_orphaned_staging(older_than_s=settings.JOB_LOST_AFTER_S)
    return {"failed": failed, "staging_removed": removed}


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


@contextlib.contextmanager
def _heartbeat(job_id: int):
    """Beat every HEARTBEAT_S seconds from a thread of its own while the job runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_S):
                try:
                    Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    log.warning("job %s: heartbeat not recorded", job_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _finish(job: Job, status: str, *, message: str = "", result: dict | None = None) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=status, message=message, result=result or {}, finished_at=timezone.now(),
        progress=1.0 if status == Job.Status.SUCCEEDED else job.progress,
    )
