"""Locking an evaluation: the frozen cases, truth, cleared model and plan, their hashes, versions and refusals."""

import hashlib
import json

import pytest

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent, LockedEvaluation, Role, Study
from studies.services import model_updates

from .world import CLEARED, CRITERIA


def sha256_of(value) -> str:
    """Canonical JSON as the docs state it: keys sorted, no spaces, UTF-8."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lock(study, actor, **changes):
    values = {"name": "Change control plan", "criteria": CRITERIA} | changes
    return model_updates.lock_evaluation(actor=actor, study=study, **values)


def test_the_frozen_test_set_is_the_analysed_cases_with_their_truth_and_the_cleared_models_scores(
        locked_study, statistician):
    evaluation = lock(locked_study, statistician)
    labels = [case["case"] for case in evaluation.cases]
    assert labels == sorted(CLEARED) and "T-01" not in labels and "X-01" not in labels  # training, excluded
    assert sum(case["truth"] for case in evaluation.cases) == 40
    assert {case["subgroups"]["site"] for case in evaluation.cases} == {"site-A", "site-B"}
    assert evaluation.reference["model_name"] == "cleared" and evaluation.reference["operating_point"] == 0.5
    assert evaluation.reference["scores"] == CLEARED
    assert evaluation.criteria["options"] == {"reference_operating_point": 0.5}
    assert evaluation.criteria["criteria"]["sensitivity_floor"] == {"min": 0.75, "judge": "lower_bound",
                                                                    "alpha": 0.05, "interval": "wilson"}


def test_hashes_are_of_the_canonical_json_of_each_part(locked_study, statistician):
    evaluation = lock(locked_study, statistician)
    by_label = {case["case"]: case for case in evaluation.cases}
    diseased = {label for label in CLEARED if int(label[-2:]) >= 20}
    assert evaluation.truth_sha256 == sha256_of([{"case": label, "truth": int(label in diseased)}
                                                 for label in sorted(CLEARED)])
    assert evaluation.cases_sha256 == sha256_of(
        [{"case": label, "subgroups": {"site": f"site-{label[2]}"}} for label in sorted(by_label)])
    assert evaluation.plan_sha256 == sha256_of(evaluation.criteria)


def test_versions_count_per_study_and_each_lock_is_audited(locked_study, statistician, coordinator):
    first, second = lock(locked_study, statistician), lock(locked_study, coordinator, name="Second plan")
    assert (first.version, second.version) == (1, 2)
    events = AuditEvent.objects.filter(entity="studies.LockedEvaluation", action="create")
    assert {(e.entity_id, e.study_id, e.actor_username) for e in events} == {
        (str(first.pk), locked_study.pk, "stat"), (str(second.pk), locked_study.pk, "coord")}
    assert events.get(entity_id=str(first.pk)).after["truth_sha256"] == first.truth_sha256


def test_a_monitor_who_is_a_member_may_lock_and_a_reader_or_outsider_may_not(locked_study, monitor, make_user):
    assert lock(locked_study, monitor).version == 1
    for user in (make_user("radiologist", Role.READER), make_user("elsewhere", Role.MONITOR)):
        with pytest.raises(NotAllowed):
            lock(locked_study, user)


def refused(study, actor, error, match, **changes):
    before = (LockedEvaluation.objects.count(), AuditEvent.objects.count())
    with pytest.raises(error, match=match):
        lock(study, actor, **changes)
    assert (LockedEvaluation.objects.count(), AuditEvent.objects.count()) == before


def test_a_study_not_yet_locked_is_refused(locked_study, statistician):
    Study.objects.filter(pk=locked_study.pk).update(status=Study.Status.READING)
    refused(locked_study, statistician, RuleViolation, "the study is reading.*lock the study first")


def test_cases_without_truth_are_refused_by_name(locked_study, statistician):
    locked_study.cases.filter(label__in=["M-A03", "M-B07"]).update(truth=None)
    refused(locked_study, statistician, RuleViolation, "2 case.*no truth: M-A03, M-B07")


def test_a_study_without_a_shown_output_set_is_refused(locked_study, statistician):
    locked_study.ai_output_sets.update(shown=False)
    refused(locked_study, statistician, RuleViolation, "no AI output set shown")


@pytest.mark.parametrize("criteria,match", [
    ({"auc_noninferiority": {"margin": 0.02}, "sensitivity": 0.8}, "unknown acceptance criteria sensitivity"),
    ({"auc_noninferiority": {"margin": 0.02, "alfa": 0.05}}, "auc_noninferiority: unknown setting alfa"),
    ({"sensitivity_floor": 1.5}, "sensitivity_floor: 'min' must be a number between 0.0 and 1.0"),
    ({"subgroup_max_drop": {"variable": "scanner", "max": 0.05}}, "'scanner' is not a variable.*they have: site"),
    ({}, "non-empty mapping"),
])
def test_bad_criteria_are_refused_naming_the_key(locked_study, statistician, criteria, match):
    refused(locked_study, statistician, InvalidInput, match, criteria=criteria)


def test_unknown_options_are_refused(locked_study, statistician):
    refused(locked_study, statistician, InvalidInput, "unknown option.*threshold", options={"threshold": 0.4})
