"""Reader qualification: the protocol's pass rule, and each reader's evaluation against it.

A study may require its readers to qualify before their reading sessions open: ``Study.qualification`` (the
protocol's ``qualification:``); an empty rule requires nothing. Readers qualify on the study's training cases
(``Case.is_training``: never scheduled, never analysed), read in the workstation with the truth and, in arms
that show the AI, the AI's output shown after each score (:mod:`studies.services.training`).

The rule
--------
``min_cases`` (required, 1 to 1000)
    Training cases the reader has read in every training arm.
``arms`` (default: every arm of the study, in its order)
    The training arms. Each training case is read in each of them, in the order listed. The reads in the first
    arm are the ones evaluated: they are made before the case's truth is shown. Reads in the later arms are
    practice with feedback (e.g. the AI's output on a case whose truth the reader now knows).
``min_auc`` (above 0.5, at most 1)
    Empirical AUC (Mann-Whitney, a tie counting 1/2) of the evaluated ratings against truth. Not met while the
    evaluated reads lack a diseased or a non-diseased case.
``min_agreement`` (above 0, at most 1)
    The fraction of evaluated reads whose call is the truth. The call is the reader's yes/no decision where the
    study asks for one, else rating >= the study's decision threshold; a study with neither cannot use it.
``calibration``: whether the reader uses the rating scale as instructed.
    ``positives_above_negatives: true``: the mean rating of the diseased cases is above that of the
    non-diseased ones (higher ratings mean more suspicious).
    ``min_categories`` (2 to the number of ordinal labels; 2 to 1000 on a continuous scale): distinct ratings used.
    ``min_spread`` (above 0, at most 1): (highest - lowest rating) / (scale maximum - scale minimum).

Every criterion is evaluated after every training read, named, with its figure and threshold
(:func:`evaluate`). A reader passes when all of them hold: ``Reader.qualified_at`` is set, the audit event
``reader.qualified`` records the figures, and the evaluation that qualified the reader is kept. Training reads
after that are practice: a qualification is never withdrawn. A reader who has read every training case without
passing stays unqualified until the coordinator adds training cases (the figures then take every read so far).
The rule is fixed once a training read exists or reading has started.
"""

import math
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.utils import timezone

from mrmc.stats import auc
from studies.errors import InvalidInput, RuleViolation
from studies.models import Arm, Reader, Study, TrainingRead, User
from studies.permissions import Action, require
from studies.services import audit
from studies.services.rule_fields import check_keys

RULE_KEYS = {"min_cases", "arms", "min_auc", "min_agreement", "calibration"}
CALIBRATION_KEYS = {"positives_above_negatives", "min_categories", "min_spread"}
MAX_MIN_CASES = 1000
MAX_CATEGORIES = 1000  # on a continuous scale: any bound far above what a training set can show
RULE_STATUSES = (Study.Status.DRAFT, Study.Status.ENROLLING)
QUALIFIED_EVENT = "reader.qualified"


# ---------------------------------------------------------------- the rule


def validate_rule(rule, study: Study) -> None:
    """Refuse a rule that is not well formed for ``study``, naming the field (``qualification.min_auc``).
    An empty mapping requires no qualification."""
    if not isinstance(rule, dict):
        raise InvalidInput("must be a mapping", field="qualification")
    if not rule:
        return
    check_keys(rule, RULE_KEYS, "qualification")
    if "min_cases" not in rule:
        raise InvalidInput("is required when a qualification rule is given", field="qualification.min_cases")
    _check_whole(rule["min_cases"], 1, MAX_MIN_CASES, "qualification.min_cases")
    _check_arms(rule.get("arms"), study)
    if "min_auc" in rule:
        _check_fraction(rule["min_auc"], "qualification.min_auc", above=0.5)
    if "min_agreement" in rule:
        _check_fraction(rule["min_agreement"], "qualification.min_agreement")
        if not study.binary_decision and study.decision_threshold is None:
            raise InvalidInput("needs the study's yes/no decision or its decision threshold to make a call",
                               field="qualification.min_agreement")
    if "calibration" in rule:
        _check_calibration(rule["calibration"], study)


def _check_arms(arms, study: Study) -> None:
    if arms is None:
        return
    names = set(study.arms.values_list("name", flat=True))
    if not isinstance(arms, list) or not arms or not all(isinstance(name, str) for name in arms):
        raise InvalidInput("must be a list of arm names", field="qualification.arms")
    for i, name in enumerate(arms):
        if name not in names:
            raise InvalidInput(f"'{name}' is not an arm of this study", field=f"qualification.arms[{i}]")
        if name in arms[:i]:
            raise InvalidInput(f"'{name}' is listed twice", field=f"qualification.arms[{i}]")


