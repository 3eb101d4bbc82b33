"""Statisticians' pages: a study's analysis runs, the start form, a run's progress and results, and the
submission package reporting a run."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from studies import selectors
from studies.errors import DomainError, NotAllowed
from studies.models import AnalysisRun
from studies.permissions import Action, can, require, visible_studies
from studies.reports.package import report_files
from studies.services import analysis, package
from studies.services.analysis_exports import EXPORTS, downloads

METHOD_LABELS = {"or": "Obuchowski-Rockette (OR), Hillis degrees of freedom",
                 "ustat": "U-statistics (iMRMC, BDG degrees of freedom; AUC only)"}
FOM_LABELS = {"auc": "Area under the ROC curve (AUC)", "pauc": "Partial AUC", "sens": "Sensitivity",
              "spec": "Specificity"}
COV_LABELS = {"jackknife": "Jackknife", "delong": "DeLong", "unbiased": "Unbiased (U-statistics)",
              "bootstrap": "Bootstrap"}
CONVENTION_LABELS = {"iowa": "Iowa (fully crossed studies)",
                     "mrmcaov": "MRMCaov (any design, missing reads allowed)"}


def _choices(names, labels: dict) -> list[tuple[str, str]]:
    return [(name, labels[name]) for name in names]


class StartRunForm(forms.Form):
    method = forms.ChoiceField(choices=_choices(analysis.METHOD_CHOICES, METHOD_LABELS), initial="or",
                               required=False)
    fom = forms.ChoiceField(choices=_choices(analysis.FOM_CHOICES, FOM_LABELS), initial="auc",
                            label="Figure of merit")
    cov = forms.ChoiceField(choices=_choices(analysis.COV_CHOICES, COV_LABELS), initial="jackknife",
                            label="Covariance estimator")
    convention = forms.ChoiceField(
        choices=[("", "By design: Iowa when fully crossed, MRMCaov otherwise"),
                 *_choices(analysis.CONVENTION_CHOICES, CONVENTION_LABELS)],
        initial="", required=False, label="OR convention")
    alpha = forms.FloatField(initial=0.05, min_value=0.001, max_value=0.5, label="Significance level α")
    threshold = forms.FloatField(required=False, label="Threshold for sensitivity and specificity",
                                 help_text="Empty: the study's decision threshold")
    subgroup_variables = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Subgroup variables",
        help_text="Case metadata analysed by subgroup; none ticked: no subgroup analyses")
    min_subgroup_cases = forms.IntegerField(initial=10, min_value=2, label="Minimum subgroup cases per class")
    power_effect = forms.FloatField(initial=0.05, min_value=0.001, max_value=0.5,
                                    label="AUC difference a follow-up study should detect")
    r_crosscheck = forms.BooleanField(required=False, label="Cross-check with R MRMCaov")

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        variables = selectors.case_metadata_names(study)
        field = self.fields["subgroup_variables"]
        field.choices = [(name, name) for name in variables]
        field.initial = [name for name in (study.subgroups or variables) if name in variables]
        if not variables:
            del self.fields["subgroup_variables"]

    def options(self) -> dict:
        options = {**self.cleaned_data, "method": self.cleaned_data["method"] or "or",
                   "convention": self.cleaned_data["convention"] or None}
        options.setdefault("subgroup_variables", [])
        return options


def _allowed(request, action: Action, study) -> None:
    try:
        require(request.user, action, study)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc


@login_required
def study_runs(request, study_id: int):
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    _allowed(request, Action.VIEW_READS, study)
    form = StartRunForm(request.POST or None, study=study)
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
        "can_package": all(can(request.user, action, run.study) for action in package.REQUIRED_ACTIONS),
    }
    return render(request, "analysis/run.html", context)


@login_required
def run_package(request, run_id: int):
    """The study's submission package reporting this run, as a download (audit-logged)."""
    run = get_object_or_404(AnalysisRun.objects.select_related("study"), pk=run_id,
                            study__in=visible_studies(request.user))
    try:
        filename, content = package.export_package(actor=request.user, study=run.study, run_id=run.pk,
                                                   report_files=report_files)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except DomainError as exc:
        return HttpResponse(str(exc), status=exc.status_code, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
