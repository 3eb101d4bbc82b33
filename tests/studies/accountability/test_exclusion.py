"""Excluding a case: who may, until when, what it costs once reading has started (a deviation), and its effects:
out of every analysis made after it, in the exports with its reason, and counted in the accountability table."""

import csv
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from mrmc.stats import read_long_csv
from studies import selectors
from studies.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from studies.models import Assignment, AuditEvent, Case, ProtocolDeviation, Study
from studies.services import accountability, analysis, audit
from studies.services import studies as study_services
from studies.services.analysis_snapshot import marks_snapshot

from .world import T0, read

pytestmark = pytest.mark.django_db


def read_everything(study: Study, *, skip=()) -> None:
    """Every assignment read (but the (reader, arm, case) in ``skip``): ratings drawn around 40 on normal cases
    and 55 on diseased ones (62 with the AI), from a seeded generator."""
    rng = np.random.default_rng(7)
    assignments = Assignment.objects.filter(session__study=study).select_related("reader", "arm", "case")
    for a in assignments.order_by("reader__code", "arm__order", "case__label"):
        mean = 40 + (15 + 7 * a.arm.shows_ai) * (a.case.truth or 0)
        rating = round(float(rng.normal(mean, 12)), 1)
        if (a.reader.code, a.arm.name, a.case.label) not in skip:
            read(a, T0, rating=rating)


def test_excluding_while_reading_is_a_deviation_and_audited(make_study, coordinator):
    study = make_study(n_cases=4)
    with audit.context(user=coordinator):
        case = accountability.exclude_case(actor=coordinator, study=study, case_label="C001",
                                           reason=" image of the wrong patient ")
    assert (case.excluded_reason, case.excluded_at is not None) == ("image of the wrong patient", True)
    (deviation,) = study.deviations.all()
    assert (deviation.kind, deviation.case, deviation.source, deviation.severity) == (
        ProtocolDeviation.Kind.CASE_EXCLUDED, case, "recorded", "minor")
    assert "image of the wrong patient" in deviation.description
    event = AuditEvent.objects.filter(entity="studies.Case", entity_id=str(case.pk), action="update").last()
    assert event.after["excluded_reason"] == "image of the wrong patient" and event.actor_username == "coord"


def test_excluding_before_reading_is_no_deviation(make_study, coordinator):
    study = make_study(n_cases=4, status=Study.Status.ENROLLING)
    accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="outside inclusion criteria")
    assert not study.deviations.exists()
    accountability.include_case(actor=coordinator, study=study, case_label="C001", reason="criteria misread")
    assert Case.objects.get(study=study, label="C001").excluded_reason == ""


def test_withdrawing_an_exclusion_while_reading_is_a_deviation_too(make_study, coordinator):
    study = make_study(n_cases=4)
    accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="wrong patient")
    accountability.include_case(actor=coordinator, study=study, case_label="C001", reason="it was the right one")
    case = Case.objects.get(study=study, label="C001")
    assert (case.excluded_reason, case.excluded_at) == ("", None)
    descriptions = list(study.deviations.values_list("description", flat=True))
    assert len(descriptions) == 2 and "withdrawn" in descriptions[1] and "it was the right one" in descriptions[1]


def test_refusals(make_study, coordinator, statistician):
    study = make_study(n_cases=4)
    training = Case.objects.create(study=study, label="T0", truth=1, is_training=True)
    with pytest.raises(InvalidInput, match="say why"):
        accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="  ")
    with pytest.raises(NotFound, match="no case 'C999'"):
        accountability.exclude_case(actor=coordinator, study=study, case_label="C999", reason="x")
    with pytest.raises(RuleViolation, match="training case"):
        accountability.exclude_case(actor=coordinator, study=study, case_label=training.label, reason="x")
    with pytest.raises(NotAllowed):
        accountability.exclude_case(actor=statistician, study=study, case_label="C001", reason="x")
    with pytest.raises(RuleViolation, match="is not excluded"):
        accountability.include_case(actor=coordinator, study=study, case_label="C001", reason="x")
    accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="wrong patient")
    with pytest.raises(RuleViolation, match="excluded already"):
        accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="again")
    study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)
    with pytest.raises(RuleViolation, match="is locked"):
        accountability.include_case(actor=coordinator, study=study, case_label="C001", reason="x")
    assert Case.objects.get(study=study, label="C001").excluded_reason == "wrong patient"


