"""The qualification rule: its criteria computed by hand, its validation, and its place in the protocol file."""

import pytest

from studies.errors import InvalidInput, RuleViolation
from studies.models import Study
from studies.services import qualification
from studies.services.protocol import create_study_from_protocol
from studies.services.qualification import EvaluatedRead, evaluate, validate_rule

from .training_world import train, training_study

BASE = "title: x\nbinary_decision: false\ndecision_threshold: 50\narms:\n  - {name: unaided}\n  - {name: aided, shows_ai: true}\n"


def continuous(**fields) -> Study:
    return Study(rating_scale=Study.Scale.CONTINUOUS, scale_min=0, scale_max=100, decision_threshold=50, **fields)


def reads(*pairs) -> list[EvaluatedRead]:
    return [EvaluatedRead(rating=rating, decision=None, truth=truth) for rating, truth in pairs]


def by_name(evaluation: dict) -> dict:
    return {criterion["name"]: criterion for criterion in evaluation["criteria"]}


def test_every_criterion_gives_its_figure_and_threshold():
    # Diseased rated 80 and 40, non-diseased 50 and 20. AUC: of the 4 diseased x non-diseased pairs, 80>50, 80>20,
    # 40<50, 40>20: 3/4. Calls at 50: 80 yes (right), 40 no (wrong), 50 yes (wrong), 20 no (right): 2/4.
    # Means 60 and 35: +25. Spread (80 - 20) / 100. Four distinct ratings.
    rule = {"min_cases": 4, "min_auc": 0.75, "min_agreement": 0.6,
            "calibration": {"positives_above_negatives": True, "min_spread": 0.7, "min_categories": 4}}
    result = evaluate(rule, continuous(), reads((80, 1), (40, 1), (50, 0), (20, 0)), cases_read=3, cases_available=6)
    figures = {name: (c["value"], c["threshold"], c["passed"]) for name, c in by_name(result).items()}
    assert figures == {
        "min_cases": (3, 4, False),
        "min_auc": (0.75, 0.75, True),
        "min_agreement": (0.5, 0.6, False),
        "calibration.positives_above_negatives": (25.0, 0, True),
        "calibration.min_spread": (pytest.approx(0.6), 0.7, False),
        "calibration.min_categories": (4, 4, True),
    }
    assert not result["passed"]
    assert result["summary"] == ("3 of 4 training cases read; agreement 0.50 is below 0.6; "
                                 "ratings span 60% of the scale, under the 70% asked")


def test_a_tie_counts_half_and_the_reader_passes_when_all_hold():
    rule = {"min_cases": 2, "min_auc": 0.6}
    tied = evaluate(rule, continuous(), reads((50, 1), (50, 0)), cases_read=2, cases_available=2)
    assert by_name(tied)["min_auc"]["value"] == 0.5 and not tied["passed"]
    ranked = evaluate(rule, continuous(), reads((51, 1), (50, 0)), cases_read=2, cases_available=2)
    assert ranked["passed"] and ranked["summary"] == "every criterion is met"


def test_figures_that_need_both_classes_say_so_instead_of_passing():
    rule = {"min_cases": 1, "min_auc": 0.6, "calibration": {"positives_above_negatives": True}}
    result = evaluate(rule, continuous(), reads((90, 1), (80, 1)), cases_read=2, cases_available=2)
    assert by_name(result)["min_auc"]["value"] is None and not by_name(result)["min_auc"]["passed"]
    assert "needs a diseased and a non-diseased" in by_name(result)["calibration.positives_above_negatives"]["note"]


def test_ratings_reversed_fail_the_calibration_with_the_reason():
    rule = {"min_cases": 1, "calibration": {"positives_above_negatives": True}}
    result = evaluate(rule, continuous(), reads((10, 1), (90, 0)), cases_read=2, cases_available=2)
    criterion = by_name(result)["calibration.positives_above_negatives"]
    assert criterion["value"] == -80 and not criterion["passed"]
    assert "higher ratings mean more suspicious" in criterion["note"]


def test_agreement_takes_the_decision_where_the_study_asks_for_one():
    study = continuous(binary_decision=True)
    pairs = [EvaluatedRead(10, True, 1), EvaluatedRead(90, False, 0), EvaluatedRead(90, False, 1)]
    result = evaluate({"min_cases": 1, "min_agreement": 0.5}, study, pairs, cases_read=3, cases_available=3)
    assert by_name(result)["min_agreement"]["value"] == pytest.approx(2 / 3)  # the ratings would say 0 of 3


def test_the_case_count_names_a_study_short_of_training_cases():
    result = evaluate({"min_cases": 10}, continuous(), [], cases_read=0, cases_available=3)
    assert by_name(result)["min_cases"]["note"] == "0 of 10 training cases read (the study has 3 training cases)"


