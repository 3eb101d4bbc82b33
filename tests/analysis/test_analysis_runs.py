"""Analysis runs through the service: snapshot, results, immutability, interim and failed runs, rules."""

import hashlib
import logging
import time

import numpy as np
import pytest
from django.db import DatabaseError, transaction
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AnalysisRun, Read, Role, Study
from studies.models.analysis import FinishedRunError
from studies.selectors import reads_csv
from studies.services import analysis
from studies.services import studies as study_services
from studies.services.demo_analysis import seed_analysis_demo, simulate_reads


@pytest.fixture
def locked_run(read_study, statistician, run_analysis):
    study = read_study()
    return run_analysis(actor=statistician, study=study, options={"seed": 1})


def reads_by(study, field):
    """(arm, reader, case) -> value from the database, independent of the snapshot parser."""
    return {(r.arm.name, r.reader.code, r.case.label): getattr(r, field)
            for r in Read.objects.filter(case__study=study).select_related("arm", "reader", "case")}


def test_run_freezes_the_reads_and_finishes_the_study(locked_run):
    run = AnalysisRun.objects.get(pk=locked_run.pk)
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    assert run.snapshot_csv == reads_csv(run.study)
    assert run.snapshot_checksum == hashlib.sha256(run.snapshot_csv.encode()).hexdigest()
    assert not run.is_interim and run.study_status == Study.Status.LOCKED
    assert run.job.status == "succeeded" and run.job.progress == 1.0
    run.study.refresh_from_db()
    assert run.study.status == Study.Status.ANALYZED
    assert set(run.results) >= {"primary", "study", "ai_standalone", "ai_versus_readers", "operating_points",
                                "reader_table", "subgroups", "reading_time", "agreement", "sequential", "power",
                                "curves"}
    assert not any("error" in section for section in run.results.values() if isinstance(section, dict))


def test_finished_runs_are_immutable_in_code_and_database(locked_run):
    run = AnalysisRun.objects.get(pk=locked_run.pk)
    run.error = "tampered"
    with pytest.raises(FinishedRunError):
        run.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AnalysisRun.objects.filter(pk=run.pk).update(error="tampered")
    assert AnalysisRun.objects.get(pk=run.pk).error == ""


def test_second_final_run_keeps_the_study_analyzed(locked_run, statistician, run_analysis):
    again = run_analysis(actor=statistician, study=locked_run.study, options={"fom": "auc", "cov": "delong"})
    assert again.status == AnalysisRun.Status.SUCCEEDED
    assert Study.objects.get(pk=locked_run.study_id).status == Study.Status.ANALYZED


def test_reading_time_and_agreement_match_the_reads_in_the_database(locked_run):
    study = locked_run.study
    durations = reads_by(study, "duration_ms")
    unaided = [v for (arm, _, _), v in durations.items() if arm == "unaided"]
    aided = [v for (arm, _, _), v in durations.items() if arm == "aided"]
    comparison = locked_run.results["reading_time"]["comparisons"][0]
    assert comparison["ratio"] == pytest.approx(np.mean(aided) / np.mean(unaided))
    assert locked_run.results["reading_time"]["by_arm"]["unaided"]["median"] == pytest.approx(np.median(unaided) / 1000)
    decisions = reads_by(study, "decision")
    for arm in ("unaided", "aided"):
        cases = sorted({case for (a, _, case) in decisions if a == arm})
        table = np.array([[sum(1 for (a, _, c), d in decisions.items() if a == arm and c == case and d == value)
                           for value in (False, True)] for case in cases])
        kappa = locked_run.results["agreement"]["by_arm"][arm]["fleiss_kappa"]["kappa"]
        assert kappa == pytest.approx(sm_fleiss_kappa(table, method="fleiss"), rel=1e-10)


def test_subgroups_are_flagged_below_the_minimum(read_study, statistician, run_analysis):
    study = read_study(n_cases=40)
    run = run_analysis(actor=statistician, study=study, options={"min_subgroup_cases": 12})
    rows = run.results["subgroups"]["rows"]
    counts = run.results["study"]["cases_by_subgroup"]
    for row in rows:
        expected = counts[row["variable"]][row["level"]]
        assert (row["n_normal"], row["n_abnormal"]) == (expected["normal"], expected["abnormal"])
        assert row["too_small"] == (min(row["n_normal"], row["n_abnormal"]) < 12)
        assert ("treatment_means" in row) == (not row["too_small"] and row["error"] is None)


