"""Locked evaluations and the model updates evaluated on them (a predetermined change control plan).

:func:`lock_evaluation` freezes a locked study's test set: its analysed cases (label, truth, subgroup values),
the cleared model's output on each (the study's shown AI output set) and the modification protocol's acceptance
criteria with the analysis options. Each part is kept with the SHA-256 of its canonical JSON, so anyone can check
that a later look used exactly that set and that plan; the criteria are fixed before the first update is seen.

:func:`evaluate_update` is one look: a new model version's score for every frozen case (imported from a CSV, see
:func:`scores_from_csv`, or computed here from the cases' stored images, :func:`evaluate_model_file`) judged against
the cleared version by :func:`mrmc.stats.model_update.evaluate_acceptance_criteria`. Every look is kept and
numbered, passed or not: how often the test set has been used is part of the evidence (each look at the same cases
erodes their independence from the model's development). Both writes are audited (the models are in
``studies.signals.AUDITED_MODELS``).
"""

import hashlib
import json
import math

import numpy as np
from django.db import transaction
from django.db.models import Max

from mrmc.stats.model_update import evaluate_acceptance_criteria, validate_acceptance_criteria
from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import AIOutput, LockedEvaluation, ModelUpdateEvaluation, Study, User
from studies.models.bounds import SCORE_LIMIT
from studies.permissions import Action, require, visible_studies
from studies.selectors import analysed_cases
from studies.services import audit, precompute
from studies.services.imports import MAX_REPORTED_ERRORS, _csv_rows, _decode, _Errors, _parse_float
from studies.services.rule_fields import is_number

LOCKABLE_STATUSES = (Study.Status.LOCKED, Study.Status.ANALYZED)
# Analysis options fixed with the criteria: the cleared model's operating point, when its outputs carry none
OPTIONS = {"reference_operating_point"}
NAME_MAX = LockedEvaluation._meta.get_field("name").max_length
MODEL_NAME_MAX = ModelUpdateEvaluation._meta.get_field("model_name").max_length
MODEL_VERSION_MAX = ModelUpdateEvaluation._meta.get_field("model_version").max_length


def digest(value) -> str:
    """SHA-256 of ``value`` as canonical JSON (keys sorted, no spaces): the same content, the same hash."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------ locking


@transaction.atomic
def lock_evaluation(*, actor: User, study: Study, name: str, criteria: dict, options: dict | None = None
                    ) -> LockedEvaluation:
    """Freeze ``study``'s test set, its cleared model's outputs and the acceptance criteria as a new version."""
    require(actor, Action.EVALUATE_MODEL_UPDATES, study)
    study = Study.objects.select_for_update().get(pk=study.pk)  # versions are numbered one at a time
    if study.status not in LOCKABLE_STATUSES:
        raise RuleViolation(f"the study is {study.status}: an evaluation freezes a locked study's cases and truth "
                            f"(lock the study first)")
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"give the evaluation a name of 1 to {NAME_MAX} characters", field="name")
    cases = _frozen_cases(study)
    reference = _reference(study, cases)
    full_criteria = _checked_criteria(criteria, cases)
    options = _checked_options(options, reference, full_criteria)
    version = (study.locked_evaluations.aggregate(last=Max("version"))["last"] or 0) + 1
    with audit.context(user=actor):
        return LockedEvaluation.objects.create(
            study=study, version=version, name=name, cases=cases, reference=reference,
            criteria={"criteria": full_criteria, "options": options},
            cases_sha256=digest([{"case": c["case"], "subgroups": c["subgroups"]} for c in cases]),
            truth_sha256=digest([{"case": c["case"], "truth": c["truth"]} for c in cases]),
            plan_sha256=digest({"criteria": full_criteria, "options": options}), created_by=actor,
        )


def _frozen_cases(study: Study) -> list[dict]:
    """The analysed cases in label order: training and excluded cases are not part of the test set."""
    cases = list(analysed_cases(study).order_by("label").values("label", "truth", "metadata", "acquisition"))
    if not cases:
        raise RuleViolation("the study has no analysed cases to evaluate on")
    without_truth = [case["label"] for case in cases if case["truth"] is None]
    if without_truth:
        raise RuleViolation(f"{len(without_truth)} case(s) have no truth: {_some(without_truth)}; every case of a "
                            f"test set needs its reference standard")
    # Subgroup variables: the acquisition attributes read from the images, and the coordinator's metadata
    return [{"case": case["label"], "truth": int(case["truth"]),
             "subgroups": {key: "" if value is None else str(value)
                           for key, value in {**(case["acquisition"] or {}), **(case["metadata"] or {})}.items()}}
            for case in cases]


def _reference(study: Study, cases: list[dict]) -> dict:
    """The cleared model: the shown set's name, version, operating point and score of every frozen case."""
    output_set = study.ai_output_sets.filter(shown=True).first()
    if output_set is None:
        raise RuleViolation("the study has no AI output set shown to readers: the cleared model's outputs are the "
                            "reference a model update is compared with")
    outputs = dict(AIOutput.objects.filter(output_set=output_set).values_list("case__label", "score"))
    missing = [case["case"] for case in cases if case["case"] not in outputs]
    if missing:
        raise RuleViolation(f"the cleared model {output_set.model_name} {output_set.model_version} has no output "
                            f"for {len(missing)} case(s): {_some(missing)}")
    points = set(AIOutput.objects.filter(output_set=output_set).values_list("operating_point", flat=True))
    return {"model_name": output_set.model_name, "model_version": output_set.model_version,
            "output_set": output_set.pk, "outputs_sha256": output_set.outputs_sha256,
            "operating_point": points.pop() if len(points) == 1 else None,
            "scores": {case["case"]: outputs[case["case"]] for case in cases}}


