"""The reader-facing output serializers list exactly what a reader may see, and what the viewer reads.

``viewer_static/src/reader_fields.json`` lists the fields the viewer reads from each payload (nested
ones as dotted paths). Every one of them must be declared by the payload's output serializer; every
declared field must be read by the viewer or explained below; no declared name could carry truth or
other readers' data; and real payloads render exactly the declared fields.
"""

import json
import uuid
from pathlib import Path

import pytest
from rest_framework import serializers

from studies.api import reading_serializers as s
from studies.models import Assignment, Case, Study
from studies.services import ai_outputs, imports, schedule
from studies.services import studies as study_services

ROOT = Path(__file__).resolve().parents[2]
READER_FIELDS = json.loads((ROOT / "viewer_static/src/reader_fields.json").read_text())

OUTPUTS = {
    "worklist": s.WorklistSerializer,
    "session": s.SessionDetailSerializer,
    "assignment": s.AssignmentDetailSerializer,
    "read": s.OwnReadSerializer,
}

OWN_READ_RECORD = "the stored read's record (timings, revision, key), for API clients and audits of one's own work"

# Declared but not read by the viewer, with the reason. A path explains itself and everything under it.
NOT_READ_BY_THE_VIEWER = {
    "worklist": {"": "Django renders the worklist page; the endpoint serves API clients"},
    "read": {"": "the outbox needs only the status of the answer; the body confirms the stored read to API clients"},
    "session": {
        "id": "the viewer has the session id from its page",
        "study.id": "API clients link the session to its study",
    },
    "assignment": {
        "session": "API clients link the assignment to its session",
        "arm.name": "the arm's code as in exports, for API clients",
        "scale": "API clients reading one case; the viewer takes the scale from the session",
        **{f"read.{name}": OWN_READ_RECORD for name in (
            "assignment", "opened_at", "first_image_at", "client_submitted_at", "submitted_at", "duration_ms",
            "revision", "idempotency_key",
        )},
    },
}

# Parts of a field name that would say it holds truth, a case's identity or another person's data.
FORBIDDEN_NAME_PARTS = ("truth", "label", "disease", "diagnos", "lesion", "case", "reader", "user", "patient",
                        "accession", "metadata", "site", "group", "code", "specialty")
# Names with such a part that are safe, and why.
SAFE_NAMES = {
    "arm.label": "the display name of the arm being read (e.g. 'With AI'), not a case label",
    "scale.labels": "the names of the steps of the rating scale",
}


def declared_paths(serializer: serializers.BaseSerializer) -> set[str]:
    """The serializer's leaf fields as dotted paths (a list of objects contributes its items' fields)."""
    paths = set()
    for name, field in serializer.fields.items():
        item = field.child if isinstance(field, serializers.ListSerializer) else field
        if isinstance(item, serializers.Serializer):
            paths |= {f"{name}.{path}" for path in declared_paths(item)}
        else:
            paths.add(name)
    return paths


def rendered_paths(value) -> set[str]:
    """The leaf keys of rendered JSON as dotted paths (the union over the objects of a list; an empty
    list where another item of the same list has objects adds nothing)."""
    paths = _paths(value)
    return {path for path in paths if not any(other.startswith(f"{path}.") for other in paths)}


def _paths(value, prefix="") -> set[str]:
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return set().union(*(_paths(item, prefix) for item in value))
    if isinstance(value, dict):
        return set().union(*(_paths(item, f"{prefix}{key}.") for key, item in value.items()))
    return {prefix.removesuffix(".")}


def explained(payload: str, path: str) -> bool:
    reasons = NOT_READ_BY_THE_VIEWER[payload]
    parts = path.split(".")
    return "" in reasons or any(".".join(parts[:n]) in reasons for n in range(1, len(parts) + 1))


def test_reader_fields_file_names_every_payload():
    assert set(READER_FIELDS) == set(OUTPUTS)


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_field_the_viewer_reads_is_declared(payload):
    missing = set(READER_FIELDS[payload]) - declared_paths(OUTPUTS[payload]())
    assert not missing, f"the viewer reads {sorted(missing)} from the {payload} payload, which does not declare them"


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_declared_field_is_read_by_the_viewer_or_explained(payload):
    unread = declared_paths(OUTPUTS[payload]()) - set(READER_FIELDS[payload])
    unexplained = sorted(path for path in unread if not explained(payload, path))
    assert not unexplained, f"{payload} declares {unexplained}: not read by the viewer nor explained here"


