"""A draft study of six cases with a truthing panel: three truthers (E1..E3) and an adjudicator (A1)."""

import uuid

import pytest

from studies.models import Role, Study
from studies.services import truthing
from tests.conftest import create_study, create_user

RULE = {"rounds": 2, "marks": ["box", "point", "polygon"], "matching": {"iou": 0.5, "point_radius": 10},
        "thresholds": {"kappa": 0.6, "dice": 0.7}, "final": "adjudicated"}
UID = "1.2.840.1"


def box(x0, y0, x1, y1, uid=UID, frame=1) -> dict:
    return {"type": "box", "sop_instance_uid": uid, "frame": frame, "points": [[x0, y0], [x1, y1]]}


def point(x, y, uid=UID) -> dict:
    return {"type": "point", "sop_instance_uid": uid, "frame": 1, "points": [[x, y]]}


@pytest.fixture
def panel_study(db, coordinator) -> Study:
    study = create_study(coordinator, n_readers=0, n_cases=6, arms=(("unaided", False),), status=Study.Status.DRAFT)
    truthing.set_rule(actor=coordinator, study=study, rule=RULE)
    for name in ("truther1", "truther2", "truther3"):
        truthing.add_member(actor=coordinator, study=study, user=create_user(name, Role.TRUTHER))
    truthing.add_member(actor=coordinator, study=study, user=create_user("adjudicator", Role.TRUTHER),
                        adjudicator=True)
    return Study.objects.get(pk=study.pk)


def member_user(study: Study, code: str):
    return study.truthing_members.get(code=code).user


def label(study: Study, code: str, case, round_: int, value: int, lesions=()):
    stored, created = truthing.submit_label(user=member_user(study, code), study_id=study.pk, case_id=case.pk,
                                            round=round_, idempotency_key=uuid.uuid4(), label=value,
                                            lesions=list(lesions))
    assert created
    return stored


def label_all(study: Study, round_: int, table: dict[str, list[int]], lesions: dict | None = None) -> None:
    """``table``: code -> a label per case (in id order); ``lesions``: (code, case index) -> marks."""
    cases = list(study.cases.order_by("id"))
    for code, values in table.items():
        for i, (case, value) in enumerate(zip(cases, values, strict=True)):
            label(study, code, case, round_, value, (lesions or {}).get((code, i), ()))
