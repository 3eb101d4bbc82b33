"""Statisticians' pages: a study's analysis runs, the start form, and a run's progress and results."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from studies.errors import DomainError, NotAllowed
from studies.models import AnalysisRun
from studies.permissions import Action, can, require, visible_studies
from studies.services import analysis
from studies.services.analysis_exports import EXPORTS, downloads


class StartRunForm(forms.Form):
    method = forms.ChoiceField(choices=[(c, c) for c in analysis.METHOD_CHOICES], initial="or", required=False)
    fom = forms.ChoiceField(choices=[(c, c) for c in analysis.FOM_CHOICES], initial="auc")
    cov = forms.ChoiceField(choices=[(c, c) for c in analysis.COV_CHOICES], initial="jackknife",
                            label="Covariance")
    convention = forms.ChoiceField(
        choices=[("", "by design (iowa if fully crossed, else mrmcaov)"),
                 *((c, c) for c in analysis.CONVENTION_CHOICES)],
        initial="", required=False)
    alpha = forms.FloatField(initial=0.05, min_value=0.001, max_value=0.5)
    threshold = forms.FloatField(required=False, help_text="Sens/spec threshold; empty: the study's")
    min_subgroup_cases = forms.IntegerField(initial=10, min_value=2, label="Minimum subgroup cases per class")
    power_effect = forms.FloatField(initial=0.05, min_value=0.001, max_value=0.5, label="Follow-up AUC difference")
    r_crosscheck = forms.BooleanField(required=False, label="Cross-check with R MRMCaov")

    def options(self) -> dict:
        return {**self.cleaned_data, "method": self.cleaned_data["method"] or "or",
                "convention": self.cleaned_data["convention"] or None}


def _allowed(request, action: Action, study) -> None:
    try:
        require(request.user, action, study)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc


@login_required
def study_runs(request, study_id: int):
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    _allowed(request, Action.VIEW_READS, study)
    form = StartRunForm(request.POST or None)
    if request.method == "POST":
        _allowed(request, Action.RUN_ANALYSIS, study)
        if form.is_valid():
            try:
                run = analysis.start_run(actor=request.user, study=study, options=form.options())
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("analysis-run-page", run_id=run.pk)
    context = {
        "study": study,
        "runs": analysis.visible_runs(study),
        "form": form,
        "can_run": can(request.user, Action.RUN_ANALYSIS, study),
    }
    return render(request, "analysis/runs.html", context)


@login_required
def run_page(request, run_id: int):
    run = get_object_or_404(AnalysisRun.objects.select_related("study", "job", "created_by"), pk=run_id,
                            study__in=visible_studies(request.user))
    _allowed(request, Action.VIEW_READS, run.study)
    primary = (run.results or {}).get("primary")
    context = {
        "run": run,
        "primary": primary,
        "means": list(primary["treatment_means"].items()) if primary else [],
        "difference": primary["rrrc"]["differences"][0] if primary and primary.get("rrrc") else None,
        "exports": {name: EXPORTS[name].description for name in downloads(run) if name in EXPORTS},
    }
    return render(request, "analysis/run.html", context)