@pytest.mark.parametrize("rule,field,message", [
    ({"min_auc": 0.8}, "qualification.min_cases", "is required"),
    ({"min_cases": 0}, "qualification.min_cases", "whole number from 1 to 1000"),
    ({"min_cases": 2.5}, "qualification.min_cases", "whole number"),
    ({"min_cases": 2, "min_auc": 0.5}, "qualification.min_auc", "above 0.5"),
    ({"min_cases": 2, "min_auc": 1.2}, "qualification.min_auc", "at most 1"),
    ({"min_cases": 2, "min_agreement": True}, "qualification.min_agreement", "a number"),
    ({"min_cases": 2, "attempts": 3}, "qualification.attempts", "unknown field"),
    ({"min_cases": 2, "arms": ["unaided", "later"]}, "qualification.arms[1]", "'later' is not an arm"),
    ({"min_cases": 2, "arms": ["aided", "aided"]}, "qualification.arms[1]", "listed twice"),
    ({"min_cases": 2, "arms": []}, "qualification.arms", "list of arm names"),
    ({"min_cases": 2, "calibration": {}}, "qualification.calibration", "one or more of"),
    ({"min_cases": 2, "calibration": {"spread": 1}}, "qualification.calibration.spread", "unknown field"),
    ({"min_cases": 2, "calibration": {"positives_above_negatives": False}},
     "qualification.calibration.positives_above_negatives", "must be true"),
    ({"min_cases": 2, "calibration": {"min_categories": 6}}, "qualification.calibration.min_categories", "2 to 5"),
    ({"min_cases": 2, "calibration": {"min_spread": 0}}, "qualification.calibration.min_spread", "above 0"),
    ([{"min_cases": 2}], "qualification", "must be a mapping"),
])
def test_a_malformed_rule_is_refused_by_field(make_study, rule, field, message):
    labels = ["1", "2", "3", "4", "5"]
    study = make_study(status=Study.Status.DRAFT, n_cases=0, rating_scale="ordinal", ordinal_labels=labels)
    with pytest.raises(InvalidInput) as error:
        validate_rule(rule, study)
    assert error.value.field == field
    assert message in error.value.message


def test_agreement_needs_a_way_to_make_a_call(make_study):
    study = make_study(status=Study.Status.DRAFT, n_cases=0)
    with pytest.raises(InvalidInput, match="yes/no decision or its decision threshold"):
        validate_rule({"min_cases": 2, "min_agreement": 0.8}, study)


def test_the_rule_is_fixed_once_training_has_begun(coordinator):
    study = training_study(coordinator)
    rule = {"min_cases": 2}
    assert qualification.set_rule(actor=coordinator, study=study, rule=rule).qualification == rule
    reader = study.readers.get(code="R01")
    train(reader, study.cases.get(label="T00"), "unaided", 70)
    with pytest.raises(RuleViolation, match="before any training read"):
        qualification.set_rule(actor=coordinator, study=study, rule={})
    assert Study.objects.get(pk=study.pk).qualification == rule


def test_the_rule_is_fixed_once_reading_starts(coordinator):
    study = training_study(coordinator, rule={}, status=Study.Status.READING)
    with pytest.raises(RuleViolation, match="only change in draft or enrolling"):
        qualification.set_rule(actor=coordinator, study=study, rule={"min_cases": 1})


def test_the_protocol_declares_the_rule_and_the_subgroups(coordinator):
    text = BASE + ("subgroups: [sex, site]\nqualification:\n  min_cases: 10\n  arms: [aided]\n  min_auc: 0.75\n"
                   "  calibration: {min_spread: 0.4}\n")
    study = create_study_from_protocol(actor=coordinator, text=text)
    assert study.subgroups == ["sex", "site"]
    assert study.qualification == {"min_cases": 10, "arms": ["aided"], "min_auc": 0.75,
                                   "calibration": {"min_spread": 0.4}}
    assert [arm.name for arm in qualification.training_arms(study)] == ["aided"]


def test_without_the_section_no_qualification_is_required_and_every_arm_trains(coordinator):
    study = create_study_from_protocol(actor=coordinator, text=BASE)
    assert study.qualification == {} and study.subgroups == []
    assert [arm.name for arm in qualification.training_arms(study)] == ["unaided", "aided"]


@pytest.mark.parametrize("tail,line,field,message", [
    ("qualification:\n  min_cases: 10\n  min_auc: 2\n", 9, "qualification.min_auc", "at most 1"),
    ("qualification:\n  min_auc: 0.8\n", 8, "qualification.min_cases", "is required"),  # the mapping
    ("qualification:\n  min_cases: 3\n  arms:\n    - unaided\n    - other\n", 11, "qualification.arms[1]", "'other'"),
    ("qualification:\n  min_cases: 3\n  calibration:\n    min_spread: 0\n", 10,
     "qualification.calibration.min_spread", "above 0"),
    ("qualification: yes\n", 7, "qualification", "must be a mapping"),
    ("subgroups: [site, truth]\n", 7, "subgroups[1]", "column of the truth file or the reads export"),
    ("subgroups: [site, rating]\n", 7, "subgroups[1]", "column of the truth file or the reads export"),
    ("subgroups:\n  - site\n  - site\n", 9, "subgroups[1]", "listed twice"),
    ("subgroups: [site, '']\n", 7, "subgroups[1]", "name of a case metadata column"),
    ("subgroups: site\n", 7, "subgroups", "must be list"),
])
def test_protocol_errors_name_the_line_and_field(coordinator, tail, line, field, message):
    with pytest.raises(InvalidInput) as error:
        create_study_from_protocol(actor=coordinator, text=BASE + tail)
    assert (error.value.line, error.value.field) == (line, field)
    assert message in error.value.message
    assert not Study.objects.exists()
