"""Celery tasks: take primary keys, call a service.

Services queue tasks (``studies.services.jobs`` imports :func:`run_job`); a task imports the
services it calls inside its body, so that importing this module loads no service and no
import cycle arises. Every task is safe to deliver twice. The names are what queued messages
and beat schedules refer to: they never change.
"""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="studies.run_job")
def run_job(legacy_job_pk: int | None = None, /, *, job_pk: int | None = None) -> None:
    """Run a queued job with the service function of its kind; a job already claimed is not run again.

    ``legacy_job_pk``: messages queued before the key was passed by name carry it positionally.
    """
    from studies.services import jobs, power, precompute
    from studies.services.analysis import run_analysis_job
    from studies.services.ingest import run_ingest_job
    from studies.services.schedule import run_generate_schedule_job

    runners = {
        jobs.Kind.GENERATE_SCHEDULE: run_generate_schedule_job,
        jobs.Kind.ANALYSIS_RUN: run_analysis_job,
        jobs.Kind.INGEST_DICOM: run_ingest_job,
        jobs.Kind.POWER_SIMULATION: power.run_power_job,
        jobs.Kind.PRECOMPUTE_AI: precompute.run_precompute_job,
    }
    jobs.run(job_pk=job_pk if job_pk is not None else legacy_job_pk, runners=runners)


@shared_task(name="studies.run_job_chunk")
def run_job_chunk(*, job_pk: int, index: int) -> None:
    """Compute one chunk of a fanned-out job (:class:`studies.services.jobs.FanOut`); a chunk already
    stored is not computed again."""
    from studies.services import analysis, jobs, power, precompute

    work = {jobs.Kind.ANALYSIS_RUN: analysis.BOOTSTRAP, jobs.Kind.POWER_SIMULATION: power.SIMULATION,
            jobs.Kind.PRECOMPUTE_AI: precompute.PRECOMPUTE}
    jobs.run_chunk(job_pk=job_pk, index=index, work=work)


@shared_task(name="studies.sweep_lost_jobs")
def sweep_lost_jobs() -> dict:
    """Celery beat: fail jobs whose worker is gone, publish again the tasks of jobs queued too long and
    remove staged uploads no job uses."""
    from studies.services import jobs

    return jobs.sweep_lost_jobs()


@shared_task(name="studies.sweep_uploads")
def sweep_uploads() -> dict:
    """Celery beat: drop uploads abandoned mid-way with their bytes, and record the outcome of their imports."""
    from studies.services import uploads

    return uploads.sweep_uploads()


@shared_task(name="studies.anchor_audit")
def anchor_audit() -> None:
    """Celery beat: write the audit chain's head to the anchor file."""
    from studies.services import audit

    audit.anchor_head()


@shared_task(name="studies.send_session_reminders")
def send_session_reminders() -> dict:
    """Celery beat: e-mail readers whose reading session has opened, once per session."""
    from studies.services import reminders

    sent = reminders.send_session_reminders()
    return {"sent": len(sent.sent), "without_address": len(sent.without_address), "failed": len(sent.failed)}


@worker_ready.connect
def sweep_when_a_worker_starts(**_) -> None:
    """A worker restarted after a crash finds the jobs its predecessor left running."""
    from studies.services import jobs

    jobs.sweep_lost_jobs()


@shared_task(name="studies.sweep_console_staging")
def sweep_console_staging() -> dict:
    """Celery beat: remove the console's previewed truth and AI-output files that were never stored, once old."""
    from studies.console import staged

    return {"removed": staged.sweep()}


@shared_task(name="studies.detect_deviations")
def detect_deviations() -> dict:
    """Celery beat: store the protocol deviations of the studies being read (each found once)."""
    from studies.services import deviations

    return {study_id: result.created for study_id, result in deviations.detect_all().items()}


@shared_task(name="studies.compute_field_monitoring")
def compute_field_monitoring() -> dict:
    """Celery beat: the windows, charts and alarms of the monitored deployments with new field records."""
    from studies.services import field_monitoring_windows

    computed = field_monitoring_windows.compute_pending()
    return {deployment_id: result.alarms for deployment_id, result in computed.items()}
