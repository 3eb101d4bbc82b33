"""Celery tasks: take primary keys, call a service."""

from celery import shared_task

from studies.services import audit, jobs


@shared_task(name="studies.run_job")
def run_job(job_id: int) -> None:
    jobs.run(job_id)


@shared_task(name="studies.anchor_audit")
def anchor_audit() -> None:
    """Celery beat: write the audit chain's head to the anchor file."""
    audit.anchor_head()