def _checked_criteria(criteria, cases: list[dict]) -> dict:
    try:
        full = validate_acceptance_criteria(criteria)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="criteria") from None
    subgroup = full.get("subgroup_max_drop")
    if subgroup is not None:
        known = sorted({key for case in cases for key in case["subgroups"]})
        if subgroup["variable"] not in known:
            raise InvalidInput(f"subgroup_max_drop: {subgroup['variable']!r} is not a variable of the study's cases "
                               f"(they have: {', '.join(known) or 'none'})", field="criteria")
    return full


def _checked_options(options, reference: dict, criteria: dict) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise InvalidInput(f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(OPTIONS))}",
                           field="options")
    point = options.get("reference_operating_point", reference["operating_point"])
    if point is not None and not is_number(point):
        raise InvalidInput(f"reference_operating_point must be a number, got {point!r}", field="options")
    if point is None and criteria.get("subgroup_max_drop", {}).get("metric") == "sensitivity":
        raise InvalidInput("the cleared model's outputs carry no single operating point: give "
                           "reference_operating_point for the subgroup sensitivity criterion", field="options")
    return {"reference_operating_point": point}


def _some(labels: list[str], shown: int = 10) -> str:
    more = len(labels) - shown
    return ", ".join(labels[:shown]) + (f" (+{more} more)" if more > 0 else "")


# ------------------------------------------------------------------ looks


def scores_from_csv(data: bytes) -> dict[str, float]:
    """A model version's scores from a CSV file with the columns ``case`` and ``score`` (every problem reported
    with its line; nothing is returned from a file with any)."""
    errors = _Errors()
    _, rows = _csv_rows(_decode(data, "scores file"), required={"case", "score"}, what="scores file", errors=errors)
    scores, lines = {}, {}
    for line, row in rows:
        case = row["case"]
        if not case:
            errors.add("is required", line=line, field_name="case")
        elif case in lines:
            errors.add(f"case '{case}' is listed already on line {lines[case]}", line=line, field_name="case")
        score = _parse_float(row["score"], line=line, field_name="score", errors=errors)
        if case and case not in lines and score is not None:
            scores[case] = score
        lines.setdefault(case, line)
    errors.raise_if_any("scores file")
    return scores


