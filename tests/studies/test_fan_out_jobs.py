"""Jobs fanned out in chunks (``jobs.FanOut``): each chunk stored once whatever the delivery order and
however often it is delivered, merged in chunk order by the chunk completing the set; a chunk lost
with its worker queued again (and a job failed when a chunk keeps taking its worker down); a job whose
chunks wait in a queue not mistaken for a lost one."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from studies.errors import RuleViolation
from studies.models import Job
from studies.services import jobs

KIND = "power_simulation"  # any fanned-out kind: its chunk work is replaced here


@pytest.fixture
def computed(monkeypatch):
    """The chunk work of KIND replaced by x * factor, recording which chunks were computed."""
    done = []

    def chunk(context, params):
        done.append(params["x"])
        if params["x"] < 0:
            raise RuleViolation("x must not be negative")
        return {"value": params["x"] * context["factor"]}

    def merge(context, params, outputs):
        return {"total": sum(o["value"] for o in outputs), "in_order": [o["value"] for o in outputs]}

    monkeypatch.setattr("studies.services.power.SIMULATION", jobs.ChunkedWork(chunk=chunk, merge=merge))
    return done


def fanned_out(study, xs, *, stored=None, running=None, beat_ago=timedelta(0)) -> Job:
    return Job.objects.create(
        kind=KIND, study=study, created_by=study.created_by, status=Job.Status.RUNNING,
        heartbeat_at=timezone.now() - beat_ago,
        params={"fan_out": {"chunks": [{"x": x} for x in xs], "context": {"factor": 10}}},
        result={"chunks": stored or {}, "running": running or {}},
    )


def deliver(job, index):
    from studies.services import power

    jobs.run_chunk(job_pk=job.pk, index=index, work={KIND: power.SIMULATION})
    job.refresh_from_db()
    return job


def dead_worker() -> str:
    """``host:pid`` of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def test_chunks_in_any_order_and_delivered_twice_merge_once_in_chunk_order(make_study, computed):
    job = fanned_out(make_study(), [1, 2, 3])
    assert deliver(job, 2).progress == pytest.approx(1 / 3) and job.message == "1 of 3 parts done"
    deliver(job, 2)
    deliver(job, 0)
    assert job.status == Job.Status.RUNNING and job.result["chunks"] == {"2": {"value": 30}, "0": {"value": 10}}
    deliver(job, 1)
    assert (job.status, job.progress) == (Job.Status.SUCCEEDED, 1.0)
    assert job.result == {"total": 60, "in_order": [10, 20, 30]}
    deliver(job, 1)  # delivered again after the merge
    assert computed == [3, 1, 2]


def test_a_chunk_lost_with_its_worker_is_queued_again_and_the_job_finishes(make_study, computed):
    job = fanned_out(make_study(), [1, 2, 3], stored={"0": {"value": 10}, "2": {"value": 30}},
                     running={"1": {"worker": dead_worker(), "attempts": 1}})
    fanned_out(make_study(), [5], running={"0": {"worker": f"{socket.gethostname()}:1", "attempts": 1}})  # alive
    swept = jobs.sweep_lost_jobs()  # tasks run in-process here: the requeued chunk runs at once
    assert swept["failed"] == [] and swept["chunks_requeued"] == {job.pk: [1]}
    job.refresh_from_db()
    assert (job.status, job.result) == (Job.Status.SUCCEEDED, {"total": 60, "in_order": [10, 20, 30]})
    assert computed == [2]


def test_a_chunk_that_keeps_taking_its_worker_down_fails_the_job(make_study, computed):
    job = fanned_out(make_study(), [1, 2], running={"0": {"worker": dead_worker(), "attempts": jobs.CHUNK_ATTEMPTS}})
    jobs.sweep_lost_jobs()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.message == "part 1 was lost with its worker 3 times"
    assert computed == []


def test_a_failing_chunk_fails_the_job_with_its_reason(make_study, computed):
    job = deliver(fanned_out(make_study(), [1, -1]), 1)
    assert (job.status, job.message) == (Job.Status.FAILED, "x must not be negative")
    assert deliver(job, 0).status == Job.Status.FAILED and computed == [-1]  # nothing more is computed


