"""The console's set-up pages: a coordinator's studies, a new study, and each study's set-up.

Views authorize, call a service and render; every write is a service call (audit-logged there).
A refused write re-renders the page with the service's message and its status (400, 409); a done
one redirects (so a reload does not send it again) with a message saying what happened.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from studies.models import Study
from studies.permissions import Action, can, has_action, visible_studies

from .steps import next_step, setup_steps, with_counts


def _require_console(user) -> None:
    if not has_action(user, Action.CHANGE_STUDY):
        raise PermissionDenied("the console is for coordinators and admins")


def study_to_change(request, study_id: int) -> Study:
    """The study, if the user may change it: 404 where they may not see it at all, else 403."""
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    if not can(request.user, Action.CHANGE_STUDY, study):
        raise PermissionDenied("only the study's coordinators and admins set it up")
    return study


@login_required
def home(request):
    """The coordinator's studies, each with its status, counts and the next set-up step."""
    _require_console(request.user)
    studies = with_counts(visible_studies(request.user)).order_by("-id")
    rows = [(study, next_step(setup_steps(study))) for study in studies]
    return render(request, "console/home.html", {"rows": rows})
