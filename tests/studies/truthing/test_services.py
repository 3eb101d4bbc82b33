"""The truthing rules: the rule and panel, labels in blinded and unblinded rounds, disputes, adjudication,
agreement against statsmodels and hand-computed Dice, and the final truth with its provenance."""

import uuid

import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from studies.errors import AlreadyRead, InvalidInput, NotAllowed, NotFound, RuleViolation
from studies.models import Case, Role, Study
from studies.services import studies as study_services
from studies.services import truthing
from studies.services.froc_marks import score_marks
from tests.conftest import create_study, create_user

from .conftest import RULE, box, label, label_all, member_user, point

ROUND_1 = {"E1": [1, 1, 0, 0, 1, 0], "E2": [1, 0, 0, 0, 1, 1], "E3": [1, 1, 0, 1, 1, 0]}
ROUND_2 = {"E1": [1, 1, 0, 0, 1, 0], "E2": [1, 1, 0, 0, 1, 1], "E3": [1, 1, 0, 0, 1, 0]}
# Case 0: three boxes, E2's shifted by one pixel (Dice 0.9 with the others). Case 1: three points within 5 px.
# Case 4: E3's box is elsewhere (unmatched: disputed although every label is 1). Case 5: the labels differ.
MARKS = {("E1", 0): [box(0, 0, 10, 10)], ("E2", 0): [box(1, 0, 11, 10)], ("E3", 0): [box(10, 10, 0, 0)],
         ("E1", 1): [point(50, 50)], ("E2", 1): [point(53, 54)], ("E3", 1): [point(50, 50)],
         ("E1", 4): [box(0, 0, 10, 10)], ("E2", 4): [box(0, 0, 10, 10)], ("E3", 4): [box(20, 20, 30, 30)]}


def cases_of(study):
    return list(study.cases.order_by("id"))


def adjudicate(study, case, value, lesions=(), note="pathology report"):
    return truthing.adjudicate(user=member_user(study, "A1"), study_id=study.pk, case_id=case.pk, label=value,
                               lesions=list(lesions), note=note, idempotency_key=uuid.uuid4())


# ---------------------------------------------------------------- the rule and the panel


@pytest.mark.parametrize(("rule", "field"), [
    ({"final": "adjudicated"}, "truthing.rounds"),
    ({"rounds": 3, "final": "adjudicated"}, "truthing.rounds"),
    ({"rounds": 1, "final": "consensus"}, "truthing.final"),
    ({"rounds": 1, "final": "majority", "marks": ["circle"]}, "truthing.marks"),
    ({"rounds": 1, "final": "majority", "matching": {"iou": 0}}, "truthing.matching.iou"),
    ({"rounds": 1, "final": "majority", "matching": {"point_radius": 5000}}, "truthing.matching.point_radius"),
    ({"rounds": 1, "final": "majority", "thresholds": {"kappa": 2}}, "truthing.thresholds.kappa"),
    ({"rounds": 1, "final": "majority", "thresholds": {"f1": 0.5}}, "truthing.thresholds.f1"),
    ({"rounds": 1, "final": "majority", "panel": []}, "truthing.panel"),
])
def test_a_malformed_rule_is_refused_naming_the_field(rule, field):
    with pytest.raises(InvalidInput) as refused:
        truthing.validate_rule(rule)
    assert refused.value.field == field


def test_the_rule_gets_its_defaults():
    assert truthing.validate_rule({"rounds": 1, "final": "majority"}) == {
        "rounds": 1, "marks": [], "matching": {"iou": 0.5, "point_radius": 10.0}, "thresholds": {},
        "final": "majority"}


