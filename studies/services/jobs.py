"""Background jobs: a visible record around each Celery task (status, progress, outcome)."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from studies.errors import DomainError
from studies.models import Job, Study, User

log = logging.getLogger(__name__)

# kind -> function(job) returning a JSON-able result
RUNNERS = {
    "generate_schedule": "studies.services.schedule.run_generate_schedule_job",
    "analysis_run": "studies.services.analysis.run_analysis_job",
    "ingest_dicom": "studies.services.ingest.run_ingest_job",
}


def enqueue(*, kind: str, actor: User, study: Study | None = None, params: dict | None = None) -> Job:
    """Create the job and queue its task once the surrounding transaction commits."""
    from studies.tasks import run_job

    if kind not in RUNNERS:
        raise ValueError(f"unknown job kind {kind}")
    job = Job.objects.create(kind=kind, study=study, created_by=actor, params=params or {})
    transaction.on_commit(lambda: run_job.delay(job.pk))
    return job


def run(job_id: int) -> None:
    """Execute a queued job; a domain error fails the job with its message, anything else is logged too."""
    job = Job.objects.get(pk=job_id)
    if job.status != Job.Status.QUEUED:
        return  # a redelivered task after the job already ran
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=timezone.now())
    try:
        result = import_string(RUNNERS[job.kind])(job)
    except DomainError as exc:
        _finish(job, Job.Status.FAILED, message=str(exc), result={"errors": exc.errors})
    except Exception as exc:
        log.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(job, Job.Status.FAILED, message=f"internal error: {type(exc).__name__}: {exc}")
    else:
        _finish(job, Job.Status.SUCCEEDED, result=result or {})


def report_progress(job: Job, fraction: float, message: str = "") -> None:
    Job.objects.filter(pk=job.pk).update(progress=min(max(fraction, 0.0), 1.0), message=message)


def _finish(job: Job, status: str, *, message: str = "", result: dict | None = None) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=status, message=message, result=result or {}, finished_at=timezone.now(),
        progress=1.0 if status == Job.Status.SUCCEEDED else job.progress,
    )