def test_the_table_counted_by_hand(make_study, coordinator):
    """Eight cases C000..C007 (truth: odd numbers diseased), three readers, arms unaided and aided.

    C001 is excluded; C003 loses its truth; nobody reads C006; reader R03 does not read C004 aided; nobody reads
    C005 aided. Unaided: 7 complete (all but C006), 1 unread. Aided: C000, C001, C002, C003, C007 complete,
    C004 partial, C005 and C006 unread. Not analysed: C001 (excluded), C003 (no truth), C006 (never read); the
    five others are analysed."""
    study = make_study(n_cases=8)
    skip = {(r, arm, "C006") for r in ("R01", "R02", "R03") for arm in ("unaided", "aided")}
    skip |= {("R03", "aided", "C004")} | {(r, "aided", "C005") for r in ("R01", "R02", "R03")}
    read_everything(study, skip=skip)
    Case.objects.filter(study=study, label="C003").update(truth=None)
    accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="wrong patient")
    Case.objects.create(study=study, label="T0", truth=1, is_training=True)  # never counted

    expected = {
        "enrolled": 8,
        "excluded": [{"case": "C001", "reason": "wrong patient"}],
        "read_per_arm": [{"arm": "unaided", "complete": 7, "partial": 0, "none": 1},
                         {"arm": "aided", "complete": 5, "partial": 1, "none": 2}],
        "not_analysed": {"excluded": 1, "no_truth": 1, "never_read": 1},
        "analysed": 5,
    }
    assert accountability.accountability(study) == expected
    frozen = SimpleNamespace(run=SimpleNamespace(marks_snapshot=marks_snapshot(study)))
    section = accountability.accountability_section(frozen)
    assert section["available"] and section["table"] == expected
    # what the analysis reads holds exactly the five analysed cases
    analysed = {row["case"] for row in csv.DictReader(io.StringIO(selectors.reads_csv(study)))}
    assert analysed == {"C000", "C002", "C004", "C005", "C007"}


def test_an_excluded_case_is_not_analysed_but_stays_in_the_export(make_study, coordinator, tmp_path):
    study = make_study(n_cases=8)
    read_everything(study)
    accountability.exclude_case(actor=coordinator, study=study, case_label="C001", reason="wrong patient")
    run = analysis.analyze_now(actor=coordinator, study=study, options={"r_crosscheck": False})
    assert run.status == "succeeded", run.error

    analysed = list(csv.DictReader(io.StringIO(run.snapshot_csv)))
    assert {row["case"] for row in analysed} == {f"C00{i}" for i in range(8)} - {"C001"}
    assert len(analysed) == 3 * 2 * 7 and run.results["study"]["n_cases"] == 7
    assert "C001" not in {case["case"] for case in json.loads(run.marks_snapshot)["cases"]}

    # each reader's AUC per arm is the Mann-Whitney U over the seven analysed cases, as scipy counts it
    truth = {row["case"]: row["truth"] == "1" for row in analysed}
    fom_table = run.results["primary"]["fom_table"]
    for arm, by_reader in fom_table.items():
        for reader, fom in by_reader.items():
            ratings = {row["case"]: float(row["rating"]) for row in analysed
                       if row["treatment"] == arm and row["reader"] == reader}
            diseased = [v for case, v in ratings.items() if truth[case]]
            normal = [v for case, v in ratings.items() if not truth[case]]
            u = mannwhitneyu(diseased, normal).statistic
            assert fom == pytest.approx(u / (len(diseased) * len(normal)))

    assert run.results["accountability"]["table"]["excluded"] == [{"case": "C001", "reason": "wrong patient"}]
    assert run.results["accountability"]["table"]["analysed"] == 7

    export = list(csv.DictReader(io.StringIO(selectors.reads_csv(study, with_excluded=True))))
    assert {row["excluded_reason"] for row in export if row["case"] == "C001"} == {"wrong patient"}
    assert len(export) == 3 * 2 * 8
    path = tmp_path / "export.csv"
    path.write_text(selectors.reads_csv(study, with_excluded=True))
    assert set(read_long_csv(path).cases) == {row["case"] for row in analysed}  # the library skips them too
