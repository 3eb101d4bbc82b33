"""Training cases and training reads stay out of everything the study reads and analyses: the schedule, the
progress counts, the reads export, the analysis snapshot and its results (the AI's standalone analysis and the
subgroup counts included), the exports; and the report's reader table shows each reader's qualification."""

import json
import uuid

import pytest

from studies import selectors
from studies.errors import RuleViolation
from studies.models import AIOutput, AnalysisRun, Assignment, Case, Read, Role, Study, TrainingRead
from studies.reports.sections import readers as readers_section
from studies.services import analysis, qualification, schedule
from studies.services.analysis_exports import render_export
from studies.services.analysis_snapshot import marks_snapshot
from studies.services.demo_analysis import create_read_demo_study
from tests.conftest import create_study

from .training_world import LESION, train_well, training_study

COMPARED = ("primary", "study", "design", "ai_standalone", "ai_versus_readers", "subgroups", "operating_points",
            "agreement", "reading_time", "automation_bias")


def training_labels(study) -> set[str]:
    return set(study.cases.filter(is_training=True).values_list("label", flat=True))


def test_training_cases_are_never_scheduled(coordinator):
    study = training_study(coordinator, status=Study.Status.READING)
    scheduled = set(Assignment.objects.filter(session__study=study).values_list("case__label", flat=True))
    assert scheduled == {"C000", "C001", "C002", "C003"}
    rows = schedule.schedule_csv(study).splitlines()[1:]
    assert len(rows) == 2 * 2 * 4 and not any(row.split(",")[4] in training_labels(study) for row in rows)


def test_a_study_of_training_cases_only_has_nothing_to_schedule(coordinator):
    study = create_study(coordinator, n_cases=0, status=Study.Status.DRAFT)
    Case.objects.create(study=study, label="T00", truth=1, is_training=True)
    study.status = Study.Status.ENROLLING
    with pytest.raises(RuleViolation, match="no cases to read"):
        schedule.generate_schedule(actor=coordinator, study=study, seed=1)


def test_training_reads_count_in_no_progress(coordinator):
    study = training_study(coordinator, status=Study.Status.READING)
    before = selectors.progress(study)
    train_well(study.readers.get(code="R01"))
    assert TrainingRead.objects.count() == 8
    assert selectors.progress(study) == before
    assert {(row["assigned"], row["read"]) for row in before} == {(4, 0)}
    assert selectors.case_counts(study) == {"n_cases": 4, "n_diseased": 2, "n_normal": 2, "n_without_truth": 0}


def test_a_case_flagged_for_training_after_scheduling_leaves_the_progress(coordinator):
    study = training_study(coordinator, status=Study.Status.READING)
    Case.objects.filter(study=study, label="C000").update(is_training=True)
    assert {(row["assigned"], row["read"]) for row in selectors.progress(study)} == {(3, 0)}


@pytest.fixture
def read_study(coordinator, make_user) -> Study:
    """A locked study every reader has read (M0001..M0012, no lesions marked)."""
    return create_read_demo_study(coordinator=coordinator, statistician=make_user("stat", Role.STATISTICIAN),
                                  n_cases=12, readers=("reader1", "reader2", "reader3"), title="Read")


def add_training(study: Study) -> None:
    """Training cases (one without truth) with metadata of their own, AI outputs and training reads: the kind of
    data that must change nothing in an analysis."""
    shown = study.ai_output_sets.get(shown=True)
    for i, truth in enumerate((1, 0, None)):
        case = Case.objects.create(study=study, label=f"T{i}", truth=truth, is_training=True, reading_group=9,
                                   lesions=[LESION] if truth else [],
                                   metadata={"site": "site-T", "training_only": "x"})
        # AI outputs are fixed once the study leaves draft (save refuses): written as an import would have
        AIOutput.objects.bulk_create([AIOutput(study=study, output_set=shown, case=case, model_name=shown.model_name,
                                               model_version=shown.model_version, score=0.5)])
        for reader in study.readers.all():
            for arm in study.arms.all():
                TrainingRead.objects.create(reader=reader, case=case, arm=arm, rating=99 if truth else 1,
                                            idempotency_key=uuid.uuid4())


