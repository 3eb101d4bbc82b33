"""The protocol's truthing section (the rule and the panel, errors at their line), and the demo's panel."""

from pathlib import Path

import pytest

from studies.errors import InvalidInput
from studies.models import Role, Study, User
from studies.services import truthing
from studies.services.demo import seed_demo
from studies.services.demo_truthing import TRUTHING_DEMO_CASES, TRUTHING_DEMO_TITLE
from studies.services.protocol import create_study_from_protocol
from tests.conftest import create_user

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "protocol.example.yaml"
BASE = "title: x\narms:\n  - {name: a}\n"


def test_the_example_sets_the_rule_and_the_panel(make_user):
    coordinator = make_user("coordinator", "coordinator")  # the example names them as a member
    study = create_study_from_protocol(actor=coordinator, text=EXAMPLE.read_text())
    assert study.truthing == {"rounds": 2, "marks": ["box", "polygon"], "matching": {"iou": 0.5, "point_radius": 10},
                              "thresholds": {"kappa": 0.6, "dice": 0.7}, "final": "adjudicated"}
    panel = [(m.code, m.user.username, m.user.role) for m in study.truthing_members.select_related("user")]
    assert panel == [("A1", "dr_hughes", Role.TRUTHER), ("E1", "dr_evans", Role.TRUTHER),
                     ("E2", "dr_fox", Role.TRUTHER), ("E3", "dr_garcia", Role.TRUTHER)]


@pytest.mark.parametrize(("section", "line", "field"), [
    ("truthing:\n  rounds: 2\n  final: vote\n", 6, "truthing.final"),
    ("truthing:\n  rounds: 1\n  final: majority\n  panel: [t1, a_reader]\n", 7, "truthing.panel[1]"),
    ("truthing:\n  rounds: 1\n  final: majority\n  adjudicator: [x]\n", 7, "truthing.adjudicator"),
])
def test_errors_name_their_line_and_field(coordinator, section, line, field):
    create_user("a_reader", Role.READER)
    with pytest.raises(InvalidInput) as refused:
        create_study_from_protocol(actor=coordinator, text=BASE + section)
    assert (refused.value.line, refused.value.field) == (line, field)


def test_the_demo_has_a_panel_to_try(db):
    _, credentials = seed_demo(n_cases=4, image_shape=(128, 128))
    study = Study.objects.get(title=TRUTHING_DEMO_TITLE)
    assert study.truthing["rounds"] == 2 and study.status == Study.Status.DRAFT
    assert study.cases.count() == TRUTHING_DEMO_CASES and not study.cases.filter(truth__isnull=False).exists()
    assert not study.cases.filter(dicom_study__isnull=True).exists()  # every case has its images
    panel = {m.code: m.user.username for m in study.truthing_members.select_related("user")}
    assert panel == {"E1": "truther1", "E2": "truther2", "E3": "truther3", "A1": "adjudicator"}
    assert ("truther1", "truther1-demo", Role.TRUTHER) in credentials
    truther = User.objects.get(username="truther1")
    assert truther.check_password("truther1-demo") and not truther.is_staff
    assert truthing.panels_of(truther)[0]["state"] == "open"
