"""The interaction record of a read (studies.services.interactions): checked whole and stored with a
first read through the idempotent submission, absent for an older viewer, never part of a change;
summarised per arm from the reads export's columns."""

import copy
import json
import uuid

import pytest

from studies.errors import InvalidInput
from studies.models import Assignment, Read
from studies.services import interactions, reads


def record(**changes) -> dict:
    """A record as the viewer sends it: three images of a 2x2 hanging, a window/level drag and a zoom,
    the AI findings hidden and shown again."""
    value = {
        "v": 1,
        "images": [[0, 0, 5200], [1, 0, 800], [3, 2, 0]],
        "wl": 1, "zoom": 1, "pan": 0, "invert": 0, "ai_toggles": 2,
        "events": [[14, "wl"], [31, "zoom"], [40, "ai_off"], [52, "ai_on"]],
        "truncated": False,
    }
    value.update(changes)
    return value


def first_assignment(study, reader_code="R01"):
    return (Assignment.objects.filter(session__study=study, reader__code=reader_code, session__number=1)
            .order_by("order").first())


def read_body(assignment, **extra):
    return {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 55, **extra}


def test_a_valid_record_is_kept_as_sent():
    sent = record()
    assert interactions.checked_interactions(copy.deepcopy(sent)) == sent
    assert interactions.checked_interactions(None) == {}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ([1, 2], "must be an object"),
        (record(v=2), "version 2 is not one this server reads"),
        (record(v=True), "version True"),
        ({k: v for k, v in record().items() if k != "pan"}, "missing pan"),
        (record(scroll=3), "unknown key 'scroll'"),
        (record(wl=-1), "wl must be a whole number"),
        (record(zoom=2.0), "zoom must be a whole number"),
        (record(ai_toggles=True), "ai_toggles must be a whole number"),
        (record(truncated="no"), "truncated must be true or false"),
        (record(images={"0": 1}), "images must be a list"),
        (record(images=[[0, 0, -5]]), r"images\[0\] must be \[set"),
        (record(images=[[0, 0]]), r"images\[0\] must be \[set"),
        (record(images=[[100, 0, 5]]), r"images\[0\] must be \[set"),
        (record(images=[[0, 1, 5], [0, 1, 7]]), r"images\[1\] repeats image 1 of set 0"),
        (record(images=[[0, i, 1] for i in range(interactions.MAX_IMAGES + 1)]), "at most 4000 entries"),
        (record(events=[[3, "measure"]]), r"events\[0\] must be \[tenths of a second"),
        (record(events=[["3", "wl"]]), r"events\[0\] must be"),
        (record(events=[[5, "wl"], [4, "zoom"]]), r"events\[1\] is earlier"),
        (record(events=[[i, "wl"] for i in range(interactions.MAX_EVENTS + 1)]), "at most 200 entries"),
    ],
)
def test_a_record_out_of_its_form_is_refused_naming_the_problem(value, named):
    with pytest.raises(InvalidInput, match=named) as refused:
        interactions.checked_interactions(value)
    assert refused.value.field == "interactions"


def test_a_record_over_64_kib_is_refused_before_its_parts_are_read():
    bulky = record(images=[[0, i, 10**9] for i in range(interactions.MAX_IMAGES)])
    assert len(json.dumps(bulky, separators=(",", ":"))) > 64 * 1024
    with pytest.raises(InvalidInput, match=r"is \d+ bytes of JSON; at most 65536"):
        interactions.checked_interactions(bulky)


def test_the_record_is_stored_with_the_read_and_a_retry_returns_it(make_study, api):
    study = make_study()
    assignment = first_assignment(study)
    client = api(assignment.reader.user)
    body = read_body(assignment, interactions=record())
    first = client.post("/api/v1/reads/", body, format="json")
    again = client.post("/api/v1/reads/", {**body, "interactions": record(wl=9)}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert Read.objects.get().interactions == record()  # the retry's copy is not stored over it
    assert "interactions" not in first.json()  # the reader's own read does not send it back


def test_a_viewer_without_the_record_still_submits(make_study, api):
    study = make_study()
    assignment = first_assignment(study)
    response = api(assignment.reader.user).post("/api/v1/reads/", read_body(assignment), format="json")
    assert response.status_code == 201
    assert Read.objects.get().interactions == {}
    null = api(first_assignment(study, "R02").reader.user).post(
        "/api/v1/reads/", read_body(first_assignment(study, "R02"), interactions=None), format="json")
    assert null.status_code == 201


def test_an_invalid_record_refuses_the_whole_read(make_study, api):
    study = make_study()
    assignment = first_assignment(study)
    response = api(assignment.reader.user).post(
        "/api/v1/reads/", read_body(assignment, interactions=record(events=[[1, "rotate"]])), format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "interactions" and "events[0]" in response.json()["detail"]
    assert not Read.objects.exists()


def test_a_change_to_a_read_keeps_its_record_and_takes_none(make_study, api):
    study = make_study(revision_policy="audited")
    assignment = first_assignment(study)
    read, _ = reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                                values=reads.ReadInput(rating=20, interactions=record()))
    client = api(assignment.reader.user)
    change = {"idempotency_key": str(uuid.uuid4()), "rating": 70, "reason": "second look"}
    refused = client.patch(f"/api/v1/reads/{read.pk}/", {**change, "interactions": record(wl=5)}, format="json")
    assert refused.status_code == 400 and "interactions" in json.dumps(refused.json())
    assert client.patch(f"/api/v1/reads/{read.pk}/", change, format="json").status_code == 200
    read.refresh_from_db()
    assert read.rating == 70 and read.interactions == record()


def _row(arm, dwell="", viewed="", wl="", zoom="", pan="", ai=""):
    return {"treatment": arm, "image_dwell_ms": dwell, "images_viewed": viewed, "wl_changes": wl,
            "zoom_changes": zoom, "pan_changes": pan, "ai_toggles": ai}


def test_summary_per_arm_over_the_reads_with_a_record():
    rows = [
        _row("aided", "12000", "1", "2", "0", "1", "1"),
        _row("aided", "30000", "4", "0", "1", "0", "3"),
        _row("aided", "18000", "2", "5", "2", "0", "0"),
        _row("aided"),  # read by a viewer without the record
        _row("unaided", "40000", "1", "1", "1", "1", "0"),
        _row("unaided", "20000", "2", "3", "0", "0", "0"),
        _row("other"),
    ]
    summary = interactions.summary_by_arm(rows)
    assert summary["other"] == {"n_reads": 0}
    aided, unaided = summary["aided"], summary["unaided"]
    assert aided["n_reads"] == 3 and unaided["n_reads"] == 2
    assert aided["median_dwell_s"] == 18.0 and unaided["median_dwell_s"] == 30.0
    assert aided["median_images_viewed"] == 2
    assert aided["wl_changes"] == {"median": 2, "mean": pytest.approx(7 / 3)}
    assert unaided["zoom_changes"] == {"median": 0.5, "mean": 0.5}
    assert aided["ai_toggles"] == {"median": 1, "mean": pytest.approx(4 / 3)}
