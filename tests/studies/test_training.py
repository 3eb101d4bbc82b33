"""Training reads through the reader's API: what is shown before and after a score, the order of the arms,
idempotent and final submissions, the evaluation after each read, and the qualification it leads to."""

import uuid

import pytest

from studies.models import AuditEvent, Reader, Study, TrainingRead
from studies.services import qualification

from .training_world import FINDING, LESION, RULE, add_training_cases, train, train_well, training_study


@pytest.fixture
def study(coordinator) -> Study:
    return training_study(coordinator)


@pytest.fixture
def reader(study) -> Reader:
    return study.readers.get(code="R01")


def case(study, label):
    return study.cases.get(label=label)


def post_score(api, reader, training_case, arm, rating=80, **body):
    payload = {"case": training_case.pk, "arm": arm, "idempotency_key": str(uuid.uuid4()), "rating": rating, **body}
    return api(reader.user).post(f"/api/v1/studies/{reader.study_id}/training/reads/", payload, format="json")


def test_the_training_lists_every_case_in_every_training_arm(api, study, reader):
    response = api(reader.user).get(f"/api/v1/studies/{study.pk}/training/")
    assert response.status_code == 200
    body = response.json()
    assert body["required"] is True and body["qualified_at"] is None and body["is_open"] is True
    training_cases = list(study.cases.filter(is_training=True).order_by("pk").values_list("pk", flat=True))
    assert [(item["case"], item["arm"]["name"], item["read_first_in"]) for item in body["items"]] == [
        (pk, arm, first) for pk in training_cases for arm, first in (("unaided", None), ("aided", "unaided"))]
    assert body["next"]["case"] == training_cases[0] and body["next"]["arm"]["name"] == "unaided"
    assert body["read"] == 0
    assert [c["name"] for c in body["qualification"]["criteria"]] == [
        "min_cases", "min_auc", "min_agreement", "calibration.positives_above_negatives", "calibration.min_spread"]
    assert {key for item in body["items"] for key in item} == {"case", "order", "arm", "read", "read_first_in"}


def test_a_training_case_shows_no_truth_until_scored_then_the_feedback(api, study, reader):
    diseased = case(study, "T00")
    url = f"/api/v1/studies/{study.pk}/training/{diseased.pk}/unaided/"
    before = api(reader.user).get(url).json()
    assert before["is_open"] and before["study_instance_uid"] == diseased.study_instance_uid
    assert before["read"] is None and before["feedback"] is None and before["ai"] is None
    assert "1.2.3.4" not in str(before)  # the lesion's image
    response = post_score(api, reader, diseased, "unaided", rating=30, opened_at="2026-01-01T10:00:00Z",
                          submitted_at="2026-01-01T10:00:42Z")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["feedback"] == {"truth": 1, "lesions": [LESION], "call": False, "correct": False, "ai": None}
    assert answer["read"]["duration_ms"] == 42000 and answer["read"]["arm"] == "unaided"
    assert answer["qualification"]["reads_evaluated"] == 1
    after = api(reader.user).get(url).json()
    assert after["read"]["rating"] == 30 and after["feedback"]["truth"] == 1
    assert after["final_because"] == "training reads are final"


def test_the_ai_arm_waits_for_the_first_arm_then_shows_the_ai_while_reading_and_after(api, study, reader):
    diseased = case(study, "T00")
    url = f"/api/v1/studies/{study.pk}/training/{diseased.pk}/aided/"
    waiting = api(reader.user).get(url).json()
    assert not waiting["is_open"] and waiting["reason_closed"] == "read this case in unaided first"
    assert waiting["study_instance_uid"] is None and waiting["ai"] is None
    refused = post_score(api, reader, diseased, "aided")
    assert refused.status_code == 409 and "read this case in unaided first" in refused.json()["detail"]
    assert "code" not in refused.json()  # not a twin of a stored read: the workstation must not drop it as saved
    assert post_score(api, reader, diseased, "unaided").status_code == 201
    shown = api(reader.user).get(url).json()
    assert shown["is_open"] and [output["score"] for output in shown["ai"]] == [0.9]
    assert shown["ai"][0]["findings"] == [FINDING]
    feedback = post_score(api, reader, diseased, "aided").json()["feedback"]
    assert feedback["truth"] == 1 and [output["score"] for output in feedback["ai"]] == [0.9]