def test_the_analysis_is_the_same_with_and_without_training_cases(read_study, django_user_model):
    statistician = django_user_model.objects.get(username="stat")
    without = analysis.analyze_now(actor=statistician, study=read_study, options={})
    add_training(read_study)
    with_training = analysis.analyze_now(actor=statistician, study=read_study, options={})
    assert without.status == with_training.status == AnalysisRun.Status.SUCCEEDED, with_training.error
    assert with_training.snapshot_csv == without.snapshot_csv
    assert with_training.marks_snapshot == without.marks_snapshot
    for section in COMPARED:
        assert with_training.results[section] == without.results[section], section
    summary = with_training.results["study"]
    assert summary["n_cases"] == 12 and summary["cases_without_truth"] == 0
    assert "training_only" not in summary["cases_by_subgroup"]
    assert with_training.results["ai_standalone"]["n_normal"] + with_training.results["ai_standalone"]["n_abnormal"] == 12
    for name in ("mrmcaov.csv", "imrmc.imrmc"):
        assert "T0" not in render_export(run=with_training, name=name)


def test_a_case_flagged_for_training_after_it_was_read_leaves_the_reads_export(read_study):
    Case.objects.filter(study=read_study, label="M0001").update(is_training=True)
    assert Read.objects.filter(case__label="M0001").exists()
    rows = selectors.reads_csv(read_study).splitlines()
    assert not any(",M0001," in row for row in rows)
    assert selectors.study_reads(read_study).filter(case__label="M0001").count() == 0


def test_the_marks_snapshot_holds_no_training_case(coordinator):
    study = training_study(coordinator, status=Study.Status.READING, marks_enabled=True)
    frozen = json.loads(marks_snapshot(study))
    assert {case["case"] for case in frozen["cases"]} == {"C000", "C001", "C002", "C003"}


def test_the_report_reader_table_shows_each_readers_qualification(read_study, django_user_model):
    Study.objects.filter(pk=read_study.pk).update(qualification={"min_cases": 2, "min_auc": 0.75})
    read_study.refresh_from_db()
    add_training(read_study)  # every reader read both training cases with truth in both arms, by their truth
    TrainingRead.objects.filter(reader__code="R03", case__label="T1").delete()
    for reader in read_study.readers.all():
        qualification.record_evaluation(reader, reader.user)
    r01 = read_study.readers.get(code="R01")
    run = analysis.analyze_now(actor=django_user_model.objects.get(username="stat"), study=read_study, options={})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    rows = {row["reader"]: row["qualification"] for row in run.results["reader_table"]["rows"]}
    assert rows["R01"]["qualified_at"] == r01.qualified_at.isoformat()
    assert {c["name"]: c["value"] for c in rows["R01"]["criteria"]} == {"min_cases": 2, "min_auc": 1.0}
    assert rows["R03"]["qualified_at"] is None and rows["R03"]["summary"] == (
        "1 of 2 training cases read; the AUC needs a diseased and a non-diseased training case read")
    section = readers_section.build(run, run.results)
    (table,) = [t for t in section.tables if t.caption.startswith("Reader qualification")]
    assert table.header == ["Reader", "Qualified on", "min_cases", "min_auc"]
    assert table.rows[0] == ["R01", f"{r01.qualified_at:%Y-%m-%d}", "2 (≥ 2)", "1.000 (≥ 0.75)"]
    assert table.rows[2] == ["R03", "not qualified", "1 (≥ 2)", "– (≥ 0.75)"]


def test_the_report_has_no_qualification_table_where_none_is_required(read_study, django_user_model):
    run = analysis.analyze_now(actor=django_user_model.objects.get(username="stat"), study=read_study, options={})
    section = readers_section.build(run, run.results)
    assert [table.caption for table in section.tables] == ["Per reader and arm"]
