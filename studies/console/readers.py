"""The console's readers page: who is enrolled, whether they can log in yet and, where the study requires it,
how far their qualification has come; invitations by e-mail (studies.services.invitations), and removal while
the rules allow it."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies.errors import DomainError
from studies.models import Reader, Study
from studies.services import invitations, study_setup
from studies.services.studies import SETUP_STATUSES

from .forms import InviteForm
from .setup import posted, study_to_change


def _site_url(request) -> str:
    """This site's address as the reader's browser will reach it (the host is one of ALLOWED_HOSTS)."""
    return request.build_absolute_uri("/").rstrip("/")


def _account_state(user) -> str:
    if not user.is_active:
        return "inactive"
    return "active" if user.has_usable_password() else "invited"


@dataclass(frozen=True)
class Qualification:
    """A reader's qualification as the page shows it, from the last evaluation kept with the reader."""

    cases_read: int
    cases_required: int
    qualified_at: datetime | None
    unmet: list[dict]  # the criteria not met, each with its note giving the reader's figure and the threshold


def _qualification(reader: Reader, rule: dict) -> Qualification | None:
    """None where the study requires no qualification."""
    if not rule:
        return None
    evaluation = reader.qualification or {}
    unmet = [criterion for criterion in evaluation.get("criteria", []) if not criterion["passed"]]
    return Qualification(evaluation.get("cases_read", 0), rule["min_cases"], reader.qualified_at, unmet)


def _readers_page(request, study: Study, *, form=None, error: str = "", status: int = 200):
    invited_at = invitations.last_invited(study)
    readers = [(reader, _account_state(reader.user), invited_at.get(reader.pk),
                _qualification(reader, study.qualification), study_setup.removal_refused_because(reader))
               for reader in study.readers.select_related("user").order_by("code")]
    context = {"study": study, "tab": "readers", "readers": readers, "form": form or InviteForm(),
               "may_change": study.status in SETUP_STATUSES, "error": error}
    return render(request, "console/readers.html", context, status=status)


@login_required
def readers(request, study_id: int):
    """The enrolled readers; POST invites one by e-mail."""
    study = study_to_change(request, study_id)
    if request.method != "POST":
        return _readers_page(request, study)
    return posted(
        request, InviteForm(request.POST),
        lambda form: invitations.invite_reader(actor=request.user, study=study, site_url=_site_url(request),
                                               **form.cleaned_data),
        again=lambda form, status: _readers_page(request, study, form=form, status=status),
        done=lambda reader: (f"{reader.code} enrolled; e-mail sent to {reader.user.email}.",
                             reverse("console-readers", args=[study.pk])))


@login_required
@require_POST
def reader_resend(request, study_id: int, reader_id: int):
    return _change_reader(
        request, study_id, reader_id,
        lambda reader: invitations.resend_invite(actor=request.user, reader=reader, site_url=_site_url(request)),
        "A new link was sent to {reader.user.email}; the earlier one no longer works.")


@login_required
@require_POST
def reader_remove(request, study_id: int, reader_id: int):
    return _change_reader(request, study_id, reader_id,
                          lambda reader: study_setup.remove_reader(actor=request.user, reader=reader),
                          "{reader.code} removed from the study (the account stays).")


def _change_reader(request, study_id: int, reader_id: int, change, done: str):
    """``change(reader)`` for one of the study's readers; ``done`` says so (a format of ``reader``)."""
    study = study_to_change(request, study_id)
    reader = get_object_or_404(study.readers.select_related("user", "study"), pk=reader_id)
    try:
        change(reader)
    except DomainError as error:
        return _readers_page(request, study, error=str(error), status=error.status_code)
    messages.success(request, done.format(reader=reader))
    return redirect("console-readers", study_id=study.pk)