def test_a_retry_returns_the_stored_read_and_a_second_score_is_refused(api, study, reader):
    training_case = case(study, "T02")
    body = {"case": training_case.pk, "arm": "unaided", "idempotency_key": str(uuid.uuid4()), "rating": 20}
    client, url = api(reader.user), f"/api/v1/studies/{study.pk}/training/reads/"
    first = client.post(url, body, format="json")
    retry = client.post(url, body, format="json")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["read"]["id"] == first.json()["read"]["id"]
    again = client.post(url, {**body, "idempotency_key": str(uuid.uuid4()), "rating": 90}, format="json")
    assert again.status_code == 409 and "training reads are final" in again.json()["detail"]
    assert again.json()["code"] == "already_read"
    other_case = client.post(url, {**body, "case": case(study, "T03").pk}, format="json")
    assert other_case.status_code == 409 and "belongs to another training read" in other_case.json()["detail"]
    assert list(TrainingRead.objects.values_list("rating", flat=True)) == [20]


@pytest.mark.parametrize("body,field", [
    ({"rating": 101}, "rating"),
    ({"rating": 50, "marks": [{"x": 1, "y": 2, "confidence": 50}]}, "marks"),
    ({"rating": 50, "opened_at": "2026-01-01T10:00:00Z", "submitted_at": "2026-01-01T09:00:00Z"}, "opened_at"),
])
def test_a_training_score_is_checked_like_a_read(api, study, reader, body, field):
    response = post_score(api, reader, case(study, "T00"), "unaided", **body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert not TrainingRead.objects.exists()


def test_the_decision_is_required_where_the_study_asks_for_one(api, coordinator):
    study = training_study(coordinator, rule={"min_cases": 1}, binary_decision=True)
    reader = study.readers.get(code="R01")
    assert post_score(api, reader, case(study, "T00"), "unaided").json()["field"] == "decision"
    answer = post_score(api, reader, case(study, "T00"), "unaided", decision=True).json()
    assert answer["feedback"]["call"] is True and answer["feedback"]["correct"] is True


@pytest.mark.parametrize("body,key", [({"first_image_at": "2026-01-01T10:00:00Z"}, "first_image_at"),
                                      ({"assignment": 1}, "assignment")])
def test_keys_of_a_study_read_are_refused(api, study, reader, body, key):
    response = post_score(api, reader, case(study, "T00"), "unaided", **body)
    assert response.status_code == 400 and key in response.json()


def test_not_a_training_case_nor_a_training_arm_is_not_found(api, coordinator):
    study = training_study(coordinator, rule={"min_cases": 1, "arms": ["aided"]})
    reader = study.readers.get(code="R01")
    assert post_score(api, reader, case(study, "C000"), "aided").status_code == 404  # a case of the study itself
    assert post_score(api, reader, case(study, "T00"), "unaided").status_code == 404  # not a training arm
    assert post_score(api, reader, case(study, "T00"), "aided").status_code == 201  # the only arm is the first
    url = f"/api/v1/studies/{study.pk}/training/{case(study, 'C000').pk}/aided/"
    assert api(reader.user).get(url).status_code == 404


def test_training_cases_without_truth_are_not_offered(api, coordinator, study, reader):
    study.cases.filter(label="T03").update(truth=None)
    items = api(reader.user).get(f"/api/v1/studies/{study.pk}/training/").json()["items"]
    assert case(study, "T03").pk not in {item["case"] for item in items}


@pytest.mark.parametrize("status", [Study.Status.DRAFT, Study.Status.LOCKED])
def test_training_is_closed_outside_enrolling_and_reading(api, study, reader, status):
    Study.objects.filter(pk=study.pk).update(status=status)
    response = post_score(api, reader, case(study, "T00"), "unaided")
    assert response.status_code == 403
    assert response.json()["detail"] == f"the study is {status}: training is open while it is enrolling or reading"
    overview = api(reader.user).get(f"/api/v1/studies/{study.pk}/training/").json()
    assert overview["is_open"] is False and overview["next"]["arm"]["name"] == "unaided"


def test_another_readers_training_is_not_theirs(api, make_user, study, reader):
    outsider = make_user("outsider", "reader")
    assert api(outsider).get(f"/api/v1/studies/{study.pk}/training/").status_code == 404
    assert post_score(api, Reader(study=study, user=outsider), case(study, "T00"), "unaided").status_code == 404
    train(reader, case(study, "T00"), "unaided", 70)
    r02 = api(study.readers.get(code="R02").user).get(f"/api/v1/studies/{study.pk}/training/").json()
    assert r02["read"] == 0 and r02["qualification"]["reads_evaluated"] == 0


def test_staff_have_no_training(api, coordinator, study):
    assert api(coordinator).get(f"/api/v1/studies/{study.pk}/training/").status_code == 403


def test_the_reader_qualifies_once_every_criterion_holds_and_stays_qualified(api, coordinator, study, reader):
    cases = list(study.cases.filter(is_training=True).order_by("pk"))
    for training_case in cases[:3]:
        for arm in ("unaided", "aided"):
            train(reader, training_case, arm, 90 if training_case.truth else 10)
    reader.refresh_from_db()
    assert reader.qualified_at is None
    assert reader.qualification["summary"] == "3 of 4 training cases read"
    train(reader, cases[3], "unaided", 10)
    reader.refresh_from_db()
    assert reader.qualified_at is None  # the last case is not yet read in every training arm
    last = post_score(api, reader, cases[3], "aided", rating=10).json()
    assert last["qualification"]["passed"] is True
    reader.refresh_from_db()
    assert reader.qualified_at is not None
    event = AuditEvent.objects.get(action=qualification.QUALIFIED_EVENT)
    assert (event.entity, event.entity_id, event.study_id) == ("studies.Reader", str(reader.pk), study.pk)
    assert event.actor_username == reader.user.username
    assert event.after["rule"] == RULE
    assert {c["name"]: c["value"] for c in event.after["criteria"]}["min_auc"] == 1.0
    # a training case added later and read against its truth changes neither the date nor the figures
    qualified_at, figures = reader.qualified_at, reader.qualification
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    (added,) = add_training_cases(study, truth=(1,), start=4)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.ENROLLING)
    train(reader, added, "unaided", 0)
    reader.refresh_from_db()
    assert (reader.qualified_at, reader.qualification) == (qualified_at, figures)
    assert AuditEvent.objects.filter(action=qualification.QUALIFIED_EVENT).count() == 1


