"""Server-rendered pages. The reading workstation itself lives in ``viewer_static``."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from studies.permissions import Action, has_action, visible_studies


@login_required
def home(request):
    """Readers go to their worklist, truthers to their truthing panels; staff see their studies."""
    user = request.user
    if has_action(user, Action.READ_CASES):
        return redirect("reader-worklist")
    if has_action(user, Action.TRUTH_CASES):
        return redirect("truthing-worklist")
    context = {
        "studies": visible_studies(user).order_by("-id") if has_action(user, Action.VIEW_STUDY) else [],
        "can_change": has_action(user, Action.CHANGE_STUDY),
    }
    return render(request, "studies/home.html", context)

