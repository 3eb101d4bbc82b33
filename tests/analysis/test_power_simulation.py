"""Simulated power of a planned design with a finished run as the pilot: started through the API, fanned
out in chunks (here run in-process by eager Celery; tests/integration runs them on a real worker),
merged to exactly what one process gives with the same seed; and who may start one, with what."""

import pytest

from mrmc.stats.power_plan import PowerPlan, model_from_pilot_study, plan_specs
from mrmc.stats.power_sim import simulated_power
from studies.models import AuditEvent, Job
from studies.services import analysis, power
from studies.services.analysis_results import analysis_options
from studies.services.analysis_snapshot import parse_snapshot

PLAN = {"design": "split_plot", "effect": 0.05, "readers": [4, 6], "cases": [60, 120], "groups": 2}


@pytest.fixture
def pilot(read_study, run_analysis, statistician):
    study = read_study()
    return run_analysis(actor=statistician, study=study, options={"seed": 2})


def start(api, user, run, body):
    return api(user).post(f"/api/v1/analysis-runs/{run.pk}/power-simulations/", body, format="json")


def in_process_rows(run, plan: dict, *, n_studies: int, seed: int) -> list[tuple]:
    """(readers, cases, power, rejections) of every planned size, simulated here in one process."""
    snapshot = parse_snapshot(run.snapshot_csv)
    planned = PowerPlan(**{**plan, "readers": tuple(plan["readers"]), "cases": tuple(plan["cases"])})
    control = snapshot.study.treatments.index("unaided")
    model, _ = model_from_pilot_study(planned, snapshot.study, control=control,
                                      **analysis_options(run.options, run.results["options"]["threshold"]))
    results = [(spec, simulated_power(spec, n_studies=n_studies, seed=seed, chunk_size=power.CHUNK_STUDIES))
               for spec in plan_specs(planned, model)]
    return [(s.n_readers, s.n_normal + s.n_abnormal, r.power, r.rejections) for s, r in results]


def test_the_merged_job_result_is_the_single_process_result(pilot, statistician, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api, statistician, pilot, {"plan": PLAN, "studies": 300, "seed": 7})
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.status, job.progress) == ("power_simulation", Job.Status.SUCCEEDED, 1.0), job.message
    assert len(job.params["fan_out"]["chunks"]) == 4 * 2  # 4 sizes x (250 + 50 studies)
    rows = [(row["readers"], row["cases"], row["power"], row["rejections"]) for row in job.result["rows"]]
    assert rows == in_process_rows(pilot, PLAN, n_studies=300, seed=7)
    assert all(row["n_studies"] == 300 for row in job.result["rows"])
    assert job.result["model"]["or_misfit"] < 1e-3  # the Roe & Metz model reproduces the pilot's OR parameters
    # more readers and more cases never lose much power (beyond Monte-Carlo noise)
    power_of = {(row[0], row[1]): row[2] for row in rows}
    assert power_of[(6, 120)] > power_of[(4, 60)]
    assert api(statistician).get(f"/api/v1/jobs/{job.pk}/").json()["result"]["rows"] == job.result["rows"]
    event = AuditEvent.objects.get(action="power_simulation_started")
    assert (event.entity_id, event.study_id) == (str(job.pk), pilot.study_id)


def test_the_fewest_cases_reaching_the_target_power(pilot, statistician, api, django_capture_on_commit_callbacks):
    plan = {**PLAN, "design": "fully_crossed", "groups": None, "readers": [5], "cases": [20, 200, 2000],
            "effect": 0.1}
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api, statistician, pilot, {"plan": plan, "studies": 200, "target_power": 0.5})
    result = Job.objects.get(pk=response.json()["id"]).result
    powers = [row["power"] for row in result["rows"]]
    needed = result["cases_for_target_power"][0]["cases"]
    assert needed == min(row["cases"] for row in result["rows"] if row["power"] >= 0.5), powers
    assert powers[-1] > 0.9 and powers[0] < powers[-1]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"plan": {**PLAN, "sizes": [1]}}, "sizes"),
        ({"plan": PLAN, "studies": 50}, "studies"),
        ({"plan": PLAN, "studies": 60_000}, "at most 200000"),
        ({"plan": {**PLAN, "groups": None}}, "groups"),
        ({"plan": {**PLAN, "design": "ai_vs_readers", "groups": None, "missing": 0.1}}, "missing"),
        ({"plan": {**PLAN, "readers": [1]}}, "readers"),
        ({"plan": PLAN, "seeds": 1}, "seeds"),
    ],
)
def test_a_bad_plan_is_refused_naming_what_is_wrong(pilot, statistician, api, body, named):
    response = start(api, statistician, pilot, body)
    assert response.status_code == 400 and named in response.content.decode(), response.content
    assert not Job.objects.filter(kind="power_simulation").exists()


def test_a_pilot_must_have_succeeded_and_be_an_auc_run(read_study, run_analysis, statistician, api):
    study = read_study()
    sensitivity = run_analysis(actor=statistician, study=study, options={"fom": "pauc", "pauc_range": [0, 0.2]})
    response = start(api, statistician, sensitivity, {"plan": PLAN})
    assert response.status_code == 409 and "AUC" in response.json()["detail"], response.content
    pending = analysis.start_run(actor=statistician, study=study)  # its job is queued, not run
    assert "has not succeeded (pending)" in start(api, statistician, pending, {"plan": PLAN}).json()["detail"]


def test_only_staff_of_the_study_may_start_one(pilot, api, make_user, make_study):
    outsider = make_user("other-statistician", role="statistician")
    reader = pilot.study.readers.first().user
    assert start(api, outsider, pilot, {"plan": PLAN}).status_code == 404
    assert start(api, reader, pilot, {"plan": PLAN}).status_code in (403, 404)
    assert start(api, None, pilot, {"plan": PLAN}).status_code == 401
    assert not Job.objects.filter(kind="power_simulation").exists()


@pytest.mark.integration
def test_on_a_real_worker_the_chunks_merge_to_the_single_process_result(
    celery_worker, tmp_path, coordinator, statistician
):
    from studies.services.demo_analysis import create_read_demo_study
    from tests.conftest import wait_for_job

    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=60)
    pilot = analysis.analyze_now(actor=statistician, study=study, options={"seed": 2})
    plan = {**PLAN, "design": "ai_vs_readers", "groups": None, "readers": [4], "cases": [80]}
    job = power.start_power_simulation(actor=statistician, run=pilot, plan=plan, n_studies=600, seed=31)
    job = wait_for_job(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.message
    rows = [(row["readers"], row["cases"], row["power"], row["rejections"]) for row in job.result["rows"]]
    assert rows == in_process_rows(pilot, plan, n_studies=600, seed=31)
    log = (tmp_path / "worker.log").read_text()
    assert log.count("Task studies.run_job_chunk[") >= 3 and "succeeded" in log, log[-3000:]
