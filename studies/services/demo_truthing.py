"""The demo's truthing panel: three truthers and an adjudicator on a study of its own whose truth the panel is to
establish, so that a new user can try the truthing mode (two rounds, boxes, points and polygons, adjudication)."""

from studies.models import Role, Study, User
from studies.services import truthing

DEMO_TRUTHERS = ("truther1", "truther2", "truther3")
DEMO_ADJUDICATOR = "adjudicator"
DEMO_TRUTHING_USERS = [(name, Role.TRUTHER, "Thoracic radiology", 15) for name in (*DEMO_TRUTHERS, DEMO_ADJUDICATOR)]
TRUTHING_DEMO_TITLE = "Demo (truthing): lung nodule reference standard by an expert panel"
TRUTHING_DEMO_CASES = 6
DEMO_RULE = {"rounds": 2, "marks": ["box", "point", "polygon"], "matching": {"iou": 0.5, "point_radius": 20},
             "thresholds": {"kappa": 0.6, "dice": 0.7}, "final": "adjudicated"}


def add_demo_panel(*, coordinator: User, study: Study, users: dict[str, User]) -> Study:
    """The truthing rule and panel on the study (E1..E3 in order, A1 the adjudicator)."""
    study = truthing.set_rule(actor=coordinator, study=study, rule=DEMO_RULE)
    for name in DEMO_TRUTHERS:
        truthing.add_member(actor=coordinator, study=study, user=users[name])
    truthing.add_member(actor=coordinator, study=study, user=users[DEMO_ADJUDICATOR], adjudicator=True)
    return study