@pytest.mark.parametrize("payload", ["session", "assignment"])
def test_explanations_are_not_stale(payload):
    """A reason kept for a field the viewer now reads, or that is gone, would hide the next change."""
    declared, read = declared_paths(OUTPUTS[payload]()), set(READER_FIELDS[payload])
    for path in NOT_READ_BY_THE_VIEWER[payload]:
        under = {p for p in declared if p == path or p.startswith(f"{path}.")}
        assert under and not under & read, path


@pytest.mark.parametrize("payload", OUTPUTS)
def test_no_field_name_could_carry_truth_or_other_readers_data(payload):
    for path in declared_paths(OUTPUTS[payload]()):
        risky = [part for part in FORBIDDEN_NAME_PARTS if part in path.lower()]
        assert not risky or path in SAFE_NAMES, f"{payload}: {path} ({', '.join(risky)})"


# ---------------------------------------------------------------- real payloads

FINDINGS = [
    {"type": "box", "x": 10, "y": 20, "width": 30, "height": 40, "score": 0.9, "sop_instance_uid": "1.2.9.1",
     "frame": 1, "label": "malignant nodule"},  # a label the import keeps and a reader must not get
    {"type": "contour", "points": [[1, 2], [3, 4], [5, 6]], "score": 0.4},
    {"type": "point", "x": 7, "y": 8},
]


@pytest.fixture
def reading_study(make_study, coordinator):
    """Sequential reading with marks and AI findings, reading; made through the services."""
    study = make_study(design=Study.Design.SEQUENTIAL, marks_enabled=True, revision_policy="audited",
                       status=Study.Status.DRAFT, washout_days=0)
    document = {"model": {"name": "detector", "version": "2", "operating_point": 0.5},
                "outputs": [{"case": case.label, "score": 0.7, "findings": FINDINGS} for case in study.cases.all()]}
    result = imports.import_ai_outputs(actor=coordinator, study=study, data=json.dumps(document).encode(),
                                       filename="ai.json")
    ai_outputs.show_output_set(actor=coordinator, output_set=study.ai_output_sets.get(pk=result["sets"][0]))
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    schedule.generate_schedule(actor=coordinator, study=study, seed=4)
    return study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)


@pytest.fixture
def payloads(reading_study, api):
    """Every reader payload as the viewer receives it, for an aided case whose unaided score is in."""
    unaided = Assignment.objects.filter(session__study=reading_study, reader__code="R01",
                                        arm__shows_ai=False).order_by("order").first()
    aided = Assignment.objects.get(session=unaided.session, case=unaided.case, arm__shows_ai=True)
    client = api(unaided.reader.user)
    mark = {"x": 12.5, "y": 40, "confidence": 70, "instance_uid": "1.2.9.1", "frame": 1}
    posted = client.post("/api/v1/reads/", {"assignment": unaided.pk, "idempotency_key": str(uuid.uuid4()),
                                             "rating": 70, "marks": [mark], "comment": "left"}, format="json")
    assert posted.status_code == 201, posted.content
    return {
        "worklist": client.get("/api/v1/worklist/").json(),
        "session": client.get(f"/api/v1/sessions/{unaided.session_id}/").json(),
        "assignment": client.get(f"/api/v1/assignments/{unaided.pk}/").json(),
        "aided": client.get(f"/api/v1/assignments/{aided.pk}/").json(),
        "read": posted.json(),
    }


def test_rendered_payloads_have_exactly_the_declared_fields(payloads):
    unaided, aided = payloads["assignment"], payloads["aided"]
    assert unaided["read"] and unaided["ai"] is None and aided["ai"] and aided["read"] is None
    # One assignment shows the read, the other the AI output: together they render every field.
    payloads["assignment"] = {**unaided, "ai": aided["ai"]}
    for payload, serializer in OUTPUTS.items():
        assert rendered_paths(payloads[payload]) == declared_paths(serializer()), payload


def test_payloads_keep_the_values_as_stored(payloads):
    mark = payloads["assignment"]["read"]["marks"][0]
    assert mark == {"x": 12.5, "y": 40, "confidence": 70, "instance_uid": "1.2.9.1", "frame": 1}
    findings = [f for output in payloads["aided"]["ai"] for f in output["findings"]]
    assert {"type": "contour", "points": [[1, 2], [3, 4], [5, 6]], "score": 0.4} in findings
    assert payloads["session"]["scale"] == {
        "type": "continuous", "min": 0.0, "max": 100.0, "labels": [], "binary_decision": False,
        "marks_enabled": True, "max_marks": 5, "revisions_allowed": True,
    }


def test_payloads_carry_no_case_label_truth_or_unlisted_finding_key(payloads, reading_study):
    text = json.dumps(payloads)
    for label in Case.objects.filter(study=reading_study).values_list("label", flat=True):
        assert f'"{label}"' not in text
    assert "truth" not in text and "malignant" not in text