def test_chunks_waiting_in_a_queue_do_not_make_the_job_lost(make_study, settings, computed, monkeypatch):
    from studies import tasks

    settings.JOB_LOST_AFTER_S, settings.JOB_CHUNKS_LOST_AFTER_S = 120, 1800
    monkeypatch.setattr(tasks.run_job_chunk, "apply_async", lambda **kwargs: None)  # the queue keeps them
    waiting = fanned_out(make_study(), [1], beat_ago=timedelta(minutes=10))
    silent = fanned_out(make_study(), [1], beat_ago=timedelta(minutes=31))
    swept = jobs.sweep_lost_jobs()
    assert swept["failed"] == [silent.pk] and swept["chunks_requeued"] == {waiting.pk: [0]}
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.RUNNING


def test_a_runner_fanning_out_queues_one_task_per_chunk_on_its_kinds_queue(make_study, monkeypatch):
    from studies import tasks

    sent = []
    monkeypatch.setattr(tasks.run_job_chunk, "apply_async", lambda **kwargs: sent.append(kwargs))
    job = Job.objects.create(kind=KIND, study=make_study(), params={"n": 2})
    jobs.run(job_pk=job.pk, runners={KIND: lambda job: jobs.FanOut(chunks=[{"x": 1}, {"x": 2}], context={"f": 1})})
    job.refresh_from_db()
    assert sent == [{"kwargs": {"job_pk": job.pk, "index": i}, "queue": "analysis"} for i in (0, 1)]
    assert (job.status, job.worker, job.message) == (Job.Status.RUNNING, "", "0 of 2 parts done")
    assert job.params == {"n": 2, "fan_out": {"chunks": [{"x": 1}, {"x": 2}], "context": {"f": 1}}}


def test_parts_a_lost_worker_received_but_never_started_are_queued_again_once_the_job_stalls(
    make_study, computed, settings, monkeypatch
):
    from studies import tasks

    settings.JOB_LOST_AFTER_S = 120
    # parts 1 and 2 went to a worker that died before starting them: no record says so, the job just stalls
    job = fanned_out(make_study(), [1, 2, 3], stored={"0": {"value": 10}}, beat_ago=timedelta(minutes=3))
    sent = []
    publish = tasks.run_job_chunk.apply_async
    monkeypatch.setattr(tasks.run_job_chunk, "apply_async", lambda **kwargs: sent.append(kwargs))
    assert jobs.sweep_lost_jobs()["chunks_requeued"] == {job.pk: [1, 2]}
    assert jobs.sweep_lost_jobs()["chunks_requeued"] == {}  # not again before JOB_LOST_AFTER_S
    monkeypatch.setattr(tasks.run_job_chunk, "apply_async", publish)
    for message in sent:
        tasks.run_job_chunk(**message["kwargs"])
    job.refresh_from_db()
    assert (job.status, job.result) == (Job.Status.SUCCEEDED, {"total": 60, "in_order": [10, 20, 30]})


def test_a_duplicate_delivery_of_a_part_another_live_worker_holds_is_not_computed(make_study, computed):
    job = fanned_out(make_study(), [1, 2], running={"0": {"worker": f"{socket.gethostname()}:1", "attempts": 1}})
    assert deliver(job, 0).result["running"]["0"]["attempts"] == 1
    assert computed == []


def test_a_lost_analysis_job_fails_its_run_with_the_reason(coordinator, statistician):
    from studies.models import AnalysisRun
    from studies.services import analysis
    from studies.services.demo_analysis import create_read_demo_study

    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=10)
    run = analysis.start_run(actor=statistician, study=study)  # queued, never run: its worker is lost
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.RUNNING, worker=dead_worker())
    assert jobs.sweep_lost_jobs()["failed"] == [run.job_id]
    run.refresh_from_db()
    assert (run.status, run.error) == (AnalysisRun.Status.FAILED, f"the analysis job failed: {jobs.LOST_REASON}")
