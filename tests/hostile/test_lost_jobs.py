"""No job is left running after its worker dies, and no staged upload is left behind."""

import io
import os
import signal
import socket
import subprocess
import time
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from studies.models import DicomInstance, Job
from studies.services import jobs
from studies.services.staging import staging_root, upload_staging_dir
from studies.tasks import run_job
from tests.dicomweb.images import case_datasets
from tests.hostile.test_hostile_ingest import check_store


@pytest.fixture
def study(make_study):
    return make_study(n_readers=1, n_cases=2, status="draft")


def a_dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def running_job(study, coordinator, *, worker: str, heartbeat_age_s: float, staging=None) -> Job:
    beat = timezone.now() - timedelta(seconds=heartbeat_age_s)
    return Job.objects.create(kind="ingest_dicom", study=study, created_by=coordinator, status=Job.Status.RUNNING,
                              worker=worker, started_at=beat, heartbeat_at=beat,
                              params={"files": [], "staging": str(staging or "")})


def upload_and_wait_until_mid_ingest(api, coordinator, study) -> Job:
    """Upload 300 images in a zip; return the job once some of them, not all, are stored."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for seed in range(1, 301):
            image = io.BytesIO()
            case_datasets(seed=seed)[0].save_as(image, enforce_file_format=True)
            archive.writestr(f"case{seed}.dcm", image.getvalue())
    upload = io.BytesIO(buffer.getvalue())
    upload.name = "batch.zip"
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/dicom/", {"files": [upload]}, format="multipart")
    job = Job.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 120
    while not DicomInstance.objects.exists():
        assert time.monotonic() < deadline, Job.objects.filter(pk=job.pk).values("status", "message").first()
        time.sleep(0.02)
    job.refresh_from_db()
    return job


def wait_until_finished(job: Job, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while job.status == Job.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    return job


def check_failed_as_lost(job: Job, store) -> None:
    assert job.status == Job.Status.FAILED and job.message == "the worker running this job was lost"
    assert not os.path.exists(job.params["staging"])
    assert 0 < DicomInstance.objects.count() < 300
    check_store(store, DicomInstance.objects.count(), killed_mid_ingest=True)  # what was stored, is stored whole


@pytest.mark.integration
def test_a_solo_worker_killed_mid_ingest_leaves_a_job_the_sweep_fails(
    transactional_db, study, coordinator, api, store, ingest_worker
):
    """The task stays unacknowledged in Redis until its visibility timeout (an hour by default):
    the sweep (beat, the next worker's start, ``manage.py sweep_jobs``) fails the job before that."""
    job = upload_and_wait_until_mid_ingest(api, coordinator, study)
    assert job.worker == f"{socket.gethostname()}:{ingest_worker.pid}"
    os.kill(ingest_worker.pid, signal.SIGKILL)
    ingest_worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and os.path.isdir(job.params["staging"])

    out = io.StringIO()
    call_command("sweep_jobs", stdout=out)

    job.refresh_from_db()
    check_failed_as_lost(job, store)
    assert f"job {job.pk}: the worker running this job was lost" in out.getvalue()


@pytest.mark.integration
@pytest.mark.parametrize("celery_worker", ["prefork"], indirect=True)
def test_a_prefork_child_killed_mid_ingest_fails_its_job_when_the_task_comes_back(
    transactional_db, study, coordinator, api, store, ingest_worker
):
    """The pool sees its child lost and requeues the task (task_reject_on_worker_lost); the next
    child finds the job running with a dead worker and fails it, without waiting for a sweep."""
    job = upload_and_wait_until_mid_ingest(api, coordinator, study)
    child = int(job.worker.rpartition(":")[2])
    assert child != ingest_worker.pid
    os.kill(child, signal.SIGKILL)
    check_failed_as_lost(wait_until_finished(job), store)


def test_a_redelivered_job_whose_worker_died_is_failed_not_run_again(study, coordinator, store):
    staging = upload_staging_dir()
    job = running_job(study, coordinator, worker=f"{socket.gethostname()}:{a_dead_pid()}", heartbeat_age_s=1,
                      staging=staging)
    run_job(job_pk=job.pk)  # Redis or a prefork worker delivers the task again
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.message == jobs.LOST_REASON
    assert not staging.exists()


def test_a_redelivered_job_whose_worker_still_beats_is_left_alone(study, coordinator, store):
    staging = upload_staging_dir()
    job = running_job(study, coordinator, worker="another-host:4242", heartbeat_age_s=5, staging=staging)
    run_job(job_pk=job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and staging.exists()


def test_the_sweep_fails_silent_jobs_and_removes_orphaned_staging(study, coordinator, store, settings):
    silent = running_job(study, coordinator, worker="another-host:4242", heartbeat_age_s=settings.JOB_LOST_AFTER_S + 1,
                         staging=upload_staging_dir())
    beating = running_job(study, coordinator, worker="another-host:4343", heartbeat_age_s=5,
                          staging=upload_staging_dir())
    orphan, young_orphan = upload_staging_dir(), upload_staging_dir()
    old = time.time() - settings.JOB_LOST_AFTER_S - 1
    os.utime(orphan, (old, old))
    os.utime(beating.params["staging"], (old, old))

    swept = jobs.sweep_lost_jobs()

    assert swept == {"failed": [silent.pk], "chunks_requeued": {}, "republished": [], "staging_removed": [orphan.name]}
    silent.refresh_from_db()
    beating.refresh_from_db()
    assert silent.status == Job.Status.FAILED and beating.status == Job.Status.RUNNING
    assert sorted(p.name for p in staging_root().iterdir()) == sorted(
        [young_orphan.name, os.path.basename(beating.params["staging"])])