@transaction.atomic
def evaluate_update(*, actor: User, evaluation: LockedEvaluation, model_name: str, model_version: str, scores,
                    operating_point, source: str, model_sha256: str = "") -> ModelUpdateEvaluation:
    """One look at ``evaluation``'s test set: judge a model version's ``scores`` (case label -> score) against
    the cleared version with the evaluation's criteria, and keep the look, its number and its verdict."""
    require(actor, Action.EVALUATE_MODEL_UPDATES, evaluation.study)
    evaluation = LockedEvaluation.objects.select_for_update().get(pk=evaluation.pk)  # looks counted one at a time
    model_name, model_version = _model_names(model_name, model_version)
    if source not in ModelUpdateEvaluation.Source.values:
        raise InvalidInput(f"source must be one of {', '.join(ModelUpdateEvaluation.Source.values)}", field="source")
    if not is_number(operating_point):
        raise InvalidInput(f"the operating point must be a number, got {operating_point!r}", field="operating_point")
    scores = _checked_scores(evaluation, scores)
    result = _judged(evaluation, scores, float(operating_point))
    look = (evaluation.looks.aggregate(last=Max("look"))["last"] or 0) + 1
    with audit.context(user=actor):
        return ModelUpdateEvaluation.objects.create(
            evaluation=evaluation, look=look, model_name=model_name, model_version=model_version,
            model_sha256=model_sha256, source=source, operating_point=float(operating_point), scores=scores,
            scores_sha256=digest(scores), result=result, passed=result["passed"], created_by=actor,
        )


def _model_names(name, version) -> tuple[str, str]:
    name, version = (name or "").strip(), (version or "").strip()
    if not name or len(name) > MODEL_NAME_MAX:
        raise InvalidInput(f"the model's name is required (at most {MODEL_NAME_MAX} characters)", field="model_name")
    if not version or len(version) > MODEL_VERSION_MAX:
        raise InvalidInput(f"the model's version is required (at most {MODEL_VERSION_MAX} characters)",
                           field="model_version")
    return name, version


def _checked_scores(evaluation: LockedEvaluation, scores) -> dict[str, float]:
    """A finite score for every frozen case and for nothing else, each problem named with its case."""
    if not isinstance(scores, dict) or not scores:
        raise InvalidInput("give the scores as an object of case label to score", field="scores")
    frozen = [case["case"] for case in evaluation.cases]
    problems = []
    missing = [label for label in frozen if label not in scores]
    if missing:
        problems.append(f"no score for {len(missing)} case(s) of the test set: {_some(missing)}")
    extra = sorted(set(scores) - set(frozen))
    if extra:
        problems.append(f"{len(extra)} case(s) are not in the locked test set: {_some(extra)}")
    probabilities = "calibration" in evaluation.criteria["criteria"]
    for label in frozen:
        if label not in scores:
            continue
        score = scores[label]
        if not is_number(score):
            problems.append(f"case {label}: {score!r} is not a finite number")
        elif abs(score) > SCORE_LIMIT:
            problems.append(f"case {label}: {score!r} is outside -{SCORE_LIMIT:g} to {SCORE_LIMIT:g}")
        elif probabilities and not 0 <= score <= 1:
            problems.append(f"case {label}: {score!r} is not a probability (the calibration criterion needs 0 to 1)")
    if problems:
        shown = problems[:MAX_REPORTED_ERRORS]
        raise InvalidInput(f"scores rejected, nothing stored: {'; '.join(shown[:3])}"
                           + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""),
                           field="scores", errors=shown)
    return {label: float(scores[label]) for label in frozen}