def _check_calibration(calibration, study: Study) -> None:
    where = "qualification.calibration"
    if not isinstance(calibration, dict) or not calibration:
        raise InvalidInput(f"must be a mapping of one or more of {', '.join(sorted(CALIBRATION_KEYS))}", field=where)
    check_keys(calibration, CALIBRATION_KEYS, where)
    if "positives_above_negatives" in calibration and calibration["positives_above_negatives"] is not True:
        raise InvalidInput("must be true where given", field=f"{where}.positives_above_negatives")
    if "min_categories" in calibration:
        ordinal = study.rating_scale == Study.Scale.ORDINAL
        most = len(study.ordinal_labels) if ordinal else MAX_CATEGORIES
        _check_whole(calibration["min_categories"], 2, most, f"{where}.min_categories")
    if "min_spread" in calibration:
        _check_fraction(calibration["min_spread"], f"{where}.min_spread")


def _check_whole(value, low: int, high: int, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"must be a whole number from {low} to {high}", field=field)


def _check_fraction(value, field: str, *, above: float = 0.0) -> None:
    if not _is_number(value) or not above < value <= 1:
        raise InvalidInput(f"must be a number above {above:g} and at most 1", field=field)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rule_fixed_because(study: Study) -> str:
    """Why the study's qualification rule can no longer change; empty while it can."""
    if study.status not in RULE_STATUSES or TrainingRead.objects.filter(case__study=study).exists():
        return "the qualification rule can only change in draft or enrolling, before any training read"
    return ""


