"""A run that cannot compare the arms says why when it is asked for, and starts nothing."""

import pytest

from studies.errors import RuleViolation
from studies.models import AnalysisRun, Case, Read
from studies.services import analysis
from studies.services import studies as study_services
from studies.services.demo_analysis import simulate_reads


@pytest.fixture
def reading_study(make_study, coordinator, statistician):
    study = make_study(n_readers=3, n_cases=12)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=3)
    return study


def refusal(study, statistician) -> str:
    with pytest.raises(RuleViolation) as refused:
        analysis.start_run(actor=statistician, study=study, options={})
    assert not AnalysisRun.objects.filter(study=study).exists()
    return str(refused.value)


def test_no_reads_at_all(reading_study, statistician):
    Read.objects.filter(case__study=reading_study).delete()
    assert refusal(reading_study, statistician) == "no reads yet: nothing to analyse"


def test_reads_only_of_cases_without_truth(reading_study, statistician):
    Case.objects.filter(study=reading_study).update(truth=None)
    reads = Read.objects.filter(case__study=reading_study).count()
    assert refusal(reading_study, statistician) == (
        f"none of the {reads} reads is of a case with reference-standard truth: import the truth of the cases read")


def test_reads_in_one_arm_only(reading_study, statistician):
    labels = sorted(reading_study.cases.values_list("label", flat=True))
    Read.objects.filter(case__study=reading_study).exclude(
        reader__code="R01", arm__name="unaided", case__label__in=labels[:3]).delete()
    assert refusal(reading_study, statistician) == (
        "the 3 reads so far are all in arm unaided: the arms can be compared once cases have been read in aided too")


def test_reads_in_both_arms_though_no_case_in_both_are_analysed(reading_study, statistician, run_analysis):
    labels = sorted(reading_study.cases.values_list("label", flat=True))
    Read.objects.filter(case__study=reading_study, arm__name="aided", case__label__in=labels[:6]).delete()
    Read.objects.filter(case__study=reading_study, arm__name="unaided", case__label__in=labels[6:]).delete()
    run = run_analysis(actor=statistician, study=reading_study, options={})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
