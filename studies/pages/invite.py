"""The page an invited reader's e-mail links to: set a password (Django's SetPasswordForm and the
password validators), be logged in, and go to the worklist.

As Django's password-reset page does, the token leaves the address at once: it is kept in the
session and the browser is sent on to ``.../set-password/``, so it is not in the history, in the
Referer of later requests, or in access logs of the form's page.
"""

from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from studies.errors import DomainError
from studies.services import invitations

SET_PASSWORD = "set-password"
TOKEN_KEY = "_invite_token"
# The account is the reader's own and has no second factor; the axes backend only counts failures.
BACKEND = "django.contrib.auth.backends.ModelBackend"


@sensitive_post_parameters()
@never_cache
def accept(request, uidb64: str, token: str):
    from_link = token != SET_PASSWORD
    token = token if from_link else request.session.get(TOKEN_KEY, "")
    user = invitations.invited_user(uidb64, token)
    if user is None:
        return render(request, "console/invite_accept.html", {"valid": False}, status=404)
    if from_link:
        request.session[TOKEN_KEY] = token
        return redirect("invite-accept", uidb64=uidb64, token=SET_PASSWORD)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:  # the user as stored now: the session keeps a hash of the new password
            user = invitations.accept_invite(user=user, token=token, password=form.cleaned_data["new_password1"])
        except DomainError as error:
            return render(request, "console/invite_accept.html", {"valid": False, "error": error.message},
                          status=error.status_code)
        del request.session[TOKEN_KEY]
        login(request, user, backend=BACKEND)
        return redirect("reader-worklist")
    status = 400 if form.errors else 200
    return render(request, "console/invite_accept.html", {"valid": True, "form": form, "invited": user}, status=status)
