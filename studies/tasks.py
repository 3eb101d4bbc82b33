"""Celery tasks: take primary keys, call a service."""

from celery import shared_task

from studies.services import jobs


@shared_task(name="studies.run_job")
def run_job(job_id: int) -> None:
    jobs.run(job_id)
