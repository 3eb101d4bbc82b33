"""Reader pages: the worklist and the reading workstation that hosts ``viewer_static``.

The reading page carries no case data: the viewer asks the API for each case, so truth, other
readers and (in unaided arms) AI output are never in the page source.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie

from studies import selectors
from studies.errors import NotFound
from studies.models import ReadingSession
from studies.permissions import Action, has_action
from studies.rules import session_state
from studies.services import training

from .viewer import viewer_assets


def _require_reader(user) -> None:
    if not has_action(user, Action.READ_CASES):
        raise PermissionDenied("only readers have a worklist")


@login_required
def worklist(request):
    _require_reader(request.user)
    now = timezone.now()
    context = {"worklist": selectors.worklist(request.user, now), "training": training.training_worklist(request.user),
               "now": now}
    return render(request, "pages/worklist.html", context)


@login_required
@ensure_csrf_cookie  # the viewer sends it back as X-CSRFToken when it posts a read
def reading(request, session_id: int):
    _require_reader(request.user)
    session = (
        ReadingSession.objects.select_related("study")
        .filter(pk=session_id, reader__user=request.user)
        .first()
    )
    if session is None:
        raise Http404("no such session in your worklist")
    is_open, why = session_state(session)
    assets = viewer_assets()
    config = {
        "sessionId": session.pk,
        "apiRoot": "/api/v1",
        "dicomwebRoot": "/dicomweb",
        "worklistUrl": reverse("reader-worklist"),
        "user": request.user.username,
    }
    context = {"session": session, "is_open": is_open, "reason_closed": why, "assets": assets, "config": config}
    return render(request, "pages/reading.html", context, status=200 if assets else 503)


@login_required
@ensure_csrf_cookie  # the viewer sends it back as X-CSRFToken when it posts a training score
def training_page(request, study_id: int):
    """The reading workstation in training mode: the study's training cases, with feedback after each score
    (the viewer asks ``/api/v1/studies/<study_id>/training/``)."""
    _require_reader(request.user)
    try:
        study = training.own_reader(request.user, study_id).study
    except NotFound as exc:
        raise Http404(exc.message) from None
    assets = viewer_assets()
    config = {
        "trainingStudyId": study.pk,
        "apiRoot": "/api/v1",
        "dicomwebRoot": "/dicomweb",
        "worklistUrl": reverse("reader-worklist"),
        "user": request.user.username,
    }
    context = {"training_study": study, "assets": assets, "config": config}
    return render(request, "pages/reading.html", context, status=200 if assets else 503)
