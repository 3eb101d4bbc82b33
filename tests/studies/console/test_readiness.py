"""The readiness gates: each item ok or failing with what was found and how to fix it, and the study
refused the step to enrolling or reading while an item of that gate fails."""

import hashlib
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from studies.errors import RuleViolation
from studies.models import (
    AIOutput,
    Assignment,
    Case,
    DicomInstance,
    DicomSeries,
    DicomStudy,
    Role,
    Study,
    StudyMembership,
)
from studies.services import ingest, readiness, schedule
from studies.services import studies as study_services
from tests.conftest import create_user
from tests.dicomweb.images import write_case_images

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("image_records_checked")]

DX = "1.2.840.10008.5.1.4.1.1.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def index_images(case: Case, frames: int = 1) -> None:
    """Index rows as ingest writes them for one stored instance of ``case`` (the item reads only these)."""
    uid = f"2.25.{case.pk}{frames}"
    dicom_study = DicomStudy.objects.create(study=case.study, case=case, study_instance_uid=uid)
    series = DicomSeries.objects.create(dicom_study=dicom_study, series_instance_uid=f"{uid}.1")
    DicomInstance.objects.create(series=series, sop_instance_uid=f"{uid}.1.1", sop_class_uid=DX,
                                 transfer_syntax_uid=EXPLICIT_LE, number_of_frames=frames,
                                 sha256=hashlib.sha256(uid.encode()).hexdigest(), size=100)


def items(study: Study, to: str) -> dict[str, readiness.Item]:
    return {item.key: item for item in readiness.gate(study, to).items}


def imaged_draft(make_study, **options) -> Study:
    study = make_study(status=Study.Status.DRAFT, **options)
    for case in study.cases.all():
        index_images(case)
    return study


