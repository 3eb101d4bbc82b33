"""Server-rendered pages. The reading workstation itself lives in ``viewer_static``."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from studies.permissions import Action, has_action, visible_studies


@login_required
def home(request):
    """Readers go to their worklist, truthers to their truthing panels, monitors to their deployments; staff see
    their studies."""
    user = request.user
    if has_action(user, Action.READ_CASES):
        return redirect("reader-worklist")
    if has_action(user, Action.TRUTH_CASES):
        return redirect("truthing-worklist")
    if has_action(user, Action.CHANGE_MONITORING) and not has_action(user, Action.VIEW_STUDY):
        return redirect("console-field-monitoring")  # monitors: their deployments
    context = {
        "studies": visible_studies(user).order_by("-id") if has_action(user, Action.VIEW_STUDY) else [],
        "can_change": has_action(user, Action.CHANGE_STUDY),
    }
    return render(request, "studies/home.html", context)

