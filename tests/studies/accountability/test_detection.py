"""The detector finds exactly the departures planted in :mod:`.world`, classifies them by the protocol's rules,
finds each once, and refreshes only what is not yet reviewed."""

from collections import Counter
from datetime import timedelta

import pytest

from studies.errors import InvalidInput, RuleViolation
from studies.models import AuditEvent, ProtocolDeviation, Study
from studies.services import deviations

from .world import NOW, RULES, day, planted_study

pytestmark = pytest.mark.django_db

Kind = ProtocolDeviation.Kind


@pytest.fixture
def study(coordinator):
    return planted_study(coordinator)


def found(study, kind):
    return list(study.deviations.filter(kind=kind).select_related("reader", "session", "case"))


def test_the_planted_departures_are_found_and_nothing_else(study):
    result = deviations.detect(study=study, now=NOW)
    assert (result.created, result.updated, result.found) == (11, 0, 11)
    assert Counter(study.deviations.values_list("kind", "severity")) == {
        (Kind.LATE_SESSION, "minor"): 1, (Kind.LATE_SESSION, "major"): 2, (Kind.WASHOUT_SHORTENED, "major"): 1,
        (Kind.READ_OUTSIDE_WINDOW, "major"): 4, (Kind.REVISION, "minor"): 1, (Kind.TECHNICAL_FAILURE, "major"): 2}


def test_late_sessions_are_sized_in_days_past_their_window(study):
    deviations.detect(study=study, now=NOW)
    late = {(d.reader.code, d.session.number): (d.details["days"], d.severity, d.rule)
            for d in found(study, Kind.LATE_SESSION)}
    assert late == {("R02", 1): (6.0, "minor", "late_session.major_after_days: 7"),
                    ("R02", 2): (8.0, "major", "late_session.major_after_days: 7"),
                    ("R03", 2): (26.0, "major", "late_session.major_after_days: 7")}
    finished_late = next(d for d in found(study, Kind.LATE_SESSION) if d.session.number == 1)
    assert finished_late.details["reads_after_window"] == 4 and finished_late.occurred_at == day(14)


def test_the_shortened_washout_names_who_shortened_it(study):
    deviations.detect(study=study, now=NOW)
    (shortened,) = found(study, Kind.WASHOUT_SHORTENED)
    assert (shortened.reader.code, shortened.session.number) == ("R01", 2)
    assert shortened.details["days"] == 10.0 and shortened.details["changed_by"] == "site_admin"
    assert shortened.rule == "washout_shortened.major_below_days: 14"
    assert "from 2026-02-03 09:00 to 2026-01-16 09:00 UTC" in shortened.description


def test_reads_inside_the_washout_are_each_found(study):
    deviations.detect(study=study, now=NOW)
    outside = found(study, Kind.READ_OUTSIDE_WINDOW)
    assert sorted(d.case.label for d in outside) == ["C000", "C001", "C002", "C003"]
    assert {(d.reader.code, d.details["days"], d.details["earlier_arm"]) for d in outside} == {("R01", 11.0, "unaided")}


def test_revisions_and_technical_failures(study):
    deviations.detect(study=study, now=NOW)
    (revision,) = found(study, Kind.REVISION)
    assert (revision.reader.code, revision.case.label, revision.details["reason"]) == (
        "R03", "C000", "pressed the wrong score")
    failures = found(study, Kind.TECHNICAL_FAILURE)
    assert sorted(d.key.split(":")[0] for d in failures) == ["job", "read"]
    blank = next(d for d in failures if d.read_id)
    assert (blank.reader.code, blank.case.label) == ("R03", "C001")


def test_a_second_run_finds_nothing_new(study):
    deviations.detect(study=study, now=NOW)
    events = AuditEvent.objects.count()
    again = deviations.detect(study=study, now=NOW)
    assert (again.created, again.updated, again.found) == (0, 0, 11)
    assert study.deviations.count() == 11 and AuditEvent.objects.count() == events


