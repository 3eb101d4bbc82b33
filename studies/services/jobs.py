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

Work that parallelizes is fanned out: the kind's runner returns a :class:`FanOut`, each of its
chunks becomes a task that any worker on any machine may take, each chunk's output is stored on
the job as it arrives (progress = chunks done / chunks), and the chunk that completes the set
merges them, in chunk order, into the job's result. A chunk is a pure function of its parameters,
so the merged result is the one a single process would give. A chunk whose worker process is
gone is queued again by the sweep, up to :data:`CHUNK_ATTEMPTS` times.

A job still queued ``JOB_QUEUED_REPUBLISH_AFTER_S`` after its task was published has its task published
again by the sweep (the message may be gone: a broker wiped, a database restored from a backup taken
while the job was queued), at most once per that interval. A duplicate message does nothing: only a
queued job is claimed.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from mrmc.processes import process_exists
from studies.errors import DomainError
from studies.models import Job, Study, User
from studies.services.staging import remove_abandoned_writes, remove_orphaned_staging, remove_staging
from studies.tasks import run_job, run_job_chunk

log = logging.getLogger(__name__)

# Sent with ``job`` and ``message`` whenever a job fails, lost or not: records that follow a job (an
# analysis run) fail with it instead of waiting for it forever.
job_failed = Signal()

LOST_REASON = "the worker running this job was lost"
NOT_QUEUED_REASON = "the job could not be queued: the task broker is unreachable"
HEARTBEAT_S = 10.0
CHUNK_ATTEMPTS = 3  # a chunk that took down its worker this often would take down the next one too

# A job's work: the job in, a JSON-able result out (stored on the job), or the chunks it fans out into.
Runner = Callable[[Job], "dict | FanOut"]


class Kind(StrEnum):
    """What a job does. Each kind's runner is defined with its service and chosen in
    :func:`studies.tasks.run_job`."""

    GENERATE_SCHEDULE = "generate_schedule"
    ANALYSIS_RUN = "analysis_run"
    INGEST_DICOM = "ingest_dicom"
    POWER_SIMULATION = "power_simulation"
    PRECOMPUTE_AI = "precompute_ai"


# The queue of each kind's tasks (settings.CELERY_WORK_QUEUES lists them all): workers can be given the
# queues of the work they are sized for, and a long simulation never waits behind an upload.
QUEUE_OF_KIND = {
    Kind.GENERATE_SCHEDULE: "celery",
    Kind.ANALYSIS_RUN: "analysis",
    Kind.INGEST_DICOM: "ingest",
    Kind.POWER_SIMULATION: "analysis",
    Kind.PRECOMPUTE_AI: "precompute",
}


@dataclass(frozen=True)
class FanOut:
    """A runner's answer that its job goes on as independent chunks on the workers: the parameters of
    each chunk, and what computing and merging them needs besides (``context``). JSON-able."""

    chunks: list[dict]
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkedWork:
    """How a fanned-out kind computes one chunk, ``chunk(context, params) -> output``, and merges them,
    ``merge(context, params of every chunk, outputs in chunk order) -> the job's result``."""

    chunk: Callable[[dict, dict], dict]
    merge: Callable[[dict, list[dict], list[dict]], dict]


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
        _send_task(job)
    except Exception as exc:
        _finish(job, Job.Status.FAILED, message=f"{NOT_QUEUED_REASON} ({type(exc).__name__})")
        raise


def _send_task(job: Job) -> None:
    run_job.apply_async(kwargs={"job_pk": job.pk}, queue=QUEUE_OF_KIND[job.kind])


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

    def work() -> dict | FanOut:
        with _heartbeat(job.pk):
            return runners[job.kind](job)

    succeeded, result = _attempt(job, work)
    if succeeded and isinstance(result, FanOut):
        _fan_out(job, result)
    elif succeeded:
        _finish(job, Job.Status.SUCCEEDED, result=result or {})


def _attempt(job: Job, compute: Callable[[], object]) -> tuple[bool, object]:
    """``(True, compute())``, or ``(False, None)`` with the job failed: with a domain error's message, or as an
    internal error (logged)."""
    try:
        return True, compute()
    except DomainError as exc:
        _finish(job, Job.Status.FAILED, message=str(exc), result={"errors": exc.errors})
    except Exception as exc:
        log.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(job, Job.Status.FAILED, message=f"internal error: {type(exc).__name__}: {exc}")
    return False, None


