"""Server-rendered pages. The reading workstation itself lives in ``viewer_static``."""

from celery import current_app
from django import db
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from studies.middleware import UNAVAILABLE
from studies.permissions import Action, has_action, visible_studies


@login_required
def home(request):
    """Readers go to their worklist; staff see their studies."""
    user = request.user
    if has_action(user, Action.READ_CASES):
        return redirect("reader-worklist")
    context = {
        "studies": visible_studies(user).order_by("-id") if has_action(user, Action.VIEW_STUDY) else [],
        "can_change": has_action(user, Action.CHANGE_STUDY),
    }
    return render(request, "studies/home.html", context)


def healthz(request):
    """200 when the database and the broker (where tasks are queued) answer; else 503 naming what is down."""
    checks = {"database": _database_answers, "broker": _broker_answers}
    states = {name: "ok" if check() else "unavailable" for name, check in checks.items()}
    if "unavailable" in states.values():
        response = JsonResponse({"status": "unavailable", **states}, status=503)
        response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": "ok", **states})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except db.Error:
        return False
    return True


def _broker_answers() -> bool:
    """Tasks run in-process without a broker; otherwise one connection attempt, no retries."""
    app = current_app  # the project's Celery app (config.celery), which the app layer does not import
    if app.conf.task_always_eager:
        return True
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=app.conf.broker_connection_timeout)
    except UNAVAILABLE["broker"]:
        return False
    return True
