"""A run with the bootstrap covariance: its resamples fanned out in chunks (in-process here with eager
Celery, on a real worker in the integration test), merged to exactly the covariance one process computes
with the same seed; a run without a seed records the one it drew."""

import pytest

from mrmc.stats import analyze_study, result_to_json
from studies.models import Job
from studies.services.analysis_results import analysis_options, plain
from studies.services.analysis_snapshot import parse_snapshot


def in_process_primary(run, seed):
    snapshot = parse_snapshot(run.snapshot_csv)
    options = {**analysis_options(run.options, run.results["options"]["threshold"]), "seed": seed}
    return plain(result_to_json(analyze_study(snapshot.study, **options)))


def test_the_bootstrap_is_fanned_out_and_merged_bit_for_bit(read_study, run_analysis, statistician):
    study = read_study(n_cases=40)
    run = run_analysis(actor=statistician, study=study, options={"cov": "bootstrap", "n_bootstrap": 1100, "seed": 5})
    job = Job.objects.get(pk=run.job_id)
    assert (run.status, job.status) == ("succeeded", Job.Status.SUCCEEDED), (run.error, job.message)
    assert job.params["fan_out"]["chunks"] == [{"blocks": [0, 8]}, {"blocks": [8, 16]}, {"blocks": [16, 18]}]
    assert run.results["primary"] == in_process_primary(run, seed=5)
    assert run.results["primary"]["n_bootstrap"] == 1100


def test_a_run_without_a_seed_records_the_one_it_drew(read_study, run_analysis, statistician):
    study = read_study(n_cases=40)
    run = run_analysis(actor=statistician, study=study, options={"cov": "bootstrap", "n_bootstrap": 600})
    drawn = run.results["options"]["seed"]
    assert isinstance(drawn, int) and drawn > 2**64  # fresh entropy, not a small default
    assert run.results["primary"] == in_process_primary(run, seed=drawn)


def test_other_covariances_are_not_fanned_out(read_study, run_analysis, statistician):
    run = run_analysis(actor=statistician, study=read_study(n_cases=40), options={"cov": "jackknife"})
    assert run.status == "succeeded" and "fan_out" not in Job.objects.get(pk=run.job_id).params


@pytest.mark.integration
def test_on_a_real_worker_the_bootstrap_chunks_give_the_in_process_result(celery_worker, tmp_path, coordinator,
                                                                         statistician):
    from studies.services import analysis
    from studies.services.demo_analysis import create_read_demo_study
    from tests.conftest import wait_for_job

    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=40)
    run = analysis.start_run(actor=statistician, study=study, options={"cov": "bootstrap", "n_bootstrap": 1100,
                                                                      "seed": 9})
    job = wait_for_job(run.job_id)
    run.refresh_from_db()
    assert (job.status, run.status) == (Job.Status.SUCCEEDED, "succeeded"), (job.message, run.error)
    assert run.results["primary"] == in_process_primary(run, seed=9)
    assert (tmp_path / "worker.log").read_text().count("Task studies.run_job_chunk[") >= 3
