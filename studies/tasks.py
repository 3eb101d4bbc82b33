"""Celery tasks: take primary keys, call a service."""

from celery import shared_task
from celery.signals import worker_ready

from studies.services import audit, jobs


@shared_task(name="studies.run_job")
def run_job(job_id: int) -> None:
    jobs.run(job_id)


@shared_task(name="studies.sweep_lost_jobs")
def sweep_lost_jobs() -> dict:
    return jobs.sweep_lost_jobs()


@shared_task(name="studies.anchor_audit")
def anchor_audit() -> None:
    """Celery beat: write the audit chain's head to the anchor file."""
    audit.anchor_head()


@worker_ready.connect
def sweep_when_a_worker_starts(**_) -> None:
    """A worker restarted after a crash finds the jobs its predecessor left running."""
    jobs.sweep_lost_jobs()