@transaction.atomic
def set_rule(*, actor: User, study: Study, rule: dict) -> Study:
    """Make ``rule`` the study's qualification rule (empty: none required); fixed once training has begun."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    reason = rule_fixed_because(study)
    if reason:
        raise RuleViolation(reason, field="qualification")
    validate_rule(rule, study)
    study.qualification = rule
    study.save(update_fields=["qualification", "updated_at"])
    return study


def training_arms(study: Study) -> list[Arm]:
    """The arms training cases are read in, in reading order (the rule's ``arms``, else every arm)."""
    arms = list(study.arms.order_by("order"))
    named = study.qualification.get("arms")
    if not named:
        return arms
    by_name = {arm.name: arm for arm in arms}
    return [by_name[name] for name in named if name in by_name]


# ---------------------------------------------------------------- the evaluation


@dataclass(frozen=True)
class EvaluatedRead:
    """A training read in the first training arm, with its case's truth."""

    rating: float
    decision: bool | None
    truth: int


def evaluate(rule: dict, study: Study, reads: list[EvaluatedRead], *, cases_read: int, cases_available: int) -> dict:
    """Every criterion of ``rule`` on a reader's evaluated training ``reads``: name, figure, threshold, whether met.

    ``cases_read``: training cases read in every training arm; ``cases_available``: the study's training cases.
    """
    criteria = [_min_cases(rule["min_cases"], cases_read, cases_available)]
    if "min_auc" in rule:
        criteria.append(_min_auc(rule["min_auc"], reads))
    if "min_agreement" in rule:
        criteria.append(_min_agreement(rule["min_agreement"], reads, study))
    calibration = rule.get("calibration", {})
    if calibration.get("positives_above_negatives"):
        criteria.append(_positives_above_negatives(reads))
    if "min_categories" in calibration:
        criteria.append(_min_categories(calibration["min_categories"], reads))
    if "min_spread" in calibration:
        criteria.append(_min_spread(calibration["min_spread"], reads, study))
    passed = all(criterion["passed"] for criterion in criteria)
    unmet = [criterion for criterion in criteria if not criterion["passed"]]
    return {
        "required": True,
        "passed": passed,
        "evaluated_at": timezone.now().isoformat(),
        "cases_read": cases_read,
        "cases_available": cases_available,
        "reads_evaluated": len(reads),
        "criteria": criteria,
        "summary": "every criterion is met" if passed else "; ".join(c["note"] for c in unmet),
    }


def _criterion(name: str, label: str, value, threshold, passed: bool, note: str) -> dict:
    return {"name": name, "label": label, "value": value, "threshold": threshold, "passed": bool(passed),
            "note": note}


def _min_cases(minimum: int, cases_read: int, available: int) -> dict:
    note = f"{cases_read} of {minimum} training cases read"
    if available < minimum:
        note += f" (the study has {available} training case{'s' if available != 1 else ''})"
    return _criterion("min_cases", "training cases read in every training arm", cases_read, minimum,
                      cases_read >= minimum, note)


def _min_auc(minimum: float, reads: list[EvaluatedRead]) -> dict:
    label = "AUC of the ratings against truth"
    truth = np.array([read.truth == 1 for read in reads], dtype=bool)
    if truth.all() or not truth.any():
        return _criterion("min_auc", label, None, minimum, False,
                          "the AUC needs a diseased and a non-diseased training case read")
    value = float(auc(np.array([read.rating for read in reads]), truth))
    return _criterion("min_auc", label, value, minimum, value >= minimum,
                      f"AUC {value:.3f} {'reaches' if value >= minimum else 'is below'} {minimum:g}")


def _min_agreement(minimum: float, reads: list[EvaluatedRead], study: Study) -> dict:
    label = "fraction of calls agreeing with truth"
    if not study.binary_decision and study.decision_threshold is None:
        return _criterion("min_agreement", label, None, minimum, False,
                          "the study asks for no yes/no decision and has no decision threshold to make a call")
    calls = [call_of(read.rating, read.decision, study) for read in reads]
    if not reads:
        return _criterion("min_agreement", label, None, minimum, False, "no training case read yet")
    value = sum(call == (read.truth == 1) for call, read in zip(calls, reads, strict=True)) / len(reads)
    return _criterion("min_agreement", label, value, minimum, value >= minimum,
                      f"agreement {value:.2f} {'reaches' if value >= minimum else 'is below'} {minimum:g}")


def call_of(rating: float, decision: bool | None, study: Study) -> bool | None:
    """A read's yes/no call: the reader's decision where the study asks for one, else rating >= threshold."""
    if study.binary_decision:
        return decision
    if study.decision_threshold is None:
        return None
    return rating >= study.decision_threshold


def _positives_above_negatives(reads: list[EvaluatedRead]) -> dict:
    name, label = "calibration.positives_above_negatives", "mean rating of diseased minus non-diseased cases"
    diseased = [read.rating for read in reads if read.truth == 1]
    normal = [read.rating for read in reads if read.truth == 0]
    if not diseased or not normal:
        return _criterion(name, label, None, 0, False,
                          "comparing mean ratings needs a diseased and a non-diseased training case read")
    value = float(np.mean(diseased) - np.mean(normal))
    note = (f"diseased cases rated {value:g} above non-diseased ones on average" if value > 0 else
            f"diseased cases rated {-value:g} below non-diseased ones on average: higher ratings mean more suspicious")
    return _criterion(name, label, value, 0, value > 0, note)


def _min_categories(minimum: int, reads: list[EvaluatedRead]) -> dict:
    value = len({read.rating for read in reads})
    return _criterion("calibration.min_categories", "distinct ratings used", value, minimum, value >= minimum,
                      f"{value} distinct rating{'s' if value != 1 else ''} used of the {minimum} asked")


def _min_spread(minimum: float, reads: list[EvaluatedRead], study: Study) -> dict:
    name, label = "calibration.min_spread", "fraction of the rating scale spanned"
    if not reads:
        return _criterion(name, label, None, minimum, False, "no training case read yet")
    low, high = study.rating_bounds
    ratings = [read.rating for read in reads]
    value = (max(ratings) - min(ratings)) / (high - low)
    return _criterion(name, label, value, minimum, value >= minimum,
                      f"ratings span {value:.0%} of the scale, {'at least' if value >= minimum else 'under'} "
                      f"the {minimum:.0%} asked")


# ---------------------------------------------------------------- a reader's evaluation


def reader_evaluation(reader: Reader) -> dict:
    """The rule of ``reader``'s study evaluated on their training reads so far (``{}`` where none is required)."""
    study = reader.study
    if not study.qualification:
        return {}
    arms = training_arms(study)
    cases = set(training_cases(study).values_list("pk", flat=True))
    reads = TrainingRead.objects.filter(reader=reader, case__in=cases, arm__in=arms)
    arms_read: dict[int, set[int]] = {}
    for case_id, arm_id in reads.values_list("case_id", "arm_id"):
        arms_read.setdefault(case_id, set()).add(arm_id)
    every_arm = {arm.pk for arm in arms}
    complete = sum(1 for read in arms_read.values() if read >= every_arm)
    evaluated = [EvaluatedRead(rating, decision, truth) for rating, decision, truth in
                 reads.filter(arm__in=arms[:1]).order_by("pk").values_list("rating", "decision", "case__truth")]
    return evaluate(study.qualification, study, evaluated, cases_read=complete, cases_available=len(cases))


def training_cases(study: Study):
    """The study's training cases a reader can be shown feedback on: those with truth."""
    return study.cases.filter(is_training=True, truth__isnull=False)


def record_evaluation(reader: Reader, actor: User) -> dict:
    """Evaluate ``reader`` (locked by the caller) and keep the result; qualify them once every criterion holds.
    The evaluation that qualified a reader is kept: later training reads do not change it."""
    if reader.qualified_at is not None:
        return reader.qualification
    evaluation = reader_evaluation(reader)
    if not evaluation:
        return evaluation
    reader.qualification = evaluation
    fields = ["qualification"]
    if evaluation["passed"]:
        reader.qualified_at = timezone.now()
        fields.append("qualified_at")
    reader.save(update_fields=fields)
    if evaluation["passed"]:
        audit.record(action=QUALIFIED_EVENT, entity="studies.Reader", entity_id=reader.pk, study_id=reader.study_id,
                     actor=actor, after={"reader": reader.code, "qualified_at": reader.qualified_at,
                                         "rule": reader.study.qualification, "criteria": evaluation["criteria"]})
    return evaluation


def reader_summaries(study: Study) -> dict[str, dict]:
    """Each reader's qualification by code, as the report's reader table shows it."""
    required = bool(study.qualification)
    return {
        code: {"required": required, "qualified_at": qualified_at.isoformat() if qualified_at else None,
               "criteria": evaluation.get("criteria", []), "summary": evaluation.get("summary", "")}
        for code, qualified_at, evaluation in study.readers.values_list("code", "qualified_at", "qualification")
    }
