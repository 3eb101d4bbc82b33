"""The truther's pages: their truthing panels (where a truther lands after login) and the reading workstation in
truthing mode, which asks ``/api/v1/studies/<id>/truthing/`` for each case: the page carries no case data."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from studies.errors import NotFound
from studies.permissions import Action, has_action
from studies.services import truthing

from .viewer import viewer_assets


def _require_truther(user) -> None:
    if not has_action(user, Action.TRUTH_CASES):
        raise PermissionDenied("only truthers have truthing panels")


@login_required
def truthing_worklist(request):
    """Each panel the truther is on: their role, the round open to them, their progress, the disputes waiting."""
    _require_truther(request.user)
    return render(request, "pages/truthing_worklist.html", {"panels": truthing.panels_of(request.user)})


@login_required
@ensure_csrf_cookie  # the viewer sends it back as X-CSRFToken when it posts a label
def truthing_page(request, study_id: int):
    """The reading workstation in truthing mode for one study whose panel the truther is on."""
    _require_truther(request.user)
    try:
        study, _member = truthing.panel_study(request.user, study_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    assets = viewer_assets()
    config = {
        "truthingStudyId": study.pk,
        "apiRoot": "/api/v1",
        "dicomwebRoot": "/dicomweb",
        "worklistUrl": reverse("truthing-worklist"),
        "user": request.user.username,
    }
    context = {"truthing_study": study, "assets": assets, "config": config}
    return render(request, "pages/reading.html", context, status=200 if assets else 503)