def test_a_study_without_images_may_not_enrol_and_is_told_which_cases_and_how(make_study, coordinator):
    study = make_study(status=Study.Status.DRAFT, n_cases=12)
    index_images(study.cases.get(label="C000"))
    item = items(study, "enrolling")["images"]
    assert not item.ok
    assert item.found.startswith("11 of 12 cases have no stored image: C001, C002, C003, C004, C005, C006, C007, "
                                 "C008, C009, C010 and 1 more")
    assert "upload their DICOM files" in item.fix
    with pytest.raises(RuleViolation) as refused:
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    assert str(refused.value).startswith("the study cannot start enrolling: Every case has images that decode: 11 of")
    assert [line.split(":")[0] for line in refused.value.errors] == ["Every case has images that decode"]
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_images_are_those_ingest_stored_after_checking_their_pixel_data(make_study, settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    study = make_study(status=Study.Status.DRAFT, n_cases=2)
    first, second = study.cases.order_by("label")
    write_case_images(tmp_path / "in" / "good", study_instance_uid=first.study_instance_uid, seed=1)
    broken = write_case_images(tmp_path / "in" / "broken", study_instance_uid=second.study_instance_uid, seed=2)[0]
    broken.write_bytes(broken.read_bytes()[:-500])  # pixel data cut short: refused at upload
    report = ingest.ingest_paths(actor=study.created_by, study=study, paths=[str(tmp_path / "in")])
    assert len(report.rejected) == 1 and report.stored == 1
    item = items(study, "enrolling")["images"]
    assert not item.ok and "1 of 2 cases have no stored image: C001" in item.found
    assert "codestream header" in item.found  # says how decoding was checked


def test_an_instance_without_frames_is_no_image(make_study):
    study = make_study(status=Study.Status.DRAFT, n_cases=1)
    index_images(study.cases.get(), frames=0)  # e.g. a structured report: no pixel data
    assert not items(study, "enrolling")["images"].ok


def test_upstream_images_are_the_cases_study_uids(make_study, settings):
    settings.IMAGE_MODE = "upstream"
    study = make_study(status=Study.Status.DRAFT, n_cases=3)
    assert items(study, "enrolling")["images"].ok
    Case.objects.filter(study=study, label="C002").update(study_instance_uid="")
    item = items(study, "enrolling")["images"]
    assert not item.ok and "IMAGE_MODE=upstream" in item.found and "name no StudyInstanceUID: C002" in item.found


def test_truth_subgroups_and_ai_outputs_are_required_for_every_case(make_study, coordinator):
    study = imaged_draft(make_study, n_cases=4)
    found = items(study, "enrolling")
    assert [key for key, item in found.items() if not item.ok] == []
    assert found["truth"].found == "2 diseased, 2 not diseased"
    assert found["subgroups"].found == "no subgroups are declared"

    Case.objects.filter(study=study, label="C001").update(truth=None)
    Case.objects.filter(study=study, label="C002").update(metadata={"site": ""})
    study.subgroups = ["site", "density"]
    study.save()
    AIOutput.objects.filter(case__label="C003", study=study).delete()
    found = items(study, "enrolling")
    assert not found["truth"].ok and found["truth"].found == "1 of 4 cases have no truth: C001"
    assert not found["subgroups"].ok
    assert found["subgroups"].found == ("site: 1 of 4 cases lack it: C002; "
                                        "density: 4 of 4 cases lack it: C000, C001, C002, C003")
    assert not found["ai_outputs"].ok
    assert found["ai_outputs"].found == "cases without an output of model 1 (the set shown to readers): C003"
    with pytest.raises(RuleViolation) as refused:
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    assert [line.split(":")[0] for line in refused.value.errors] == [
        "Every case has truth", "Every case has the declared subgroups' metadata",
        "AI-aided arms have an AI output for every case"]


def test_a_study_without_ai_arms_needs_no_outputs_and_one_with_them_needs_a_shown_set(make_study):
    plain = imaged_draft(make_study, arms=(("a", False), ("b", False)), n_cases=2)
    assert items(plain, "enrolling")["ai_outputs"].found == "no arm shows the AI"
    aided = imaged_draft(make_study, n_cases=2, reader_prefix="other")
    aided.ai_output_sets.all().delete()
    item = items(aided, "enrolling")["ai_outputs"]
    assert not item.ok and item.found == "no AI output set is chosen to be shown"


def test_no_arms_and_no_cases_are_named(make_study):
    study = make_study(status=Study.Status.DRAFT, arms=(), n_cases=0)
    found = items(study, "enrolling")
    assert (found["arms"].ok, found["cases"].ok) == (False, False)
    assert "import the cases" in found["cases"].fix


def test_training_cases_are_not_counted(make_study):
    study = imaged_draft(make_study, n_cases=2)
    Case.objects.create(study=study, label="T001", is_training=True)  # no images, truth or AI output
    found = items(study, "enrolling")
    assert all(item.ok for item in found.values())
    assert found["cases"].found == "2 case(s), training cases not counted"


def test_training_cases_read_with_the_ai_need_an_output_of_the_shown_set(make_study, coordinator):
    study = imaged_draft(make_study, n_cases=2)
    t1, t2 = (Case.objects.create(study=study, label=label, truth=truth, is_training=True)
              for label, truth in (("T1", 1), ("T2", 0)))
    Case.objects.create(study=study, label="T3", is_training=True)  # no truth: never shown, so needs nothing
    shown = study.ai_output_sets.get(shown=True)
    AIOutput.objects.create(study=study, output_set=shown, case=t1, model_name="model", model_version="1", score=0.7)
    study.qualification = {"min_cases": 2}  # no arms named: training is read in every arm, "aided" among them
    study.save()
    item = items(study, "enrolling")["training_ai_outputs"]
    assert not item.ok
    assert item.found == ("training cases (read with the AI in aided) without an output of model 1 (the set shown to "
                          "readers): T2")
    assert item.fix == "import or compute outputs of model 1 for them"
    with pytest.raises(RuleViolation) as refused:
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    assert [line.split(":")[0] for line in refused.value.errors] == [
        "Training arms that show the AI have an output for every training case"]

    study.qualification = {"min_cases": 2, "arms": ["unaided"]}  # trained without the AI: no output needed
    study.save()
    assert items(study, "enrolling")["training_ai_outputs"].found == "no training arm shows the AI"
    study.qualification = {"min_cases": 2}
    study.save()
    AIOutput.objects.create(study=study, output_set=shown, case=t2, model_name="model", model_version="1", score=0.2)
    item = items(study, "enrolling")["training_ai_outputs"]
    assert item.ok and item.found == "model 1 (the set shown) covers all 2 training cases (read with the AI in aided)"
    assert study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING).status == \
        "enrolling"