def test_a_later_run_refreshes_the_unfinished_sessions_not_yet_reviewed(study, coordinator):
    deviations.detect(study=study, now=NOW)
    reviewed = next(d for d in found(study, Kind.LATE_SESSION) if d.reader.code == "R03")
    deviations.review_deviation(actor=coordinator, study=study, deviation_id=reviewed.pk, note="reader on leave")
    later = deviations.detect(study=study, now=NOW + timedelta(days=3))
    assert (later.created, later.updated) == (0, 1)
    days = {d.reader.code: d.details["days"] for d in found(study, Kind.LATE_SESSION) if d.session.number == 2}
    assert days == {"R02": 11.0, "R03": 26.0}  # R03's was reviewed: left as the reviewer saw it


def test_rules_decide_the_severity(study):
    Study.objects.filter(pk=study.pk).update(deviation_rules={"session_window_days": 14, "default": "major"})
    study.refresh_from_db()
    deviations.detect(study=study, now=NOW)
    assert set(study.deviations.values_list("severity", "rule")) == {("major", "default")}


def test_without_rules_every_deviation_is_minor_and_the_window_is_the_monitors(study, settings):
    settings.MONITOR_OVERDUE_DAYS = 5
    Study.objects.filter(pk=study.pk).update(deviation_rules={})
    study.refresh_from_db()
    deviations.detect(study=study, now=NOW)
    assert set(study.deviations.values_list("severity", flat=True)) == {"minor"}
    late = {(d.reader.code, d.session.number): d.details["days"] for d in found(study, Kind.LATE_SESSION)}
    # windows of 5 days: R02 finished session 1 on day 20 (window closed on day 5), sessions 2 of R02 and R03
    # closed on days 53 and 35
    assert late == {("R02", 1): 15.0, ("R02", 2): 17.0, ("R03", 2): 35.0}


@pytest.mark.parametrize(("kind", "days", "severity"), [
    ("late_session", 7, "minor"), ("late_session", 7.1, "major"),
    ("washout_shortened", 14, "minor"), ("washout_shortened", 13.9, "major"),
    ("revision", None, "minor"), ("case_excluded", None, "minor"), ("other", None, "minor"),
])
def test_classification_at_the_limits(kind, days, severity):
    assert deviations.classify(RULES, kind, days).severity == severity


@pytest.mark.parametrize(("rules", "field", "message"), [
    ([], "deviation_rules", "a mapping"),
    ({"late": "major"}, "deviation_rules.late", "not a deviation kind"),
    ({"revision": "serious"}, "deviation_rules.revision", "must be major or minor"),
    ({"revision": {"major_after_days": 3}}, "deviation_rules.revision", "no size to compare"),
    ({"late_session": {"major_below_days": 3}}, "deviation_rules.late_session", "major_after_days"),
    ({"late_session": {"major_after_days": -1}}, "deviation_rules.late_session.major_after_days", "from 0 to"),
    ({"session_window_days": True}, "deviation_rules.session_window_days", "number of days"),
    ({"default": None}, "deviation_rules.default", "major or minor"),
])
def test_invalid_rules_are_refused_by_name(rules, field, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        deviations.validate_rules(rules)
    assert refused.value.field == field


def test_rules_are_fixed_once_reading_starts(coordinator, make_study):
    enrolling = make_study(status=Study.Status.ENROLLING)
    deviations.set_rules(actor=coordinator, study=enrolling, rules=RULES)
    assert Study.objects.get(pk=enrolling.pk).deviation_rules == RULES
    reading = make_study(status=Study.Status.READING, reader_prefix="other")
    with pytest.raises(RuleViolation, match="fixed once reading starts"):
        deviations.set_rules(actor=coordinator, study=reading, rules=RULES)


def test_the_beat_task_looks_at_studies_being_read(study, make_study):
    from studies.tasks import detect_deviations

    draft = make_study(status=Study.Status.DRAFT, reader_prefix="draft")
    assert detect_deviations() == {study.pk: 11}
    assert not draft.deviations.exists()
