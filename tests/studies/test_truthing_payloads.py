"""The truthing payloads against what the workstation's truthing mode reads (``viewer_static/src/truthing_fields.json``):
every field read is declared by the output serializer, every declared field is read or explained here, and real
payloads render exactly the declared fields."""

import json
import uuid
from pathlib import Path

import pytest

from studies.api import truthing_serializers as s
from studies.models import Role, Study
from studies.services import truthing
from tests.conftest import create_study, create_user

from .test_reader_payloads import declared_paths, rendered_paths

ROOT = Path(__file__).resolve().parents[2]
TRUTHING_FIELDS = json.loads((ROOT / "viewer_static/src/truthing_fields.json").read_text())

OUTPUTS = {"truthing_panels": s.PanelSerializer, "truthing_cases": s.MemberCaseSerializer,
           "truthing_disputes": s.DisputeSerializer, "truthing_case": s.MemberCaseDetailSerializer}
PROGRESS = "the viewer counts the cases done from the cases and its outbox (a label not sent yet counts)"
FROM_THE_CASE = "the viewer opens each case's own payload, which gives it"

# Declared but not read by the viewer, with the reason. A path explains itself and everything under it.
NOT_READ_BY_THE_VIEWER = {
    "truthing_panels": {"code": "the worklist shows the member's code; the workstation shows others' codes",
                        "cases_total": PROGRESS, "cases_done": PROGRESS, "disputes_open": PROGRESS},
    "truthing_cases": {"label": FROM_THE_CASE, "study_instance_uid": FROM_THE_CASE},
    "truthing_disputes": {"label": FROM_THE_CASE, "study_instance_uid": FROM_THE_CASE, "labels": FROM_THE_CASE},
    "truthing_case": {
        "case": "the viewer has the case from the list",
        "round": "the viewer labels the case in the round the list gives",
        "own.lesions": "a case labelled already is skipped: only whether it is matters",
        "own.comment": "a case labelled already is skipped: only whether it is matters",
    },
}


def explained(payload: str, path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in NOT_READ_BY_THE_VIEWER[payload] for n in range(1, len(parts) + 1))


def test_truthing_fields_file_names_every_truthing_payload():
    assert set(TRUTHING_FIELDS) == set(OUTPUTS)


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_field_truthing_mode_reads_is_declared(payload):
    missing = set(TRUTHING_FIELDS[payload]) - declared_paths(OUTPUTS[payload]())
    assert not missing, f"truthing mode reads {sorted(missing)} from the {payload} payload, which does not declare them"


@pytest.mark.parametrize("payload", OUTPUTS)
def test_every_declared_truthing_field_is_read_or_explained(payload):
    unread = declared_paths(OUTPUTS[payload]()) - set(TRUTHING_FIELDS[payload])
    unexplained = sorted(path for path in unread if not explained(payload, path))
    assert not unexplained, f"{payload} declares {unexplained}: not read by the viewer nor explained here"


@pytest.mark.parametrize("payload", OUTPUTS)
def test_truthing_explanations_are_not_stale(payload):
    declared, read = declared_paths(OUTPUTS[payload]()), set(TRUTHING_FIELDS[payload])
    for path in NOT_READ_BY_THE_VIEWER[payload]:
        under = {p for p in declared if p == path or p.startswith(f"{path}.")}
        assert under and not under & read, path


def test_rendered_truthing_payloads_have_exactly_the_declared_fields(api, coordinator):
    """Two truthers disagree on C000 in both rounds (E1 with a box): round 2 shows E1's mark to E2, and C000 is a
    dispute for the adjudicator."""
    study = create_study(coordinator, n_readers=0, n_cases=2, arms=(("unaided", False),), status=Study.Status.DRAFT)
    truthing.set_rule(actor=coordinator, study=study, rule={"rounds": 2, "marks": ["box"], "final": "adjudicated"})
    users = [create_user(name, Role.TRUTHER) for name in ("e1", "e2", "chief")]
    for user in users:
        truthing.add_member(actor=coordinator, study=study, user=user, adjudicator=user.username == "chief")
    cases = list(study.cases.order_by("pk"))
    box = {"type": "box", "sop_instance_uid": "1.2.3", "frame": 1, "points": [[1, 2], [30, 40]]}
    for round_ in (1, 2):
        for user, first in ((users[0], 1), (users[1], 0)):
            for case, value in zip(cases, (first, 0), strict=True):
                if round_ == 2 and user == users[1] and case == cases[0]:
                    e2_view = api(user).get(f"/api/v1/studies/{study.pk}/truthing/cases/{case.pk}/").json()
                truthing.submit_label(user=user, study_id=study.pk, case_id=case.pk, round=round_,
                                      idempotency_key=uuid.uuid4(), label=value, lesions=[box] if value else [])
    truther, adjudicator = api(users[0]), api(users[2])
    base = f"/api/v1/studies/{study.pk}/truthing"
    rendered = {
        "truthing_panels": truther.get("/api/v1/truthing/").json(),
        "truthing_cases": truther.get(f"{base}/cases/").json(),
        "truthing_disputes": adjudicator.get(f"{base}/disputes/").json(),
    }
    assert e2_view["others"][0]["lesions"] and not e2_view["own"]
    labelled = truther.get(f"{base}/cases/{cases[0].pk}/").json()
    assert labelled["own"]["lesions"] and rendered["truthing_disputes"][0]["labels"]
    for payload, value in rendered.items():
        assert rendered_paths(value) == declared_paths(OUTPUTS[payload]()), payload
    assert rendered_paths([labelled, e2_view]) == declared_paths(s.MemberCaseDetailSerializer())