def _fan_out(job: Job, fan_out: FanOut) -> None:
    """Record the chunks on the job (its own worker lets go of it) and queue one task per chunk."""
    if not fan_out.chunks:
        raise ValueError(f"job {job.pk} fanned out into no chunks")
    job.params = {**job.params, "fan_out": {"chunks": fan_out.chunks, "context": fan_out.context}}
    Job.objects.filter(pk=job.pk).update(
        params=job.params, result={"chunks": {}, "running": {}}, worker="", heartbeat_at=timezone.now(),
        message=f"0 of {len(fan_out.chunks)} parts done",
    )
    for index in range(len(fan_out.chunks)):
        if not _publish_chunk(job, index):
            return


def _publish_chunk(job: Job, index: int) -> bool:
    try:
        run_job_chunk.apply_async(kwargs={"job_pk": job.pk, "index": index}, queue=QUEUE_OF_KIND[job.kind])
    except Exception as exc:
        log.warning("job %s: chunk %s not queued", job.pk, index, exc_info=True)
        _finish(job, Job.Status.FAILED, message=f"{NOT_QUEUED_REASON} ({type(exc).__name__})")
        return False
    return True


def run_chunk(*, job_pk: int, index: int, work: Mapping[str, ChunkedWork]) -> None:
    """Compute one chunk of a fanned-out job and store its output; the chunk completing the set merges.

    Safe to deliver again: a chunk already stored, or of a job no longer running, is not computed.
    """
    job = _claim_chunk(job_pk, index)
    if job is None:
        return
    fan_out = job.params["fan_out"]

    def compute() -> dict:
        with _heartbeat(job.pk):
            return work[job.kind].chunk(fan_out["context"], fan_out["chunks"][index])

    succeeded, output = _attempt(job, compute)
    if succeeded:
        _store_chunk(job_pk, index, output, work[job.kind])


