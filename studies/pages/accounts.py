"""Two-factor pages of staff: enroll an authenticator app, and enter its code after the password."""

from urllib.parse import quote

import segno
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from studies.errors import InvalidInput, NotAllowed
from studies.services import accounts


def _next_url(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return url if safe else "/"


@login_required
def otp_setup(request):
    """Show a new secret as an otpauth:// URI and its QR code; a code from the app confirms it."""
    if accounts.uses_second_factor(request.user):
        if not request.user.is_verified():  # a password alone must not enroll a second device
            return redirect(f"{reverse('otp-verify')}?next={quote(request.get_full_path())}")
        return render(request, "registration/otp_setup.html", {"enrolled": True})
    try:
        device = accounts.start_totp_enrollment(user=request.user)
    except NotAllowed as error:
        raise PermissionDenied(str(error)) from error
    error = ""
    if request.method == "POST":
        try:
            accounts.confirm_totp(request=request, user=request.user, code=request.POST.get("code", ""))
            return redirect(_next_url(request))
        except InvalidInput as invalid:
            error = invalid.message
    uri = device.config_url
    context = {"uri": uri, "qr_svg": segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"),
               "error": error, "next": _next_url(request)}
    return render(request, "registration/otp_setup.html", context, status=400 if error else 200)


@login_required
def otp_verify(request):
    """The code step after a password login, for staff with a confirmed device."""
    error = ""
    if request.method == "POST":
        try:
            accounts.verify_second_factor(request=request, user=request.user, code=request.POST.get("code", ""))
            return redirect(_next_url(request))
        except InvalidInput as invalid:
            error = invalid.message
    return render(request, "registration/otp_verify.html", {"error": error, "next": _next_url(request)},
                  status=400 if error else 200)