def test_a_study_without_a_rule_offers_practice_and_evaluates_nothing(api, coordinator):
    study = training_study(coordinator, rule={})
    reader = study.readers.get(code="R01")
    answer = post_score(api, reader, case(study, "T00"), "unaided").json()
    assert answer["qualification"] is None and answer["feedback"]["truth"] == 1
    overview = api(reader.user).get(f"/api/v1/studies/{study.pk}/training/").json()
    assert overview["required"] is False and overview["qualification"] is None
    reader.refresh_from_db()
    assert reader.qualified_at is None and reader.qualification == {}


def test_a_failing_reader_sees_why(api, study, reader):
    train_well(study.readers.get(code="R02"))
    for training_case in study.cases.filter(is_training=True).order_by("pk"):
        for arm in ("unaided", "aided"):
            train(reader, training_case, arm, 10 if training_case.truth else 90)  # the scale upside down
    body = api(reader.user).get(f"/api/v1/studies/{study.pk}/training/").json()
    assert body["next"] is None and body["qualified_at"] is None
    criteria = {c["name"]: c for c in body["qualification"]["criteria"]}
    assert criteria["min_cases"]["passed"] and criteria["calibration.min_spread"]["passed"]
    assert (criteria["min_auc"]["value"], criteria["min_agreement"]["value"]) == (0.0, 0.0)
    assert criteria["calibration.positives_above_negatives"]["value"] == -80
    assert not body["qualification"]["passed"]
    assert study.readers.get(code="R02").qualified_at is not None
