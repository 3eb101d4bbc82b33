"""The console's accountability page: the subject accountability table with the cases excluded from the analysis,
and the protocol-deviation log with its filters; coordinators exclude cases (and take them back), record
deviations, ask for a detection run and review each deviation here. Statisticians of the study see the page
without the forms; readers are refused; users outside the study are told it does not exist."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studies.models import ProtocolDeviation, Study
from studies.permissions import Action, can
from studies.services import accountability, deviations

from .forms import ConsoleForm
from .monitor import _study
from .setup import posted, study_to_change

Kind, Severity = ProtocolDeviation.Kind, ProtocolDeviation.Severity
KEEP = [("", "keep")]


class ExclusionForm(ConsoleForm):
    case = forms.ChoiceField()
    reason = forms.CharField(max_length=accountability.REASON_MAX, widget=forms.TextInput(attrs={"size": 50}))

    def __init__(self, *args, labels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["case"].choices = [(label, label) for label in labels]


class RecordForm(ConsoleForm):
    kind = forms.ChoiceField(choices=Kind.choices)
    severity = forms.ChoiceField(choices=[("", "by the protocol's rules"), *Severity.choices], required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label="What happened")
    reader_code = forms.ChoiceField(required=False, label="Reader")
    case_label = forms.CharField(required=False, max_length=64, label="Case", help_text="Its label, if one case")
    occurred_at = forms.DateTimeField(required=False, label="When",
                                      help_text="UTC, e.g. 2026-03-01 14:00; now if empty")

    def __init__(self, *args, reader_codes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reader_code"].choices = [("", "–"), *((code, code) for code in reader_codes)]


class ReviewForm(ConsoleForm):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 50}),
                           help_text="What the review found; changing the severity, why")
    severity = forms.ChoiceField(choices=KEEP + list(Severity.choices), required=False)


class FilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "every kind"), *Kind.choices], required=False)
    severity = forms.ChoiceField(choices=[("", "every severity"), *Severity.choices], required=False)
    reviewed = forms.ChoiceField(choices=[("", "reviewed or not"), ("no", "not reviewed"), ("yes", "reviewed")],
                                 required=False)


def _page_url(study: Study) -> str:
    return reverse("console-accountability", args=[study.pk])


def _page(request, study: Study, *, exclusion_form=None, record_form=None, review=None, status: int = 200):
    """The page; ``review`` is (deviation id, form) of a review refused, shown open on its row."""
    may_change = can(request.user, Action.CHANGE_STUDY, study)
    filters = FilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    reviewed = {"yes": True, "no": False}.get(chosen.get("reviewed", ""))
    listed = deviations.deviation_list(study, kind=chosen.get("kind", ""), severity=chosen.get("severity", ""),
                                       reviewed=reviewed)
    review_id, review_form = review or (None, None)
    rows = [(deviation, review_form if deviation.pk == review_id else ReviewForm()) for deviation in listed]
    included = accountability.included_labels(study)
    context = {
        "study": study, "tab": "accountability", "may_change": may_change,
        "table": accountability.accountability(study), "excluded": accountability.excluded_cases(study),
        "editable": study.status in accountability.EXCLUDABLE_STATUSES,
        "counts": deviations.deviation_log(study)["counts"], "filters": filters, "rows": rows,
        "rules": deviations.rules_text(study.deviation_rules, deviations.window_days(study)),
        "exclusion_form": exclusion_form or ExclusionForm(labels=included),
        "record_form": record_form or RecordForm(reader_codes=_reader_codes(study)),
    }
    return render(request, "console/accountability.html", context, status=status)


def _reader_codes(study: Study) -> list[str]:
    return list(study.readers.order_by("code").values_list("code", flat=True))


@login_required
@require_GET
def accountability_page(request, study_id: int):
    return _page(request, _study(request, study_id, Action.VIEW_READS))


@login_required
@require_POST
def exclude(request, study_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, ExclusionForm(request.POST, labels=accountability.included_labels(study)),
        lambda form: accountability.exclude_case(actor=request.user, study=study,
                                                 case_label=form.cleaned_data["case"],
                                                 reason=form.cleaned_data["reason"]),
        again=lambda form, status: _page(request, study, exclusion_form=form, status=status),
        done=lambda case: (f"Case {case.label} is excluded from the analysis.", _page_url(study)))


class WithdrawForm(ConsoleForm):
    case = forms.CharField(max_length=64)
    reason = forms.CharField(max_length=accountability.REASON_MAX)


@login_required
@require_POST
def withdraw(request, study_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, WithdrawForm(request.POST),
        lambda form: accountability.include_case(actor=request.user, study=study,
                                                 case_label=form.cleaned_data["case"],
                                                 reason=form.cleaned_data["reason"]),
        again=lambda form, status: _refused(request, study, form, status),
        done=lambda case: (f"Case {case.label} is back in the analysis.", _page_url(study)))


def _refused(request, study: Study, form, status: int):
    """A refused withdrawal or detection: the page, its reasons said at the top."""
    for field, errors in form.errors.items():
        messages.error(request, f"{'' if field == '__all__' else field + ': '}{' '.join(errors)}")
    return _page(request, study, status=status)


@login_required
@require_POST
def record(request, study_id: int):
    study = study_to_change(request, study_id)

    def save(form):
        values = form.cleaned_data
        return deviations.record_deviation(
            actor=request.user, study=study, kind=values["kind"], description=values["description"],
            occurred_at=values["occurred_at"], severity=values["severity"] or None,
            reader_code=values["reader_code"], case_label=values["case_label"])

    return posted(
        request, RecordForm(request.POST, reader_codes=_reader_codes(study)), save,
        again=lambda form, status: _page(request, study, record_form=form, status=status),
        done=lambda deviation: (f"Deviation recorded ({deviation.severity}).", _page_url(study)))


@login_required
@require_POST
def detect(request, study_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, ConsoleForm(request.POST), lambda form: deviations.detect_now(actor=request.user, study=study),
        again=lambda form, status: _refused(request, study, form, status),
        done=lambda found: (f"{found.created} new deviation(s) found, {found.updated} updated.", _page_url(study)))


@login_required
@require_POST
def review(request, study_id: int, deviation_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, ReviewForm(request.POST),
        lambda form: deviations.review_deviation(actor=request.user, study=study, deviation_id=deviation_id,
                                                 note=form.cleaned_data["note"],
                                                 severity=form.cleaned_data["severity"] or None),
        again=lambda form, status: _page(request, study, review=(deviation_id, form), status=status),
        done=lambda deviation: (f"Deviation reviewed ({deviation.severity}).", _page_url(study)))