def test_panel_codes_and_roles(panel_study, coordinator):
    members = {m.code: m.user.username for m in panel_study.truthing_members.all()}
    assert members == {"E1": "truther1", "E2": "truther2", "E3": "truther3", "A1": "adjudicator"}
    with pytest.raises(InvalidInput, match="not a truther"):
        truthing.add_member(actor=coordinator, study=panel_study, user=create_user("r9", Role.READER))
    with pytest.raises(RuleViolation, match="has an adjudicator"):
        truthing.add_member(actor=coordinator, study=panel_study, user=create_user("t9", Role.TRUTHER),
                            adjudicator=True)
    e3 = panel_study.truthing_members.get(code="E3")
    truthing.remove_member(actor=coordinator, study=panel_study, member_id=e3.pk)
    again = truthing.add_member(actor=coordinator, study=panel_study, user=create_user("t10", Role.TRUTHER))
    assert again.code == "E3"


def test_rule_and_panel_are_fixed_once_a_label_exists(panel_study, coordinator):
    label(panel_study, "E1", cases_of(panel_study)[0], 1, 0)
    with pytest.raises(RuleViolation, match="fixed once a truther has labelled"):
        truthing.set_rule(actor=coordinator, study=panel_study, rule=RULE | {"rounds": 1})
    with pytest.raises(RuleViolation, match="fixed once"):
        truthing.remove_member(actor=coordinator, study=panel_study,
                               member_id=panel_study.truthing_members.get(code="E2").pk)
    with pytest.raises(RuleViolation, match="fixed once"):
        truthing.add_member(actor=coordinator, study=panel_study, user=create_user("late", Role.TRUTHER))


def test_imported_truth_is_untouched_by_truthing(db, coordinator):
    study = create_study(coordinator, n_readers=0, n_cases=2, arms=(("unaided", False),), status=Study.Status.DRAFT)
    user = create_user("lonely", Role.TRUTHER)
    truthing.add_member(actor=coordinator, study=study, user=user)
    assert truthing.closed_because(study) == "the study has no truthing panel: its truth is imported"
    with pytest.raises(RuleViolation, match="truth is imported"):
        truthing.submit_label(user=user, study_id=study.pk, case_id=study.cases.first().pk, round=1,
                              idempotency_key=uuid.uuid4(), label=1, lesions=[])
    assert list(study.cases.values_list("truth", flat=True)) == [0, 1]


# ---------------------------------------------------------------- labels and rounds


def test_a_label_is_idempotent_by_key_and_final(panel_study):
    case = cases_of(panel_study)[0]
    user, key = member_user(panel_study, "E1"), uuid.uuid4()
    values = dict(user=user, study_id=panel_study.pk, case_id=case.pk, round=1, label=1, lesions=[box(0, 0, 4, 4)])
    first, created = truthing.submit_label(idempotency_key=key, **values)
    again, created_again = truthing.submit_label(idempotency_key=key, **values)
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(AlreadyRead) as twin:
        truthing.submit_label(idempotency_key=uuid.uuid4(), **values | {"label": 0, "lesions": []})
    assert twin.value.status_code == 409 and twin.value.code == "already_read"


@pytest.mark.parametrize(("value", "lesions", "field"), [
    (0, [box(0, 0, 4, 4)], "lesions"),
    (1, [{"type": "circle", "sop_instance_uid": "1.2", "frame": 1, "points": [[0, 0]]}], "lesions[0].type"),
    (1, [box(0, 0, 0, 4)], "lesions[0].points"),
    (1, [box(0, 0, 4, 4, frame=0)], "lesions[0].frame"),
    (1, [{"type": "polygon", "sop_instance_uid": "1.2", "frame": 1, "points": [[0, 0], [4, 4], [4, 0], [0, 4]]}],
     "lesions[0].points"),
    (1, [{"type": "point", "sop_instance_uid": "x", "frame": 1, "points": [[0, 0]]}], "lesions[0].sop_instance_uid"),
    (1, [{"type": "point", "sop_instance_uid": "1.2", "frame": 1, "points": [[0, float("nan")]]}],
     "lesions[0].points[0]"),
    (1, [point(1, 1)] * 51, "lesions"),
    (2, [], "label"),
])
def test_a_bad_label_is_refused_naming_the_field(panel_study, value, lesions, field):
    with pytest.raises(InvalidInput) as refused:
        label(panel_study, "E1", cases_of(panel_study)[0], 1, value, lesions)
    assert refused.value.field == field
    assert not panel_study.cases.filter(truth_labels__isnull=False).exists()


