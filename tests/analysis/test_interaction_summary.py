"""The interaction records of the reads in the reads export (one summary per read) and in a run's
reading-time section and report (per arm), frozen with the run like every other column."""

import csv
import io
import uuid

import pytest

from studies.models import Assignment, Read
from studies.reports.sections import reading_time
from studies.selectors import reads_csv
from studies.services import reads
from studies.services.interactions import checked_interactions


def record(images, wl=0, zoom=0, pan=0, ai_toggles=0) -> dict:
    return {"v": 1, "images": images, "wl": wl, "zoom": zoom, "pan": pan, "invert": 0, "ai_toggles": ai_toggles,
            "events": [], "truncated": False}


def test_each_read_in_the_export_carries_its_records_summary(make_study):
    study = make_study(n_readers=1, n_cases=4)
    first, second = Assignment.objects.filter(session__study=study, session__number=1).order_by("order")[:2]
    for assignment, interactions in [
        (first, record([[0, 0, 5200], [1, 0, 800], [3, 2, 0]], wl=2, zoom=1, ai_toggles=3)),
        (second, None),  # a viewer from before the record
    ]:
        reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                          values=reads.ReadInput(rating=40, interactions=interactions))
    rows = {row["case"]: row for row in csv.DictReader(io.StringIO(reads_csv(study)))}
    columns = ("image_dwell_ms", "images_viewed", "wl_changes", "zoom_changes", "pan_changes", "ai_toggles")
    assert [rows[first.case.label][c] for c in columns] == ["6000", "2", "2", "1", "0", "3"]
    assert [rows[second.case.label][c] for c in columns] == [""] * 6
    assert rows[first.case.label]["site"].startswith("site-")  # case metadata still follows


@pytest.fixture
def run_with_records(read_study, statistician, run_analysis):
    """Every aided read viewed 20 s with one window/level change and two AI toggles; half the unaided
    ones viewed 30 s with three window/level changes and two zooms, the other half without a record."""
    study = read_study()
    Read.objects.filter(case__study=study).update(interactions={})  # the simulation's records replaced
    unaided = list(Read.objects.filter(case__study=study, arm__name="unaided").order_by("id"))
    Read.objects.filter(case__study=study, arm__name="aided").update(
        interactions=record([[0, 0, 15000], [0, 1, 5000]], wl=1, ai_toggles=2))
    Read.objects.filter(pk__in=[r.pk for r in unaided[::2]]).update(interactions=record([[0, 0, 30000]], wl=3, zoom=2))
    return run_analysis(actor=statistician, study=study, options={"seed": 1}), len(unaided[::2])


def test_the_reading_time_section_summarises_what_readers_did_per_arm(run_with_records):
    run, n_unaided_recorded = run_with_records
    activity = run.results["reading_time"]["interactions"]
    assert activity["available"] is True
    aided, unaided = activity["by_arm"]["aided"], activity["by_arm"]["unaided"]
    assert aided["n_reads"] == Read.objects.filter(case__study=run.study, arm__name="aided").count()
    assert unaided["n_reads"] == n_unaided_recorded
    assert (aided["median_dwell_s"], aided["median_images_viewed"]) == (20.0, 2)
    assert (unaided["median_dwell_s"], unaided["median_images_viewed"]) == (30.0, 1)
    assert aided["wl_changes"] == {"median": 1, "mean": 1.0} and aided["ai_toggles"] == {"median": 2, "mean": 2.0}
    assert unaided["wl_changes"]["median"] == 3 and unaided["zoom_changes"] == {"median": 2, "mean": 2.0}

    section = reading_time.build(run, run.results)
    table = next(t for t in section.tables if t.caption == "Per case, by arm")
    assert ["aided", str(aided["n_reads"]), "20.0", "2.0", "1.0 (1.0)", "0.0 (0.0)", "0.0 (0.0)",
            "2.0 (2.0)"] in table.rows


def test_a_run_whose_reads_have_no_record_says_so(read_study, statistician, run_analysis):
    study = read_study()
    Read.objects.filter(case__study=study).update(interactions={})  # as reads from before the record
    run = run_analysis(actor=statistician, study=study, options={"seed": 1})
    assert run.results["reading_time"]["interactions"] == {"available": False,
                                                           "reason": "no read has an interaction record"}
    section = reading_time.build(run, run.results)
    assert "What readers did per case is not summarised: no read has an interaction record." in section.paragraphs


def test_the_simulated_reads_of_the_demo_carry_records_the_server_accepts(read_study, statistician, run_analysis):
    """Four views sharing most of the reading time, view changes, and AI toggles only where the AI is shown."""
    study = read_study(n_cases=20)
    stored = list(Read.objects.filter(case__study=study).select_related("arm"))
    for read in stored:
        record = read.interactions
        assert checked_interactions(record) == record
        assert [view for view, _, _ in record["images"]] == [0, 1, 2, 3]
        assert 0.7 * read.duration_ms <= sum(ms for _, _, ms in record["images"]) <= read.duration_ms
        assert len(record["events"]) == record["wl"] + record["zoom"] + record["pan"] + record["ai_toggles"]
        assert all(event[0] <= read.duration_ms / 100 for event in record["events"])
        toggles = [kind for _, kind in record["events"] if kind.startswith("ai_")]
        assert toggles == ["ai_off", "ai_on"] * (len(toggles) // 2) + ["ai_off"] * (len(toggles) % 2)
        assert read.arm.shows_ai or not toggles
    activity = run_analysis(actor=statistician, study=study, options={"seed": 1}).results["reading_time"]["interactions"]
    assert activity["available"] and activity["by_arm"]["unaided"]["n_reads"] == len(stored) // 2
    assert activity["by_arm"]["unaided"]["ai_toggles"] == {"median": 0, "mean": 0.0}
    assert activity["by_arm"]["aided"]["ai_toggles"]["mean"] > 0