def test_without_a_shown_set_training_cases_read_with_the_ai_are_named_too(make_study):
    study = imaged_draft(make_study, n_cases=2)
    Case.objects.create(study=study, label="T1", truth=1, is_training=True)
    study.ai_output_sets.all().delete()
    item = items(study, "enrolling")["training_ai_outputs"]
    assert not item.ok and item.found == "no AI output set is chosen to be shown"


def _enrolling(make_study, **options) -> Study:
    study = imaged_draft(make_study, **options)
    return study_services.transition_study(actor=study.created_by, study=study, to=Study.Status.ENROLLING)


def test_reading_needs_readers_with_accounts_and_no_other_role(make_study, coordinator):
    study = _enrolling(make_study, n_readers=4, n_cases=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    r1, r2, r3, r4 = (reader.user for reader in study.readers.order_by("code"))
    r1.is_active = False
    r1.save()
    r2.set_unusable_password()
    r2.save()
    StudyMembership.objects.create(study=study, user=r3)
    r4.role = Role.COORDINATOR
    r4.save()
    found = items(study, "reading")
    assert found["reader_accounts"].found == "inactive: R01; no password set yet: R02"
    assert found["reader_roles"].found == ("R03 is also a member of the study (sees truth and every read); "
                                           "R04 has the study coordinator role")
    with pytest.raises(RuleViolation) as refused:
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    assert [line.split(":")[0] for line in refused.value.errors] == [
        "Readers have accounts they can log in with", "Readers have no conflicting role"]


def test_the_enrolling_gate_asks_nothing_of_readers_schedule_or_qualification(make_study, coordinator):
    study = imaged_draft(make_study, n_readers=0, n_cases=2)
    study.qualification = {"min_cases": 2}
    study.save()
    assert readiness.gate(study, "enrolling").ok
    found = items(study, "reading")
    assert [key for key, item in found.items() if not item.ok] == ["reader_accounts", "schedule", "balance"]


def test_qualification_is_required_only_where_the_study_has_a_rule(make_study, coordinator):
    study = _enrolling(make_study, n_readers=2, n_cases=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    assert items(study, "reading")["qualification"].found == "the study requires no qualification"
    study.qualification = {"min_cases": 2}
    study.save()
    item = items(study, "reading")["qualification"]
    assert not item.ok and item.found == "2 of 2 not yet passed: R01, R02"
    study.readers.update(qualified_at=timezone.now())
    assert items(study, "reading")["qualification"].ok
    assert study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING).status == "reading"


def test_the_schedule_must_be_complete_and_hold_no_training_case(make_study, coordinator):
    study = _enrolling(make_study, n_readers=2, n_cases=3)
    found = items(study, "reading")
    assert (found["schedule"].found, found["schedule"].fix) == ("no schedule", "generate the schedule")
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    found = items(study, "reading")
    assert found["schedule"].ok and found["schedule"].found.startswith("12 reads:")
    study_services.enroll_reader(actor=coordinator, study=study, user=create_user("late", Role.READER))
    training = Case.objects.create(study=study, label="T001", is_training=True)
    first = Assignment.objects.filter(session__study=study).first()
    Assignment.objects.create(session=first.session, reader=first.reader, case=training, arm=first.arm, order=99)
    item = items(study, "reading")["schedule"]
    assert not item.ok
    assert item.found == "reads missing for R03; 1 scheduled read(s) outside the design, of T001 (training)"
    assert "generate the schedule again" in item.fix


def _swap_sessions(reader) -> None:
    """Give the reader the other arm order: their two sessions read in the other order."""
    first, second = reader.sessions.order_by("number")
    for session, number in ((first, 99), (second, 1), (first, 2)):
        session.number = number
        session.save()


def test_the_arm_order_must_be_counterbalanced_within_one(make_study, coordinator):
    study = _enrolling(make_study, n_readers=4, n_cases=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=5)
    balance = readiness.readiness(study).balance
    assert sorted(n for _, n in balance.orders) == [2, 2]
    assert items(study, "reading")["balance"].ok
    one_of_the_second_order = next(r for r in balance.readers if r.arms == ("aided", "unaided"))
    _swap_sessions(study.readers.get(code=one_of_the_second_order.code))
    item = items(study, "reading")["balance"]
    assert not item.ok and item.found == "readers per order: 3, 1 (differ by 2)"


def test_three_arms_use_the_six_orders_of_the_williams_square(make_study, coordinator):
    study = _enrolling(make_study, n_readers=6, n_cases=3, arms=(("a", False), ("b", False), ("c", False)))
    schedule.generate_schedule(actor=coordinator, study=study, seed=2)
    balance = readiness.readiness(study).balance
    assert sorted(order for order, _ in balance.orders) == [
        ("a", "b", "c"), ("a", "c", "b"), ("b", "a", "c"), ("b", "c", "a"), ("c", "a", "b"), ("c", "b", "a")]
    assert [n for _, n in balance.orders] == [1] * 6
    assert items(study, "reading")["balance"].ok


def test_sequential_reading_is_balanced_by_design(make_study, coordinator):
    study = _enrolling(make_study, n_readers=2, n_cases=2, design=Study.Design.SEQUENTIAL)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    item = items(study, "reading")["balance"]
    assert item.ok and "unaided, then with AI" in item.found


def test_counterbalancing_tables_show_each_readers_order_and_each_cases_positions(make_study, coordinator):
    study = _enrolling(make_study, n_readers=4, n_cases=5)
    schedule.generate_schedule(actor=coordinator, study=study, seed=3)
    tables = {table.name: table for table in readiness.schedule_tables(study)}
    assert list(tables) == ["reader_orders", "arm_orders", "case_positions"]
    readers = tables["reader_orders"]
    assert readers.columns == ("reader", "group", "arm_order", "session_1", "session_2")
    for code, _, order, first, second in readers.rows:
        sessions = study.readers.get(code=code).sessions.order_by("number")
        assert order == " → ".join(session.arm.name for session in sessions)
        assert (first, second) == tuple(f"{session.arm.name}, 5 reads" for session in sessions)
    assert sorted(tables["arm_orders"].rows) == [("aided → unaided", 2, "yes"), ("unaided → aided", 2, "yes")]
    positions = tables["case_positions"]
    assert positions.columns[:5] == ("case", "unaided_reads", "unaided_first", "unaided_mean", "unaided_last")
    assert [row[0] for row in positions.rows] == ["C000", "C001", "C002", "C003", "C004"]
    for row in positions.rows:
        for reads, first, mean, last in (row[1:5], row[5:9]):
            assert reads == 4 and 1 <= first <= mean <= last <= 5
    assert readiness.schedule_tables(make_study(status=Study.Status.DRAFT, reader_prefix="x")) == []


def test_a_ready_study_starts_and_the_refusal_names_every_failing_item(make_study, coordinator):
    study = _enrolling(make_study, n_readers=2, n_cases=2)
    with pytest.raises(RuleViolation) as refused:
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    assert refused.value.errors == [
        "Every reader reads every case once per arm: no schedule (generate the schedule)",
        "The arm order is counterbalanced across readers: no schedule (generate the schedule)"]
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    assert study.status == Study.Status.READING and study.reading_starts_at <= timezone.now() + timedelta(seconds=1)


def test_sessions_that_interleave_arms_show_the_reads_of_each(make_study, coordinator):
    study = _enrolling(make_study, n_readers=2, n_cases=4, block_size=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=4)
    readers = {table.name: table for table in readiness.schedule_tables(study)}["reader_orders"]
    for code, _, order, *sessions in readers.rows:
        assert order in ("unaided → aided", "aided → unaided")
        for number, shown in enumerate(sessions, start=1):
            per_arm = Counter(Assignment.objects.filter(reader__code=code, reader__study=study, session__number=number)
                              .values_list("arm__name", flat=True))
            assert shown == " + ".join(f"{arm} {n}" for arm, n in per_arm.items())
            assert sorted(part.split()[0] for part in shown.split(" + ")) == ["aided", "unaided"]
    assert items(study, "reading")["balance"].ok