def _judged(evaluation: LockedEvaluation, scores: dict[str, float], operating_point: float) -> dict:
    """The acceptance criteria evaluated: the verdict and, per criterion, estimate, CI, limit and reason."""
    cases = evaluation.cases
    plan = evaluation.criteria
    variables = {spec["variable"] for name, spec in plan["criteria"].items() if name == "subgroup_max_drop"}
    try:
        verdict = evaluate_acceptance_criteria(
            plan["criteria"],
            truth=np.array([case["truth"] for case in cases], dtype=bool),
            reference_scores=np.array([evaluation.reference["scores"][case["case"]] for case in cases]),
            candidate_scores=np.array([scores[case["case"]] for case in cases]),
            candidate_threshold=operating_point,
            reference_threshold=plan["options"]["reference_operating_point"],
            case_levels={variable: [case["subgroups"].get(variable, "") for case in cases] for variable in variables},
        )
    except ValueError as exc:  # the test set cannot support a criterion (e.g. too few cases of a class)
        raise RuleViolation(f"the criteria cannot be evaluated on this test set: {exc}") from None
    return {"passed": verdict.passed, "n_normal": verdict.n_normal, "n_abnormal": verdict.n_abnormal,
            "criteria": [_criterion(result) for result in verdict.criteria]}


def _criterion(result) -> dict:
    entry = {"name": result.name, "passed": result.passed, "estimate": _finite(result.estimate),
             "ci": [_finite(bound) for bound in result.ci], "limit": result.limit, "reason": result.reason}
    if result.details:
        entry["subgroups"] = [_subgroup(group) for group in result.details]
    return entry


def _subgroup(group) -> dict:
    """One level of the subgroup variable: cleared and new figure, their difference and its CI (None: too few
    cases to compare)."""
    entry = {"level": group.level, "n_normal": group.n_normal, "n_abnormal": group.n_abnormal, "compared": False}
    if group.comparison is not None:
        comparison = group.comparison
        entry.update(compared=True, metric=comparison.metric, reference=comparison.reference,
                     candidate=comparison.candidate, difference=comparison.difference,
                     ci=[_finite(bound) for bound in comparison.ci])
    return entry


def _finite(value: float) -> float | None:
    """JSON holds no NaN: an estimate that does not exist (no subgroup large enough) is null."""
    return float(value) if math.isfinite(value) else None


def evaluate_model_file(*, actor: User, evaluation: LockedEvaluation, model_data: bytes, card_data: bytes,
                        run: precompute.Settings) -> ModelUpdateEvaluation:
    """A look whose scores the platform computes: the model (checked against its card) run here over the frozen
    cases' stored images (:func:`studies.services.precompute.compute_scores`), then judged as :func:`evaluate_update`
    does, under the model file's SHA-256, the card's name, version and operating point."""
    require(actor, Action.EVALUATE_MODEL_UPDATES, evaluation.study)
    scores, card = precompute.compute_scores(study=evaluation.study, labels=[c["case"] for c in evaluation.cases],
                                             model_data=model_data, card_data=card_data, run=run)
    if card.operating_point is None:
        raise InvalidInput("the model card gives no operating point: the floors need one", field="card")
    return evaluate_update(actor=actor, evaluation=evaluation, model_name=card.name, model_version=card.version,
                           scores=scores, operating_point=card.operating_point,
                           source=ModelUpdateEvaluation.Source.PRECOMPUTED,
                           model_sha256=hashlib.sha256(model_data).hexdigest())


# ------------------------------------------------------------------ reading


def evaluation_for(*, actor: User, evaluation_id: int) -> LockedEvaluation:
    """The evaluation, if ``actor`` may evaluate model updates on its study."""
    evaluation = LockedEvaluation.objects.select_related("study", "created_by").filter(pk=evaluation_id).first()
    if evaluation is None or not visible_studies(actor).filter(pk=evaluation.study_id).exists():
        raise NotFound(f"no evaluation {evaluation_id}")
    require(actor, Action.EVALUATE_MODEL_UPDATES, evaluation.study)
    return evaluation


def look_for(*, actor: User, evaluation_id: int, look: int) -> ModelUpdateEvaluation:
    evaluation = evaluation_for(actor=actor, evaluation_id=evaluation_id)
    found = evaluation.looks.select_related("created_by").filter(look=look).first()
    if found is None:
        raise NotFound(f"evaluation {evaluation_id} has no look {look}")
    return found
