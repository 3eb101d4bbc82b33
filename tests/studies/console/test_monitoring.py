"""The monitoring tables: progress per reader and session, sessions opening soon and overdue, reads per
day and per arm, reading-time outliers and scale use, all counts and never a figure of performance."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from studies.models import Assignment, Case, Read, Study, TrainingRead
from studies.services import monitoring, reads
from studies.services.tables import csv_text

pytestmark = pytest.mark.django_db


def read(assignment: Assignment, rating: float = 50, seconds: float = 60) -> Read:
    opened = timezone.now() - timedelta(seconds=seconds)
    values = reads.ReadInput(rating=rating, opened_at=opened, client_submitted_at=opened + timedelta(seconds=seconds))
    stored, created = reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk,
                                        idempotency_key=uuid.uuid4(), values=values)
    assert created
    return stored


def first_session(study: Study, code: str) -> list[Assignment]:
    return list(Assignment.objects.filter(session__study=study, reader__code=code, session__number=1)
                .select_related("reader__user", "session").order_by("order"))


def tables(study: Study, now=None) -> dict:
    return {table.name: table for table in monitoring.monitoring(study, now=now).tables}


def as_dicts(table) -> list[dict]:
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


@pytest.fixture
def study(make_study):
    """Reading: 3 readers, 4 cases, 2 arms, sessions 28 days apart; R01 has read 2 cases of session 1, R02 all 4."""
    study = make_study(n_readers=3, n_cases=4, washout_days=28)
    for assignment in first_session(study, "R01")[:2]:
        read(assignment)
    for assignment in first_session(study, "R02"):
        read(assignment)
    return study


def test_progress_per_reader_and_session(study):
    rows = as_dicts(tables(study)["progress"])
    washout = rows[1]["state"]
    assert washout.startswith("this session opens on") and washout.endswith("(washout)")
    assert [(r["reader"], r["session"], r["assigned"], r["read"], r["percent_read"], r["state"]) for r in rows] == [
        ("R01", 1, 4, 2, 50, "open"),
        ("R01", 2, 4, 0, 0, washout),
        ("R02", 1, 4, 4, 100, "completed"),
        ("R02", 2, 4, 0, 0, rows[3]["state"]),
        ("R03", 1, 4, 0, 0, "open"),
        ("R03", 2, 4, 0, 0, washout),
    ]
    assert rows[3]["state"].startswith("this session opens on")  # 28 days after R02 finished session 1
    assert rows[0]["last_read_at"] is not None and rows[4]["last_read_at"] is None
    assert {r["reminded_at"] for r in rows} == {"no e-mail address"}


def test_sessions_opening_soon_and_overdue(study, settings):
    settings.MONITOR_OPENING_SOON_DAYS, settings.MONITOR_OVERDUE_DAYS = 7, 14
    assert tables(study)["overdue"].rows == []
    assert tables(study)["opening"].rows == []  # R02's second session opens in 28 days
    later = timezone.now() + timedelta(days=23)
    found = tables(study, now=later)
    overdue = as_dicts(found["overdue"])
    assert [(r["reader"], r["session"], r["days_open"], r["read"]) for r in overdue] == [("R01", 1, 23, 2),
                                                                                     ("R03", 1, 23, 0)]
    opening = as_dicts(found["opening"])
    assert [(r["reader"], r["session"]) for r in opening] == [("R02", 2)]
    assert 4.9 < opening[0]["days_to_go"] <= 5.0
    assert [r["state"] for r in as_dicts(found["progress"]) if r["session"] == 1] == ["overdue", "completed", "overdue"]


def test_reads_per_day_and_interim_counts_per_arm_and_reader(study):
    yesterday = timezone.now() - timedelta(days=1)
    Read.objects.filter(reader__code="R02").update(submitted_at=yesterday)
    found = tables(study)
    arm_of_r01 = first_session(study, "R01")[0].session.arm.name
    arm_of_r02 = first_session(study, "R02")[0].session.arm.name
    per_day = as_dicts(found["reads_per_day"])
    assert found["reads_per_day"].columns == ("day", "unaided", "aided", "total")
    assert [(r["day"], r[arm_of_r02], r["total"]) for r in per_day] == [(yesterday.date(), 4, 4),
                                                                     (timezone.now().date(), 0, 2)]
    assert per_day[1][arm_of_r01] == 2
    by_arm = {r["arm"]: r for r in as_dicts(found["by_arm"])}
    assert list(by_arm) == ["unaided", "aided"]  # the study's arm order
    assert sum(r["read"] for r in by_arm.values()) == 6 and all(r["assigned"] == 12 for r in by_arm.values())
    by_reader_arm = {(r["reader"], r["arm"]): (r["read"], r["remaining"]) for r in as_dicts(found["by_reader_arm"])}
    assert by_reader_arm[("R01", arm_of_r01)] == (2, 2) and by_reader_arm[("R02", arm_of_r02)] == (4, 0)
    assert by_reader_arm[("R03", "aided")] == (0, 4)


def test_reading_times_too_fast_and_too_long(make_study, settings):
    settings.MONITOR_READ_TOO_FAST_S, settings.MONITOR_READ_TOO_LONG_S = 5, 1800
    study = make_study(n_readers=2, n_cases=4)
    first, second, third, fourth = first_session(study, "R01")
    read(first, seconds=2)
    read(second, seconds=60)
    read(third, seconds=40 * 60)
    read(fourth, seconds=5)  # at the threshold: not too fast
    read(first_session(study, "R02")[0], seconds=90)
    found = tables(study)
    outliers = as_dicts(found["time_outliers"])
    assert [(r["case"], r["seconds"], r["flag"]) for r in outliers] == sorted(
        [(first.case.label, 2.0, "too fast"), (third.case.label, 2400.0, "too long")],
        key=lambda row: row[1])
    assert {r["reader"] for r in outliers} == {"R01"} and {r["session"] for r in outliers} == {1}
    assert as_dicts(found["reading_times"]) == [
        {"reader": "R01", "timed_reads": 4, "median_s": 32.5, "too_fast": 1, "too_long": 1},
        {"reader": "R02", "timed_reads": 1, "median_s": 90.0, "too_fast": 0, "too_long": 0},
    ]
    assert "under 5 s" in found["time_outliers"].note and "over 30 min" in found["time_outliers"].note


def test_readers_who_use_part_of_a_continuous_scale(make_study, settings):
    settings.MONITOR_SCALE_MIN_READS, settings.MONITOR_SCALE_MIN_RANGE = 3, 0.5
    study = make_study(n_readers=3, n_cases=4)  # 0 to 100
    for assignment, rating in zip(first_session(study, "R01"), (40, 45, 50, 50), strict=True):
        read(assignment, rating=rating)
    for assignment, rating in zip(first_session(study, "R02"), (0, 50, 95), strict=False):
        read(assignment, rating=rating)
    for assignment in first_session(study, "R03")[:2]:
        read(assignment, rating=1)
    rows = {r["reader"]: r for r in as_dicts(tables(study)["scale_use"])}
    assert (rows["R01"]["fraction_of_range_used"], rows["R01"]["flag"]) == (0.1, "uses only part of the scale")
    assert (rows["R02"]["lowest"], rows["R02"]["highest"], rows["R02"]["flag"]) == (0, 95, "")
    assert rows["R03"]["flag"] == "fewer than 3 reads: not judged yet"


def test_readers_who_use_few_categories_of_an_ordinal_scale(make_study, settings):
    settings.MONITOR_SCALE_MIN_READS, settings.MONITOR_SCALE_MIN_CATEGORIES = 4, 3
    study = make_study(n_readers=2, n_cases=4, rating_scale=Study.Scale.ORDINAL,
                       ordinal_labels=["normal", "benign", "probably benign", "suspicious", "malignant"])
    for assignment, rating in zip(first_session(study, "R01"), (2, 3, 3, 2), strict=True):
        read(assignment, rating=rating)
    for assignment, rating in zip(first_session(study, "R02"), (1, 3, 5, 5), strict=True):
        read(assignment, rating=rating)
    table = tables(study)["scale_use"]
    rows = {r["reader"]: r for r in as_dicts(table)}
    assert (rows["R01"]["categories_used"], rows["R01"]["flag"]) == (2, "uses only part of the scale")
    assert (rows["R02"]["categories_used"], rows["R02"]["flag"]) == (3, "")
    assert table.note.startswith("flagged: fewer than 3 of the 5 categories")


def test_nothing_shown_depends_on_truth(study):
    before = {name: csv_text(table) for name, table in tables(study).items()}
    for case in Case.objects.filter(study=study):
        case.truth = 1 - case.truth
        case.save()
    assert {name: csv_text(table) for name, table in tables(study).items()} == before
    columns = " ".join(column for table in tables(study).values() for column in table.columns)
    for word in ("truth", "diseased", "auc", "sensitivity", "specificity", "accuracy", "ai_", "score"):
        assert word not in columns


def test_training_reads_are_not_counted(study):
    before = {name: csv_text(table) for name, table in tables(study).items()}
    reader = study.readers.get(code="R01")
    training = Case.objects.create(study=study, label="T001", is_training=True, truth=1)
    arm = study.arms.first()
    TrainingRead.objects.create(reader=reader, case=training, arm=arm, rating=1, duration_ms=500,
                                idempotency_key=uuid.uuid4())
    # A training case that found its way into a schedule: its read is the qualification's all the same.
    session = reader.sessions.get(number=1)
    assignment = Assignment.objects.create(session=session, reader=reader, case=training, arm=arm, order=99)
    Read.objects.create(assignment=assignment, reader=reader, case=training, arm=arm, rating=1, duration_ms=500,
                        idempotency_key=uuid.uuid4())
    after = {name: csv_text(table) for name, table in tables(study).items()}
    # selectors.progress, which the interim counts per arm and reader share with the API, counts every assignment
    shared = ("by_arm", "by_reader_arm")
    assert {name: after[name] for name in after if name not in shared} == {
        name: before[name] for name in before if name not in shared}
    assert "T001" not in after["time_outliers"]


def test_every_table_as_csv_has_its_columns_and_all_rows(study):
    for table in monitoring.monitoring(study).tables:
        rows = list(csv.reader(io.StringIO(csv_text(table))))
        assert tuple(rows[0]) == table.columns and len(rows) == len(table.rows) + 1
    progress = list(csv.DictReader(io.StringIO(csv_text(monitoring.monitoring_table(study, "progress")))))
    assert progress[0]["opens_at"].endswith("+00:00") and progress[0]["reminded_at"] == "no e-mail address"
    with pytest.raises(KeyError):
        monitoring.monitoring_table(study, "truth")
