"""Recording and reviewing deviations (audited, reclassified with a reason), and both tables in the report as the
run froze them."""

import numpy as np
import pytest

from studies import reports
from studies.errors import InvalidInput, NotAllowed, NotFound
from studies.models import AuditEvent, ProtocolDeviation, Read
from studies.reports.content import report_sections
from studies.services import accountability, analysis, audit, deviations

from .test_exclusion import read_everything
from .world import NOW, planted_study

pytestmark = pytest.mark.django_db


def test_recording_takes_the_rules_severity_unless_given(make_study, coordinator):
    study = make_study(n_cases=4)
    study.deviation_rules = {"other": "major"}
    study.save(update_fields=["deviation_rules"])
    with audit.context(user=coordinator):
        by_rule = deviations.record_deviation(actor=coordinator, study=study, kind="other", reader_code="R02",
                                              case_label="C003", description="reader consulted a colleague")
        given = deviations.record_deviation(actor=coordinator, study=study, kind="other", severity="minor",
                                            description="session started an hour early")
    assert (by_rule.severity, by_rule.rule, by_rule.source, by_rule.reader.code, by_rule.case.label) == (
        "major", "other", "recorded", "R02", "C003")
    assert (given.severity, given.rule) == ("minor", "")
    created = AuditEvent.objects.get(entity="studies.ProtocolDeviation", entity_id=str(by_rule.pk), action="create")
    assert created.actor_username == "coord" and created.after["description"] == "reader consulted a colleague"


@pytest.mark.parametrize(("values", "message"), [
    ({"kind": "late", "description": "x"}, "kind must be one of"),
    ({"kind": "other", "description": "  "}, "say what departed"),
    ({"kind": "other", "description": "x", "severity": "grave"}, "major or minor"),
    ({"kind": "other", "description": "x", "reader_code": "R99"}, "no reader 'R99'"),
    ({"kind": "other", "description": "x", "case_label": "C999"}, "no case 'C999'"),
])
def test_recording_refuses_bad_values_and_stores_nothing(make_study, coordinator, values, message):
    study = make_study(n_cases=4)
    with pytest.raises(InvalidInput, match=message):
        deviations.record_deviation(actor=coordinator, study=study, **values)
    assert not study.deviations.exists()


def test_review_with_reclassification_is_audited(coordinator, statistician):
    study = planted_study(coordinator)
    deviations.detect(study=study, now=NOW)
    late = study.deviations.get(kind="late_session", session__number=1)
    assert late.severity == "minor"
    with pytest.raises(NotAllowed):
        deviations.review_deviation(actor=statistician, study=study, deviation_id=late.pk, note="x")
    with pytest.raises(InvalidInput, match="note"):
        deviations.review_deviation(actor=coordinator, study=study, deviation_id=late.pk, note=" ", severity="major")
    with pytest.raises(NotFound):
        deviations.review_deviation(actor=coordinator, study=study, deviation_id=late.pk + 1000, note="x")
    with audit.context(user=coordinator):
        reviewed = deviations.review_deviation(actor=coordinator, study=study, deviation_id=late.pk,
                                               note="reads after day 14 were all aided-free; keep but raise",
                                               severity="major")
    assert (reviewed.severity, reviewed.details["reclassified_from"], reviewed.reviewed_by) == (
        "major", "minor", coordinator)
    event = AuditEvent.objects.filter(entity="studies.ProtocolDeviation", entity_id=str(late.pk),
                                      action="update").last()
    assert event.actor_username == "coord"
    assert (event.before["severity"], event.after["severity"]) == ("minor", "major")
    assert event.after["review_note"].startswith("reads after day 14")
    deviations.detect(study=study, now=NOW)  # a reviewed deviation keeps what the reviewer decided
    assert ProtocolDeviation.objects.get(pk=late.pk).severity == "major"


def test_both_tables_are_in_the_report(coordinator):
    study = planted_study(coordinator, n_cases=6)
    deviations.detect(study=study, now=NOW)
    # then the unread assignments read too, and every rating drawn again, so that the arms can be analysed
    read_everything(study, skip=set(Read.objects.filter(case__study=study).values_list(
        "reader__code", "arm__name", "case__label")))
    rng = np.random.default_rng(3)
    for one in Read.objects.filter(case__study=study).select_related("case", "arm").order_by("pk"):
        mean = 40 + (15 + 7 * one.arm.shows_ai) * one.case.truth
        Read.objects.filter(pk=one.pk).update(rating=round(float(rng.normal(mean, 12)), 1))
    late = study.deviations.get(kind="late_session", session__number=1)
    deviations.review_deviation(actor=coordinator, study=study, deviation_id=late.pk, note="agreed", severity="major")
    accountability.exclude_case(actor=coordinator, study=study, case_label="C002", reason="wrong laterality")
    run = analysis.analyze_now(actor=coordinator, study=study, options={"r_crosscheck": False})
    assert run.status == "succeeded", run.error
    # after the run: the report keeps what was frozen
    deviations.review_deviation(actor=coordinator, study=study, deviation_id=late.pk, note="changed later")

    sections = {section.title: section for section in report_sections(run)}
    accountable = sections["Subject accountability"]
    flow, per_arm, excluded = accountable.tables
    # six cases: C002 excluded; the other five have truth and were read
    assert flow.rows == [["Enrolled (training cases not counted)", "6"],
                         ["Excluded by the coordinator, with a reason", "1"],
                         ["Without reference-standard truth", "0"], ["Never read", "0"], ["Analysed", "5"]]
    assert [row[1:] for row in per_arm.rows] == [["6", "0", "0"], ["6", "0", "0"]]
    assert excluded.rows == [["C002", "wrong laterality"]]

    log = sections["Protocol deviations"]
    counts, entries = log.tables
    # the planted deviations (reader1 read six cases inside the washout) and the exclusion (recorded while
    # reading: minor by default)
    assert sorted(counts.rows) == sorted([
        ["Case excluded", "minor", "1", "0 of 1"], ["Read outside its window", "major", "6", "0 of 6"],
        ["Read revised", "minor", "1", "0 of 1"], ["Session read late", "major", "3", "1 of 3"],
        ["Technical failure", "major", "2", "0 of 2"], ["Washout shortened", "major", "1", "0 of 1"]])
    reviewed = [row for row in entries.rows if row[-1] != "not reviewed"]
    (row,) = reviewed  # the review made after the run ("changed later") is not in it
    assert row[1:5] == ["Session read late", "major (was minor)", "R02", "–"]
    assert row[-1].startswith("coord, ") and row[-1].endswith(": agreed")
    assert "14 deviations, 12 of them major; 1 reviewed" in log.paragraphs[0]
    assert "within 14 days of opening" in log.paragraphs[0]
    assert "Washout shortened: major when fewer than 14 days, else minor" in log.paragraphs[0]
    html = reports.render_html(run)
    assert "Subject accountability" in html and "wrong laterality" in html and "Deviation log" in html
    assert reports.render_pdf(run).startswith(b"%PDF")
