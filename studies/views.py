"""Server-rendered pages. The reading workstation itself lives in ``viewer_static``."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from studies import selectors
from studies.permissions import Action, has_action, visible_studies


@login_required
def home(request):
    user = request.user
    context = {
        "worklist": selectors.worklist(user) if has_action(user, Action.READ_CASES) else [],
        "studies": visible_studies(user).order_by("-id") if has_action(user, Action.VIEW_STUDY) else [],
        "is_reader": has_action(user, Action.READ_CASES),
        "can_change": has_action(user, Action.CHANGE_STUDY),
    }
    return render(request, "studies/home.html", context)


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
