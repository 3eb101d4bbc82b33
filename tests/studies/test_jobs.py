"""Jobs run through one Celery task: each kind reaches its own service's runner, a task delivered twice
runs its job once, a message queued before the key was passed by name still runs, the service
queues the task only once the job's transaction commits, and the sweep publishes again the task of a
job left queued (its message lost), at most once per interval."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from studies.models import Job
from studies.services import jobs
from studies.tasks import run_job

# where each kind's runner is defined (the task imports it from there when it runs)
RUNNER_OF_KIND = {
    "generate_schedule": "studies.services.schedule.run_generate_schedule_job",
    "analysis_run": "studies.services.analysis.run_analysis_job",
    "ingest_dicom": "studies.services.ingest.run_ingest_job",
    "power_simulation": "studies.services.power.run_power_job",
    "precompute_ai": "studies.services.precompute.run_precompute_job",
}


@pytest.fixture
def recorded_runs(monkeypatch):
    """Every runner replaced by one that records (kind, job id) and returns them as the result."""
    runs = []
    for kind, path in RUNNER_OF_KIND.items():
        def record(job, kind=kind):
            runs.append((kind, job.pk))
            return {"ran": kind}

        monkeypatch.setattr(path, record)
    return runs


def queued_job(study, kind: str) -> Job:
    return Job.objects.create(kind=kind, study=study, created_by=study.created_by)


def test_every_kind_of_job_has_a_runner_listed_here():
    assert set(RUNNER_OF_KIND) == set(jobs.Kind)


@pytest.mark.parametrize("kind", RUNNER_OF_KIND)
def test_the_task_runs_a_job_with_the_runner_of_its_kind(make_study, recorded_runs, kind):
    job = queued_job(make_study(), kind)
    run_job(job_pk=job.pk)
    job.refresh_from_db()
    assert recorded_runs == [(kind, job.pk)]
    assert (job.status, job.result, job.progress) == (Job.Status.SUCCEEDED, {"ran": kind}, 1.0)


def test_a_task_delivered_twice_runs_its_job_once(make_study, recorded_runs):
    job = queued_job(make_study(), "generate_schedule")
    run_job(job_pk=job.pk)
    finished_at = Job.objects.get(pk=job.pk).finished_at
    run_job(job_pk=job.pk)
    assert recorded_runs == [("generate_schedule", job.pk)]
    assert Job.objects.get(pk=job.pk).finished_at == finished_at


def test_a_task_for_a_deleted_job_does_nothing(make_study, recorded_runs):
    job = queued_job(make_study(), "generate_schedule")
    job_pk = job.pk
    job.delete()
    run_job(job_pk=job_pk)
    assert recorded_runs == []


def test_a_message_with_the_job_key_passed_positionally_still_runs(make_study, recorded_runs):
    job = queued_job(make_study(), "ingest_dicom")
    run_job.apply(args=(job.pk,))  # as messages were written before the key was passed by name
    assert recorded_runs == [("ingest_dicom", job.pk)]


@pytest.mark.parametrize(("kind", "queue"), [("generate_schedule", "celery"), ("analysis_run", "analysis"),
                                             ("ingest_dicom", "ingest"), ("power_simulation", "analysis")])
def test_the_job_is_queued_by_keyword_on_its_kinds_queue_once_its_transaction_commits(
    make_study, monkeypatch, django_capture_on_commit_callbacks, settings, kind, queue
):
    study = make_study()
    sent = []
    monkeypatch.setattr(run_job, "apply_async", lambda *args, **kwargs: sent.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind=kind, actor=study.created_by, study=study, params={"seed": 3})
        assert sent == []
    assert sent == [((), {"kwargs": {"job_pk": job.pk}, "queue": queue})]
    assert queue in settings.CELERY_WORK_QUEUES


def test_an_unknown_kind_is_refused_before_a_job_exists(make_study):
    study = make_study()
    with pytest.raises(ValueError, match="unknown job kind reindex"):
        jobs.enqueue(kind="reindex", actor=study.created_by, study=study)
    assert not Job.objects.exists()


REPUBLISH_AFTER_S = 600


@pytest.fixture
def published(monkeypatch, settings):
    """Tasks published are recorded, not run (the broker keeps them): ``[(args, kwargs)]``."""
    settings.JOB_QUEUED_REPUBLISH_AFTER_S = REPUBLISH_AFTER_S
    sent = []
    monkeypatch.setattr(run_job, "apply_async", lambda *args, **kwargs: sent.append((args, kwargs)))
    return sent


def queued_since(study, kind: str, seconds: float) -> Job:
    job = queued_job(study, kind)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    return job


def test_the_sweep_publishes_again_the_task_of_a_job_queued_longer_than_the_interval(make_study, published):
    study = make_study()
    lost = queued_since(study, "ingest_dicom", REPUBLISH_AFTER_S + 5)
    recent = queued_since(study, "analysis_run", REPUBLISH_AFTER_S - 60)
    out = io.StringIO()
    call_command("sweep_jobs", stdout=out)
    assert published == [((), {"kwargs": {"job_pk": lost.pk}, "queue": "ingest"})]
    assert "0 lost jobs failed, 1 queued jobs published again" in out.getvalue()
    assert f"job {lost.pk}: still queued, its task published again" in out.getvalue()
    assert f"job {recent.pk}" not in out.getvalue()
    assert Job.objects.get(pk=recent.pk).status == Job.Status.QUEUED


def test_a_job_published_again_is_not_published_again_before_the_interval_has_passed(
    make_study, published, monkeypatch
):
    job = queued_since(make_study(), "generate_schedule", REPUBLISH_AFTER_S + 5)
    assert jobs.sweep_lost_jobs()["republished"] == [job.pk]
    assert jobs.sweep_lost_jobs()["republished"] == []
    swept_at = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: swept_at + timedelta(seconds=REPUBLISH_AFTER_S - 30))
    assert jobs.sweep_lost_jobs()["republished"] == []
    monkeypatch.setattr(timezone, "now", lambda: swept_at + timedelta(seconds=REPUBLISH_AFTER_S + 30))
    assert jobs.sweep_lost_jobs()["republished"] == [job.pk]
    assert len(published) == 2


def test_a_job_no_longer_queued_is_not_published_again(make_study, published):
    study = make_study()
    for status in (Job.Status.RUNNING, Job.Status.SUCCEEDED, Job.Status.FAILED):
        Job.objects.filter(pk=queued_since(study, "generate_schedule", REPUBLISH_AFTER_S + 5).pk).update(
            status=status, heartbeat_at=timezone.now(), worker="another-host:1")
    assert jobs.sweep_lost_jobs()["republished"] == [] and published == []


def test_a_job_whose_first_message_survived_runs_once_though_its_task_was_published_again(
    make_study, published, recorded_runs, django_capture_on_commit_callbacks
):
    study = make_study()
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind="generate_schedule", actor=study.created_by, study=study)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=REPUBLISH_AFTER_S + 5))
    assert jobs.sweep_lost_jobs()["republished"] == [job.pk]
    assert len(published) == 2
    for _, message in published:  # both delivered: the first message was only late, not lost
        run_job(**message["kwargs"])
    job.refresh_from_db()
    assert recorded_runs == [("generate_schedule", job.pk)]
    assert (job.status, job.result) == (Job.Status.SUCCEEDED, {"ran": "generate_schedule"})