def test_only_panel_truthers_label(panel_study):
    outsider = create_user("outsider", Role.TRUTHER)
    with pytest.raises(NotFound):
        truthing.submit_label(user=outsider, study_id=panel_study.pk, case_id=cases_of(panel_study)[0].pk, round=1,
                              idempotency_key=uuid.uuid4(), label=1, lesions=[])
    with pytest.raises(NotAllowed):
        label(panel_study, "A1", cases_of(panel_study)[0], 1, 1)


def test_round_one_is_blinded_and_round_two_waits_for_the_whole_panel(panel_study):
    cases = cases_of(panel_study)
    label_all(panel_study, 1, {"E1": ROUND_1["E1"], "E2": ROUND_1["E2"]})
    e3 = member_user(panel_study, "E3")
    assert truthing.member_case(e3, panel_study.pk, cases[0].pk)["others"] == []  # blinded
    with pytest.raises(RuleViolation, match="round 2 opens once every truther"):
        label(panel_study, "E1", cases[0], 2, 1)
    assert truthing.member_case(member_user(panel_study, "E1"), panel_study.pk, cases[0].pk)["reason_closed"] == (
        "round 2 opens once every truther has labelled every case in round 1")
    label_all(panel_study, 1, {"E3": ROUND_1["E3"]})
    shown = truthing.member_case(e3, panel_study.pk, cases[1].pk)
    assert shown["round"] == 2 and shown["is_open"] and shown["own"] is None
    assert [(o["member"], o["round"], o["label"]) for o in shown["others"]] == [("E1", 1, 1), ("E2", 1, 0)]
    with pytest.raises(AlreadyRead):  # round 1 is behind them: a label is final
        truthing.submit_label(user=e3, study_id=panel_study.pk, case_id=cases[1].pk, round=1,
                              idempotency_key=uuid.uuid4(), label=1, lesions=[])


def test_panels_and_worklist(panel_study):
    e1 = member_user(panel_study, "E1")
    [row] = truthing.panels_of(e1)
    assert row | {"title": ""} == {"study": panel_study.pk, "title": "", "code": "E1", "role": "truther", "round": 1,
                                   "state": "open", "reason_closed": "", "cases_total": 6, "cases_done": 0,
                                   "disputes_open": None}
    label(panel_study, "E1", cases_of(panel_study)[2], 1, 0)
    worklist = truthing.member_cases(e1, panel_study.pk)
    assert [(c["position"], c["round"], c["done"]) for c in worklist][:3] == [(1, 1, False), (2, 1, False),
                                                                              (3, 1, True)]


# ---------------------------------------------------------------- disputes, adjudication, agreement, final truth


def two_rounds(study):
    label_all(study, 1, ROUND_1)
    label_all(study, 2, ROUND_2, MARKS)


def test_disputes_and_adjudication(panel_study, coordinator):
    two_rounds(panel_study)
    cases = cases_of(panel_study)
    listed = truthing.disputes(coordinator, panel_study.pk)
    assert [(d["case"], d["adjudicated"]) for d in listed] == [(cases[4].pk, False), (cases[5].pk, False)]
    assert listed[0]["why"] == ("lesion marks do not match: E1–E3: 2 marks without a partner; "
                                "E2–E3: 2 marks without a partner")
    assert listed[1]["why"] == "labels differ: E1 0, E2 1, E3 0"
    assert len(listed[1]["labels"]) == 6  # three experts, two rounds
    adjudicator = member_user(panel_study, "A1")
    assert truthing.panels_of(adjudicator)[0]["disputes_open"] == 2
    with pytest.raises(RuleViolation, match="needs no adjudication"):
        adjudicate(panel_study, cases[0], 1)
    with pytest.raises(InvalidInput) as no_note:
        adjudicate(panel_study, cases[5], 0, note=" ")
    assert no_note.value.field == "note"
    with pytest.raises(RuleViolation, match="await the adjudicator: C004, C005"):
        truthing.finalize(actor=coordinator, study=panel_study)
    adjudicate(panel_study, cases[4], 1, [box(0, 0, 10, 10)])
    with pytest.raises(AlreadyRead):
        adjudicate(panel_study, cases[4], 0)
    assert truthing.panels_of(adjudicator)[0]["disputes_open"] == 1


