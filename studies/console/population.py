"""The console's case-mix page: the intended-use population the protocol declares, and the study's cases with
truth against it now (counts, proportions with Wilson intervals, targets, flags), while cases can still be added.
Coordinators set the population here (JSON) while the study is set up; statisticians of the study see the page
without the form; readers are refused; users outside the study are told it does not exist."""

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from mrmc.dicom.characteristics import ATTRIBUTES, age_band_labels
from studies.models import Study
from studies.permissions import Action, can
from studies.services import case_mix
from studies.services.ingest.pipeline import age_bounds

from .forms import ConsoleForm
from .monitor import _study
from .setup import posted, study_to_change

POPULATION_MAX_CHARS = 64 * 1024  # a population is a few dozen targets


class PopulationForm(ConsoleForm):
    population = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "cols": 80, "spellcheck": "false"}), required=False,
        max_length=POPULATION_MAX_CHARS, label="Population (JSON)", help_text="Empty: none declared")

    def clean_population(self) -> dict:
        text = self.cleaned_data["population"].strip()
        try:
            return json.loads(text) if text else {}
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None


def _page(request, study: Study, *, form=None, status: int = 200):
    rule = case_mix.rule_of(study.population or {})
    context = {
        "study": study, "tab": "population", "may_change": can(request.user, Action.CHANGE_STUDY, study),
        "fixed_because": case_mix.population_fixed_because(study),
        "form": form or PopulationForm(initial={"population": json.dumps(study.population, indent=2)
                                                if study.population else ""}),
        "current": case_mix.current_case_mix(study), "rule": rule,
        "confidence": f"{100 * (1 - rule['alpha']):g}%", "min_ratio": f"{rule['min_ratio']:g}",
        "age_bands": age_band_labels(age_bounds(study)), "acquisition_variables": list(ATTRIBUTES),
    }
    return render(request, "console/population.html", context, status=status)


@login_required
@require_GET
def population_page(request, study_id: int):
    return _page(request, _study(request, study_id, Action.VIEW_STUDY))


@login_required
@require_POST
def population_set(request, study_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, PopulationForm(request.POST),
        lambda form: case_mix.set_population(actor=request.user, study=study,
                                             population=form.cleaned_data["population"]),
        again=lambda form, status: _page(request, study, form=form, status=status),
        done=lambda saved: ("The intended-use population is saved.",
                            reverse("console-population", args=[study.pk])))