def _claim_chunk(job_pk: int, index: int) -> Job | None:
    """The job, with this chunk marked as running here; None when there is nothing to compute: the chunk
    is stored, its job no longer runs, or another worker holds it (a duplicate delivery).

    A chunk taken over from a lost worker counts an attempt; at :data:`CHUNK_ATTEMPTS` the job fails.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_pk, status=Job.Status.RUNNING).first()
        if job is None or "fan_out" not in job.params or str(index) in job.result["chunks"]:
            return None
        held = job.result["running"].get(str(index))
        if held and not held.get("lost") and not _worker_is_gone(held["worker"]):
            return None
        attempts = held["attempts"] if held else 0
        if attempts >= CHUNK_ATTEMPTS:
            _finish(job, Job.Status.FAILED, message=f"part {index + 1} was lost with its worker {attempts} times")
            return None
        job.result["running"][str(index)] = {"worker": worker_identity(), "attempts": attempts + 1}
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["result", "heartbeat_at"])
        return job


def _store_chunk(job_pk: int, index: int, output: dict, work: ChunkedWork) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_pk, status=Job.Status.RUNNING).first()
        if job is None:
            return  # failed meanwhile (another chunk, or the sweep)
        done = job.result["chunks"]
        done[str(index)] = output
        job.result["running"].pop(str(index), None)
        fan_out = job.params["fan_out"]
        total = len(fan_out["chunks"])
        if len(done) < total:
            Job.objects.filter(pk=job.pk).update(
                result=job.result, progress=len(done) / total, heartbeat_at=timezone.now(),
                message=f"{len(done)} of {total} parts done",
            )
            return
        outputs = [done[str(i)] for i in range(total)]
        succeeded, merged = _attempt(job, lambda: work.merge(fan_out["context"], fan_out["chunks"], outputs))
        if succeeded:
            _finish(job, Job.Status.SUCCEEDED, result=merged)


def report_progress(job: Job, fraction: float, message: str = "") -> None:
    Job.objects.filter(pk=job.pk).update(progress=min(max(fraction, 0.0), 1.0), message=message)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_lost(job: Job) -> bool:
    """Whether a running job's worker is gone: its process on this host has ended, or it stopped beating.

    A fanned-out job has no worker of its own; its chunks beat while they run, and it is lost only when
    none has for ``JOB_CHUNKS_LOST_AFTER_S`` (chunks waiting in a queue do not beat).
    """
    last_sign = job.heartbeat_at or job.started_at or job.created_at
    if "fan_out" in job.params:
        return last_sign < timezone.now() - timedelta(seconds=settings.JOB_CHUNKS_LOST_AFTER_S)
    if _worker_is_gone(job.worker):
        return True
    return last_sign < timezone.now() - timedelta(seconds=settings.JOB_LOST_AFTER_S)


def _worker_is_gone(worker: str) -> bool:
    """Whether ``worker`` ("host:pid") was a process on this host that has ended (other hosts: unknown)."""
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not process_exists(int(pid))


def requeue_lost_chunks(job: Job) -> list[int]:
    """Queue again every chunk not stored of a fanned-out job that lost one: a chunk's worker process on this
    host has ended, or no chunk has beaten for ``JOB_LOST_AFTER_S``. The chunks a lost worker had received but
    not started are in no list (the broker gives them back only after its visibility timeout), so all that
    are not stored go again; a duplicate finds its chunk stored or held and does nothing.

    A job stalled only because its chunks wait in a queue is queued again at most every ``JOB_LOST_AFTER_S``.
    """
    now = timezone.now()
    stalled_since = now - timedelta(seconds=settings.JOB_LOST_AFTER_S)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job.pk, status=Job.Status.RUNNING).first()
        if job is None or "fan_out" not in job.params:
            return []
        running, stalled = job.result["running"], (job.heartbeat_at or job.created_at) < stalled_since
        lost = [index for index, entry in running.items()
                if not entry.get("lost") and (stalled or _worker_is_gone(entry["worker"]))]
        last_requeue = job.result.get("requeued_at")
        requeue_due = last_requeue is None or datetime.fromisoformat(last_requeue) < stalled_since
        if not lost and not (stalled and requeue_due):
            return []
        for index in lost:
            running[index]["lost"] = True
        job.result["requeued_at"] = now.isoformat()
        job.save(update_fields=["result"])
    pending = [index for index in range(len(job.params["fan_out"]["chunks"])) if str(index) not in job.result["chunks"]]
    log.warning("job %s: parts %s lost or stalled, %d parts queued again", job.pk, sorted(lost), len(pending))
    for index in pending:
        if not _publish_chunk(job, index):
            break
    return pending


def fail_lost(job: Job) -> bool:
    """Fail a lost running job and remove its staged files; False if it finished meanwhile."""
    failed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, message=LOST_REASON, finished_at=timezone.now())
    if failed:
        log.warning("job %s (%s): %s (%s)", job.pk, job.kind, LOST_REASON, job.worker)
        job_failed.send(sender=Job, job=job, message=LOST_REASON)
        if job.params.get("staging"):
            remove_staging(job.params["staging"])
            remove_abandoned_writes()
    return bool(failed)


def republish_queued_jobs() -> list[int]:
    """Publish again the task of every job still queued ``JOB_QUEUED_REPUBLISH_AFTER_S`` after its task was last
    published; the ids of those published.

    Its message may be lost, or only waiting behind a long queue: then the job gets a duplicate per interval,
    which finds it claimed and does nothing. A broker that refuses the task leaves the job queued (its first
    message may still be there) until the next interval, and ends this round.
    """
    now = timezone.now()
    due = now - timedelta(seconds=settings.JOB_QUEUED_REPUBLISH_AFTER_S)
    republished = []
    for job_pk in Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=due).order_by("pk").values_list(
            "pk", flat=True):
        job = _mark_republished(job_pk, due, now)
        if job is None:
            continue
        try:
            _send_task(job)
        except Exception:
            log.warning("job %s (%s): task not published again", job.pk, job.kind, exc_info=True)
            break
        log.warning("job %s (%s): still queued after %s s, task published again", job.pk, job.kind,
                    settings.JOB_QUEUED_REPUBLISH_AFTER_S)
        republished.append(job.pk)
    return republished


def _mark_republished(job_pk: int, due: datetime, now: datetime) -> Job | None:
    """The job, its republication recorded, if it is still queued and its task was last published before
    ``due``; else None (claimed meanwhile, or republished by a sweep running beside this one)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_pk, status=Job.Status.QUEUED).first()
        if job is None:
            return None
        last_published = job.result.get("republished_at")
        if (datetime.fromisoformat(last_published) if last_published else job.created_at) >= due:
            return None
        job.result = {**job.result, "republished_at": now.isoformat()}
        job.save(update_fields=["result"])
        return job


def sweep_lost_jobs() -> dict:
    """Fail every lost running job, publish again the tasks of jobs queued too long, and delete staging folders
    no live job uses.

    Returns ``{"failed": [job ids], "chunks_requeued": {job id: [chunk indexes]}, "republished": [job ids],
    "staging_removed": [folder names]}``.
    """
    running = list(Job.objects.filter(status=Job.Status.RUNNING))
    failed = [job.pk for job in running if is_lost(job) and fail_lost(job)]
    requeued = {job.pk: chunks for job in running if job.pk not in failed and "fan_out" in job.params
                if (chunks := requeue_lost_chunks(job))}
    republished = republish_queued_jobs()
    removed = remove_orphaned_staging(older_than_s=settings.JOB_LOST_AFTER_S)
    return {"failed": failed, "chunks_requeued": requeued, "republished": republished, "staging_removed": removed}


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
    if status == Job.Status.FAILED:
        job_failed.send(sender=Job, job=job, message=message)