def test_agreement_equals_statsmodels_and_hand_computed_dice(panel_study, coordinator):
    two_rounds(panel_study)
    figures = truthing.agreement(panel_study)
    for number, table in ((1, ROUND_1), (2, ROUND_2)):
        decisions = np.array(list(table.values()))
        expected = sm_fleiss_kappa(aggregate_raters(decisions.T)[0], method="fleiss")
        by_round = figures["label_by_round"][number - 1]
        assert by_round["statistic"] == "fleiss" and by_round["n_cases"] == 6
        assert by_round["kappa"] == pytest.approx(expected, rel=1e-12)
    assert figures["label"]["passed"] == (figures["label"]["kappa"] >= 0.6)
    lesion = figures["lesion"]
    # Dice of the area pairs: case 0 E1-E2 0.9, E1-E3 1, E2-E3 0.9; case 4 E1-E2 1 (E3's box matches neither)
    assert lesion["mean_dice"] == pytest.approx((0.9 + 1 + 0.9 + 1) / 4)
    assert lesion["mean_iou"] == pytest.approx((90 / 110 + 1 + 90 / 110 + 1) / 4)
    assert lesion["n_pairs"] == 4 and lesion["n_unmatched"] == 4 and lesion["n_point_pairs"] == 3
    assert lesion["mean_point_distance"] == pytest.approx((5 + 0 + 5) / 3)
    assert lesion["passed"] is True and lesion["threshold"] == 0.7
    assert figures["disputes"] == 2 and figures["adjudicated"] == 0


def test_cohen_for_two_truthers(db, coordinator):
    study = create_study(coordinator, n_readers=0, n_cases=8, arms=(("unaided", False),), status=Study.Status.DRAFT)
    truthing.set_rule(actor=coordinator, study=study, rule={"rounds": 1, "final": "majority"})
    for name in ("ta", "tb"):
        truthing.add_member(actor=coordinator, study=study, user=create_user(name, Role.TRUTHER))
    table = {"E1": [1, 1, 0, 0, 1, 0, 1, 1], "E2": [1, 0, 0, 0, 1, 1, 1, 1]}
    label_all(study, 1, table)
    counts = np.zeros((2, 2))
    np.add.at(counts, (table["E1"], table["E2"]), 1)
    expected = cohens_kappa(counts)
    figure = truthing.agreement(study)["label"]
    assert figure["statistic"] == "cohen"
    assert figure["kappa"] == pytest.approx(expected.kappa, rel=1e-12)
    assert figure["se"] == pytest.approx(expected.std_kappa, rel=1e-12)
    # statsmodels' Wald interval, clipped to kappa's range (its upper end passes 1 here)
    assert figure["ci"] == pytest.approx([expected.kappa_low, min(expected.kappa_upp, 1.0)], rel=1e-12)
    assert figure["threshold"] is None and figure["passed"] is None
    # a tie of two truthers is disputed even under majority
    assert len(truthing.disputes(coordinator, study.pk)) == 2


