"""The training payloads against what the viewer reads in training mode (``viewer_static/src/training_fields.json``):
every field read is declared by the output serializer, every declared field is read or explained here, and real
payloads render exactly the declared fields. Truth appears only under ``feedback``, once the reader's score is in
(``test_training``)."""

import json
import uuid
from pathlib import Path

import pytest

from studies.api import training_serializers as s

from .test_reader_payloads import declared_paths, rendered_paths
from .training_world import training_study

ROOT = Path(__file__).resolve().parents[2]
TRAINING_FIELDS = json.loads((ROOT / "viewer_static/src/training_fields.json").read_text())

OUTPUTS = {"training": s.TrainingSerializer, "training_case": s.TrainingCaseSerializer}

OWN_READ_RECORD = "the stored training read's record (timings, key), for API clients"

# Declared but not read by the viewer, with the reason. A path explains itself and everything under it.
NOT_READ_BY_THE_VIEWER = {
    "training": {
        "study.id": "the viewer has the study id from its page",
        "study.design": "training arms are read in the order the items give, whatever the design",
        "read": "the viewer counts the training reads from the items and its outbox",
        "next": "the viewer picks the next item from the items and its outbox (a score not sent yet counts)",
        "items.read_first_in": "the items come case by case with the arms in order: the first unread is readable",
        "qualification.passed": "the reader qualifies once qualified_at is set; that is what the panel says",
        "qualification.evaluated_at": "for API clients",
        "qualification.cases_read": "the panel shows the training reads and the min_cases criterion",
        "qualification.cases_available": "the panel shows the training reads and the min_cases criterion",
        "qualification.reads_evaluated": "for API clients",
    },
    "training_case": {
        "case": "the viewer has the case from the overview's item",
        "order": "the viewer has the order from the overview's item",
        "arm": "the viewer has the arm from the overview's item",
        "scale": "the viewer takes the scale from the overview",
        "final_because": "training reads are final: the viewer never offers a change",
        "feedback.lesions.weight": "the FROC weight of a lesion: the panel draws where the lesion is",
        **{f"read.{name}": OWN_READ_RECORD for name in (
            "case", "arm", "opened_at", "submitted_at", "duration_ms", "idempotency_key")},
    },
}


def explained(payload: str, path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in NOT_READ_BY_THE_VIEWER[payload] for n in range(1, len(parts) + 1))


def test_training_fields_file_names_every_training_payload():
    assert set(TRAINING_FIELDS) == set(OUTPUTS)


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_field_the_viewer_reads_in_training_is_declared(payload):
    missing = set(TRAINING_FIELDS[payload]) - declared_paths(OUTPUTS[payload]())
    assert not missing, f"the viewer reads {sorted(missing)} from the {payload} payload, which does not declare them"


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_declared_training_field_is_read_or_explained(payload):
    unread = declared_paths(OUTPUTS[payload]()) - set(TRAINING_FIELDS[payload])
    unexplained = sorted(path for path in unread if not explained(payload, path))
    assert not unexplained, f"{payload} declares {unexplained}: not read by the viewer nor explained here"


@pytest.mark.parametrize("payload", OUTPUTS)
def test_training_explanations_are_not_stale(payload):
    declared, read = declared_paths(OUTPUTS[payload]()), set(TRAINING_FIELDS[payload])
    for path in NOT_READ_BY_THE_VIEWER[payload]:
        under = {p for p in declared if p == path or p.startswith(f"{path}.")}
        assert under and not under & read, path


def test_rendered_training_payloads_have_exactly_the_declared_fields(api, coordinator):
    study = training_study(coordinator, marks_enabled=True)
    reader = study.readers.get(code="R01")
    diseased = study.cases.filter(is_training=True, truth=1).order_by("pk").first()
    # every key a finding and a lesion may have, as the imports store them
    diseased.ai_outputs.update(findings=[
        {"type": "box", "x": 1, "y": 2, "width": 3, "height": 4, "score": 0.9, "sop_instance_uid": "1.2.3.4", "frame": 1},
        {"type": "contour", "points": [[1, 2], [3, 4], [5, 6]], "score": 0.4}])
    diseased.lesions = [{**diseased.lesions[0], "weight": 1.0}]
    diseased.save(update_fields=["lesions"])
    client = api(reader.user)
    body = {"case": diseased.pk, "arm": "unaided", "idempotency_key": str(uuid.uuid4()), "rating": 70,
            "marks": [{"x": 1, "y": 2, "confidence": 60, "instance_uid": "1.2.3.4", "frame": 1}]}
    assert client.post(f"/api/v1/studies/{study.pk}/training/reads/", body, format="json").status_code == 201
    aided_body = {**body, "arm": "aided", "idempotency_key": str(uuid.uuid4())}
    assert client.post(f"/api/v1/studies/{study.pk}/training/reads/", aided_body, format="json").status_code == 201
    overview = client.get(f"/api/v1/studies/{study.pk}/training/").json()
    # Read in the AI arm, the case carries the AI while open, the read and the feedback with the AI's output.
    case = client.get(f"/api/v1/studies/{study.pk}/training/{diseased.pk}/aided/").json()
    assert case["ai"] and case["read"] and case["feedback"]["ai"] and case["feedback"]["lesions"]
    assert overview["next"] and overview["qualification"]["criteria"]
    assert rendered_paths(overview) == declared_paths(s.TrainingSerializer())
    assert rendered_paths(case) == declared_paths(s.TrainingCaseSerializer())
