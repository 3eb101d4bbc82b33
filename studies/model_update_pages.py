"""The page of a study's locked evaluations (a predetermined change control plan): each evaluation with its hashes,
criteria and how often its test set was used, each look with its verdict per criterion, and the forms to lock a
new evaluation and to evaluate a model update from a CSV file. For the study's statisticians, coordinators and
monitors (``Action.EVALUATE_MODEL_UPDATES``)."""

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from studies.errors import DomainError, NotAllowed
from studies.models import ModelUpdateEvaluation, Study
from studies.permissions import Action, require, visible_studies
from studies.reports.model_update import CRITERION_LABELS, in_order, verdict
from studies.selectors import case_metadata_names
from studies.services import model_updates

EXAMPLE_CRITERIA = {"auc_noninferiority": {"margin": 0.02, "alpha": 0.025}, "sensitivity_floor": 0.85,
                    "specificity_floor": 0.80}


class LockForm(forms.Form):
    name = forms.CharField(max_length=model_updates.NAME_MAX, initial="Modification protocol")
    criteria = forms.JSONField(widget=forms.Textarea(attrs={"rows": 7, "cols": 70}), label="Acceptance criteria",
                               help_text="Fixed before the first update is evaluated: auc_noninferiority, "
                                         "sensitivity_floor, specificity_floor, subgroup_max_drop, calibration")
    options = forms.JSONField(required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
                              label="Analysis options", help_text='e.g. {"reference_operating_point": 0.5}; empty: '
                                                                  "the cleared model's own")


class LookForm(forms.Form):
    evaluation = forms.TypedChoiceField(coerce=int, label="Locked evaluation")
    model_name = forms.CharField(max_length=model_updates.MODEL_NAME_MAX)
    model_version = forms.CharField(max_length=model_updates.MODEL_VERSION_MAX)
    operating_point = forms.FloatField(help_text="A score at or above it is a positive call")
    file = forms.FileField(label="Scores (CSV: case,score)")

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evaluation"].choices = [(e.pk, f"{e.name} v{e.version}")
                                             for e in study.locked_evaluations.order_by("-version")]


@login_required
def study_evaluations(request, study_id: int):
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    try:
        require(request.user, Action.EVALUATE_MODEL_UPDATES, study)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    sent = request.POST.get("form") if request.method == "POST" else None
    lock_form = LockForm(request.POST if sent == "lock" else None, initial={"criteria": _example_criteria(study)})
    look_form = LookForm(request.POST, request.FILES, study=study) if sent == "look" else LookForm(study=study)
    if request.method == "POST":
        done = _lock(request, study, lock_form) if sent == "lock" else _look(request, look_form)
        if done is not None:
            return redirect(f"{request.path}#evaluation-{done}")
    context = {"study": study, "evaluations": _evaluations(study), "lock_form": lock_form, "look_form": look_form,
               "lockable": study.status in model_updates.LOCKABLE_STATUSES}
    return render(request, "analysis/evaluations.html", context, status=400 if request.method == "POST" else 200)


def _lock(request, study: Study, form: LockForm) -> int | None:
    """The new evaluation's id, or None with the refusal on the form."""
    if not form.is_valid():
        return None
    try:
        evaluation = model_updates.lock_evaluation(actor=request.user, study=study, name=form.cleaned_data["name"],
                                                   criteria=form.cleaned_data["criteria"],
                                                   options=form.cleaned_data["options"] or {})
    except DomainError as exc:
        form.add_error(None, str(exc))
        return None
    return evaluation.pk


def _look(request, form: LookForm) -> int | None:
    if not form.is_valid():
        return None
    values = form.cleaned_data
    try:
        evaluation = model_updates.evaluation_for(actor=request.user, evaluation_id=values["evaluation"])
        model_updates.evaluate_update(
            actor=request.user, evaluation=evaluation, model_name=values["model_name"],
            model_version=values["model_version"], operating_point=values["operating_point"],
            scores=model_updates.scores_from_csv(values["file"].read()),
            source=ModelUpdateEvaluation.Source.IMPORTED)
    except DomainError as exc:
        form.add_error(None, str(exc))
        return None
    return evaluation.pk


def _example_criteria(study: Study) -> dict:
    """The example a new plan starts from, with a subgroup criterion on a variable the study's cases have."""
    variables = case_metadata_names(study)
    example = EXAMPLE_CRITERIA | ({"subgroup_max_drop": {"variable": "site" if "site" in variables else variables[0],
                                                         "max": 0.05}} if variables else {})
    return example


def _evaluations(study: Study) -> list[dict]:
    evaluations = study.locked_evaluations.select_related("created_by").order_by("-version")
    return [{"evaluation": evaluation, "criteria": json.dumps(evaluation.criteria, indent=1),
             "looks": [{"look": look, "verdict": verdict(look.passed),
                        "criteria": [{**criterion, "label": CRITERION_LABELS.get(criterion["name"], criterion["name"]),
                                      "verdict": verdict(criterion["passed"])}
                                     for criterion in in_order(look.result["criteria"])]}
                       for look in evaluation.looks.select_related("created_by").order_by("-look")]}
            for evaluation in evaluations]
