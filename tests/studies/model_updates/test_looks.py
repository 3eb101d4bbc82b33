"""Looks at a locked evaluation: one update that passes every criterion, one that fails the subgroup criterion
(figures known by hand, tests/studies/model_updates/world.py), the look counter, the audit trail, refusals."""

import io
import math

import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from studies.errors import InvalidInput, NotAllowed
from studies.models import AuditEvent, ModelUpdateEvaluation
from studies.services import model_updates

from .world import CLEARED, CRITERIA, FAILING, PASSING, labels


@pytest.fixture
def evaluation(locked_study, statistician):
    return model_updates.lock_evaluation(actor=statistician, study=locked_study, name="PCCP", criteria=CRITERIA)


def look_at(evaluation, actor, scores, version="2.0", **changes):
    values = {"model_name": "detector", "model_version": version, "scores": scores, "operating_point": 0.5,
              "source": "imported"} | changes
    return model_updates.evaluate_update(actor=actor, evaluation=evaluation, **values)


def criteria_of(look) -> dict:
    return {criterion["name"]: criterion for criterion in look.result["criteria"]}


def auc(scores: dict, cases: list[str]) -> float:
    """Mann-Whitney U / (n1 n0), by scipy: an implementation independent of the one under test."""
    diseased = [scores[c] for c in cases if int(c[-2:]) >= 20]
    normal = [scores[c] for c in cases if int(c[-2:]) < 20]
    return stats.mannwhitneyu(diseased, normal).statistic / (len(diseased) * len(normal))


def site(name: str) -> list[str]:
    normal, diseased = labels(name)
    return normal + diseased


def test_hand_computed_aucs_agree_with_scipy():
    """The world's arithmetic: 24, 0 and 48 discordant pairs of 400 per site; 96, 48, 96 of 1600 overall."""
    assert auc(CLEARED, site("A")) == auc(CLEARED, site("B")) == pytest.approx(0.94)
    assert (auc(PASSING, site("A")), auc(FAILING, site("B"))) == pytest.approx((1.0, 0.88))
    assert [auc(s, list(CLEARED)) for s in (CLEARED, PASSING, FAILING)] == pytest.approx([0.94, 0.97, 0.94])


def test_an_update_that_meets_every_criterion_passes(evaluation, statistician):
    look = look_at(evaluation, statistician, PASSING)
    assert look.passed is True and look.look == 1
    result = criteria_of(look)
    assert all(criterion["passed"] for criterion in result.values()) and set(result) == set(CRITERIA)
    assert result["auc_noninferiority"]["estimate"] == pytest.approx(0.03)
    sensitivity_ci = proportion_confint(36, 40, alpha=0.05, method="wilson")
    assert result["sensitivity_floor"]["estimate"] == pytest.approx(0.9)
    assert result["sensitivity_floor"]["ci"] == pytest.approx(list(sensitivity_ci))  # lower 0.769 >= 0.75
    assert result["specificity_floor"]["ci"][0] == pytest.approx(proportion_confint(40, 40, method="wilson")[0])
    groups = {group["level"]: group for group in result["subgroup_max_drop"]["subgroups"]}
    assert (groups["site-A"]["difference"], groups["site-B"]["difference"]) == pytest.approx((0.06, 0.0))


def test_an_update_worse_at_one_site_fails_the_subgroup_criterion_and_only_that(evaluation, statistician):
    look = look_at(evaluation, statistician, FAILING, version="2.1")
    assert look.passed is False
    result = criteria_of(look)
    assert [name for name, criterion in result.items() if not criterion["passed"]] == ["subgroup_max_drop"]
    assert result["auc_noninferiority"]["estimate"] == pytest.approx(0.0, abs=1e-12)  # the sites cancel overall
    subgroup = result["subgroup_max_drop"]
    groups = {group["level"]: group for group in subgroup["subgroups"]}
    assert (groups["site-B"]["reference"], groups["site-B"]["candidate"]) == pytest.approx((0.94, 0.88))
    assert subgroup["estimate"] == pytest.approx(-0.06)  # the worst site's change
    assert "site site-B -0.0600" in subgroup["reason"] and "site-A" not in subgroup["reason"].split(":")[1]


