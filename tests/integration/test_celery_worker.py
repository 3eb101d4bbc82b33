"""Jobs run by a real Celery worker (Redis broker) against the real test database."""


import pytest

from studies.models import Assignment, Job
from tests.conftest import wait_for_job

pytestmark = pytest.mark.integration


def test_schedule_generated_by_the_worker(celery_worker, make_study, coordinator, api):
    study = make_study(status="enrolling", n_readers=4, n_cases=12)
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/schedule/", {"seed": 5}, format="json")
    assert response.status_code == 202
    job = wait_for_job(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.result == {"seed": 5, "sessions": 8}
    assert Assignment.objects.filter(session__study=study).count() == 4 * 12 * 2
    assert job.started_at is not None and job.finished_at >= job.started_at


def test_failed_job_shows_why(celery_worker, make_study, coordinator, api):
    study = make_study(status="enrolling", n_readers=0, n_cases=3)
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/schedule/", {}, format="json")
    job = wait_for_job(response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert job.message == "no readers are enrolled"