def test_finalize_writes_truth_method_and_provenance(panel_study, coordinator):
    two_rounds(panel_study)
    cases = cases_of(panel_study)
    adjudicate(panel_study, cases[4], 1, [box(0, 0, 10, 10)])
    adjudicate(panel_study, cases[5], 0, note="follow-up negative")
    result = truthing.finalize(actor=coordinator, study=panel_study)
    assert result["methods"] == {"consensus": 4, "majority": 0, "adjudicated": 2}
    stored = {case.label: case for case in Case.objects.filter(study=panel_study)}
    assert [stored[f"C00{i}"].truth for i in range(6)] == [1, 1, 0, 0, 1, 0]
    assert [stored[f"C00{i}"].truth_method for i in range(6)] == ["consensus"] * 4 + ["adjudicated"] * 2
    assert stored["C000"].truth_established_by == "Panel E1, E2, E3; adjudicator A1"
    # centres (5, 5), (6, 5), (5, 5); radius half the diagonal of a 10 x 10 box
    assert stored["C000"].lesions == [{"sop_instance_uid": "1.2.840.1", "frame": 1, "x": pytest.approx(5.333),
                                       "y": 5.0, "radius": pytest.approx(7.071)}]
    assert stored["C001"].lesions == [{"sop_instance_uid": "1.2.840.1", "frame": 1, "x": 51.0,
                                       "y": pytest.approx(51.333)}]
    assert stored["C004"].lesions == [{"sop_instance_uid": "1.2.840.1", "frame": 1, "x": 5.0, "y": 5.0,
                                       "radius": pytest.approx(7.071)}]
    provenance = stored["C005"].truth_provenance
    assert provenance["source"] == "panel" and provenance["rule"] == truthing.validate_rule(RULE)
    assert [(entry["member"], entry["round"], entry["label"]) for entry in provenance["labels"]] == [
        ("E1", 1, 0), ("E2", 1, 1), ("E3", 1, 0), ("E1", 2, 0), ("E2", 2, 1), ("E3", 2, 0)]
    assert provenance["adjudication"]["note"] == "follow-up negative"
    assert provenance["agreement"]["label"]["kappa"] == result["agreement"]["label"]["kappa"]
    assert truthing.closed_because(panel_study) == "the panel's truth is final"
    with pytest.raises(RuleViolation, match="final"):
        truthing.finalize(actor=coordinator, study=panel_study)


def test_majority_rule(panel_study, coordinator):
    Study.objects.filter(pk=panel_study.pk).update(truthing=truthing.validate_rule(RULE | {"final": "majority"}))
    panel_study.refresh_from_db()
    two_rounds(panel_study)
    cases = cases_of(panel_study)
    assert [d["case"] for d in truthing.disputes(coordinator, panel_study.pk)] == [cases[4].pk]  # marks only
    adjudicate(panel_study, cases[4], 1, [box(0, 0, 10, 10)])
    result = truthing.finalize(actor=coordinator, study=panel_study)
    assert result["methods"] == {"consensus": 4, "majority": 1, "adjudicated": 1}
    assert Case.objects.get(pk=cases[5].pk).truth_method == "majority"


def test_finalize_waits_for_every_label_and_for_an_open_study(panel_study, coordinator):
    label_all(panel_study, 1, ROUND_1)
    with pytest.raises(RuleViolation, match="6 case\\(s\\) lack a truther's round-2 label"):
        truthing.finalize(actor=coordinator, study=panel_study)
    study_services.transition_study(actor=coordinator, study=panel_study, to=Study.Status.ENROLLING)
    Study.objects.filter(pk=panel_study.pk).update(status=Study.Status.LOCKED)
    panel_study.refresh_from_db()
    with pytest.raises(RuleViolation, match="locked; truth can no longer change"):
        truthing.finalize(actor=coordinator, study=panel_study)


def test_the_panels_lesions_feed_localization_scoring(panel_study, coordinator):
    two_rounds(panel_study)
    cases = cases_of(panel_study)
    adjudicate(panel_study, cases[4], 1, [box(0, 0, 10, 10)])
    adjudicate(panel_study, cases[5], 0)
    truthing.finalize(actor=coordinator, study=panel_study)
    lesions = Case.objects.get(pk=cases[0].pk).lesions  # centre (5.333, 5), radius 7.071
    near = {"instance_uid": "1.2.840.1", "frame": 1, "x": 11.0, "y": 5.0, "confidence": 80}  # 5.67 px away
    far = {"instance_uid": "1.2.840.1", "frame": 1, "x": 13.0, "y": 5.0, "confidence": 60}  # 7.67 px away
    scored = score_marks([near, far], lesions, acceptance_radius=20.0)
    assert scored.lesion_ratings == [80] and scored.nl_ratings == [60]  # the lesion's own radius decides