def test_each_look_is_counted_kept_and_audited(evaluation, statistician, monitor):
    first = look_at(evaluation, statistician, PASSING)
    second = look_at(evaluation, monitor, FAILING, version="2.1")
    third = look_at(evaluation, statistician, PASSING, version="2.0-retest")
    assert [first.look, second.look, third.look] == [1, 2, 3]
    assert [look.passed for look in evaluation.looks.order_by("look")] == [True, False, True]
    events = AuditEvent.objects.filter(entity="studies.ModelUpdateEvaluation", action="create").order_by("seq")
    assert [(e.entity_id, e.study_id, e.actor_username) for e in events] == [
        (str(first.pk), evaluation.study_id, "stat"), (str(second.pk), evaluation.study_id, "quality"),
        (str(third.pk), evaluation.study_id, "stat")]
    assert events[1].after["passed"] is False and events[1].after["look"] == 2
    assert second.scores_sha256 == model_updates.digest(FAILING)


def refused(evaluation, actor, scores, match, error=InvalidInput, **changes):
    before = (ModelUpdateEvaluation.objects.count(), AuditEvent.objects.count())
    with pytest.raises(error, match=match):
        look_at(evaluation, actor, scores, **changes)
    assert (ModelUpdateEvaluation.objects.count(), AuditEvent.objects.count()) == before


def test_a_missing_case_is_refused_by_name(evaluation, statistician):
    refused(evaluation, statistician, {k: v for k, v in PASSING.items() if k != "M-B31"},
            "no score for 1 case.*: M-B31")


def test_an_extra_case_is_refused_by_name(evaluation, statistician):
    refused(evaluation, statistician, PASSING | {"T-01": 0.9}, "1 case.* not in the locked test set: T-01")


@pytest.mark.parametrize("bad", [math.nan, math.inf, "0.5", None, True])
def test_a_score_that_is_not_a_finite_number_is_refused_by_case(evaluation, statistician, bad):
    refused(evaluation, statistician, PASSING | {"M-A05": bad}, "case M-A05: .* is not a finite number")


def test_bad_model_names_and_operating_points_are_refused(evaluation, statistician):
    refused(evaluation, statistician, PASSING, "model's version is required", model_version=" ")
    refused(evaluation, statistician, PASSING, "operating point must be a number", operating_point=math.nan)


def test_a_reader_may_not_look(evaluation, make_user):
    refused(evaluation, make_user("radiologist"), PASSING, "may not evaluate model updates", error=NotAllowed)


def test_scores_from_a_csv_file(evaluation, statistician):
    text = "case,score\n" + "".join(f"{case},{score}\n" for case, score in FAILING.items())
    scores = model_updates.scores_from_csv(text.encode())
    assert scores == FAILING
    with pytest.raises(InvalidInput, match="line 3, field 'score': 'high' is not a number"):
        model_updates.scores_from_csv(b"case,score\nM-A00,0.1\nM-A01,high\n")
    with pytest.raises(InvalidInput, match="line 3, field 'case': case 'M-A00' is listed already on line 2"):
        model_updates.scores_from_csv(b"case,score\nM-A00,0.1\nM-A00,0.2\n")
    with pytest.raises(InvalidInput, match="missing column.*score"):
        model_updates.scores_from_csv(b"case,probability\nM-A00,0.1\n")
    with pytest.raises(InvalidInput, match="'nan' is not a finite number"):
        model_updates.scores_from_csv(b"case,score\nM-A00,nan\n")


def test_the_command_evaluates_a_csv_and_prints_each_criterion(evaluation, statistician, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "scores.csv"
    path.write_text("case,score\n" + "".join(f"{case},{score}\n" for case, score in FAILING.items()))
    out = io.StringIO()
    call_command("evaluate_model_update", evaluation=evaluation.pk, scores=str(path), model_name="detector",
                 model_version="2.1", operating_point=0.5, user="stat", stdout=out)
    text = out.getvalue()
    assert text.startswith("look 1 at PCCP v1: detector 2.1 FAIL")
    assert "FAIL subgroup_max_drop: worse by more than 0.05: site site-B -0.0600" in text
    assert ModelUpdateEvaluation.objects.get().created_by == statistician
    with pytest.raises(CommandError, match="either --scores"):
        call_command("evaluate_model_update", evaluation=evaluation.pk, user="stat")