def test_interim_run_keeps_every_read_and_lists_the_missing_ones(make_study, coordinator, statistician,
                                                                   run_analysis):
    study = make_study(n_readers=3, n_cases=12)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=3)
    Read.objects.filter(case__study=study, case__label__in=["C000", "C001"], reader__code="R02").delete()
    run = run_analysis(actor=statistician, study=study)
    assert run.is_interim and run.status == AnalysisRun.Status.SUCCEEDED, run.error
    assert run.results["study"]["n_cases"] == 12 and run.results["study"]["n_reads"] == 3 * 2 * 12 - 4
    missing = run.results["design"]["missing_reads"]
    assert missing["count"] == 4
    assert {(m["reader"], m["case"]) for m in missing["listed"]} == {("R02", "C000"), ("R02", "C001")}
    assert run.results["design"]["found"]["kind"] == "partially_paired"
    assert run.results["primary"]["convention"] == "mrmcaov"
    assert Study.objects.get(pk=study.pk).status == Study.Status.READING


def test_failed_run_records_why(make_study, coordinator, statistician, run_analysis):
    study = make_study(n_readers=2, n_cases=12)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=3)
    diseased = list(study.cases.filter(truth=1).order_by("label").values_list("label", flat=True))
    Read.objects.filter(reader__code="R01", arm__name="aided", case__label__in=diseased[1:]).delete()
    run = run_analysis(actor=statistician, study=study)
    assert run.status == AnalysisRun.Status.FAILED
    assert "reader 'R01' has 1 diseased read(s) in treatment" in run.error
    assert run.job.status == "failed" and run.job.message == run.error


def test_sequential_design_score_changes_match_the_reads(make_study, coordinator, statistician, run_analysis):
    study = make_study(n_readers=3, n_cases=20, design=Study.Design.SEQUENTIAL, decision_threshold=50)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=4)
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)
    run = run_analysis(actor=statistician, study=study)
    ratings = reads_by(study, "rating")
    changes = [ratings[("aided", reader, case)] - value
               for (arm, reader, case), value in ratings.items() if arm == "unaided"]
    section = run.results["sequential"]
    assert section["available"]
    assert (section["increased"], section["decreased"]) == (sum(c > 0 for c in changes), sum(c < 0 for c in changes))
    flips = sum((ratings[("aided", r, c)] >= 50) != (v >= 50) for (a, r, c), v in ratings.items() if a == "unaided")
    assert section["decision_to_positive"] + section["decision_to_negative"] == flips


def test_rules_on_who_and_when(make_study, read_study, coordinator, statistician, make_user):
    with pytest.raises(NotAllowed):
        analysis.start_run(actor=make_user("someone", Role.READER), study=read_study())
    draft = make_study(status=Study.Status.DRAFT)
    with pytest.raises(RuleViolation):
        analysis.start_run(actor=coordinator, study=draft)
    with pytest.raises(InvalidInput):
        analysis.validate_options({"fom": "sens"})  # needs a threshold
    with pytest.raises(InvalidInput):
        analysis.validate_options({"colour": "red"})


def test_seeded_analysis_demo_is_quick(make_user):
    make_user("coordinator", Role.COORDINATOR)
    make_user("statistician", Role.STATISTICIAN)
    start = time.perf_counter()
    run = seed_analysis_demo()
    elapsed = time.perf_counter() - start
    assert run.status == AnalysisRun.Status.SUCCEEDED and run.study.status == Study.Status.ANALYZED
    assert elapsed < 15
    assert seed_analysis_demo().pk == run.pk  # safe to run again


def test_r_crosscheck_explains_how_to_install_when_mrmcaov_is_absent(read_study, statistician, run_analysis):
    from mrmc.stats.r_crosscheck import mrmcaov_available

    logging.getLogger("rpy2.rinterface_lib.embedded").setLevel(logging.WARNING)  # R's exit message after pytest
    available, _ = mrmcaov_available()
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    section = run.results["r_crosscheck"]
    assert section["requested"] and section["available"] == available
    if not available:
        assert "MRMCaov" in section["how_to_install"] and section["reason"]
    else:  # MRMCaov installed: its RRRC difference matches ours
        ours = run.results["primary"]["rrrc"]["differences"][0]
        assert abs(section["estimate"]) == pytest.approx(abs(ours["estimate"]), rel=1e-6)
        assert section["se"] == pytest.approx(ours["se"], rel=1e-6)
