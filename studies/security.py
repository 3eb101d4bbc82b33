"""Session rules and login responses: idle and absolute session limits, the second-factor step of
staff, and the page or JSON answer to a locked-out login."""

import time
from urllib.parse import quote

import knox.auth
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme

from studies.models import Role
from studies.services import accounts

ACTIVITY_KEY = "activity_at"
LOGIN_KEY = "login_at"
# The last-activity time is written at most this often, so a busy session is not saved per request.
ACTIVITY_RESOLUTION_S = 60


def _wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/dicomweb/"))


@receiver(user_logged_in, dispatch_uid="session_clock_at_login")
def _start_session_clock(sender, request, user, **kwargs):
    """A login starts the idle and absolute clocks afresh (a token login has no session to time)."""
    session = getattr(request, "session", None)
    if session is not None and SESSION_KEY in session:
        session[LOGIN_KEY] = session[ACTIVITY_KEY] = int(time.time())


class IdleSessionMiddleware:
    """Logs a session out after SESSION_IDLE_SECONDS without a request (readers' limit shorter
    than staff's) or SESSION_COOKIE_AGE after login, whichever comes first. The request then
    goes on anonymous: pages redirect to the login page, the API answers 401."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    @staticmethod
    def _check(request):
        now = int(time.time())
        session = request.session
        login_at = session.setdefault(LOGIN_KEY, now)
        activity_at = session.get(ACTIVITY_KEY, now)
        kind = "reader" if request.user.role == Role.READER else "staff"
        if now - activity_at > settings.SESSION_IDLE_SECONDS[kind]:
            request.logout_reason = "idle"
        elif now - login_at > settings.SESSION_COOKIE_AGE:
            request.logout_reason = "session limit"
        else:
            if now - activity_at >= ACTIVITY_RESOLUTION_S or ACTIVITY_KEY not in session:
                session[ACTIVITY_KEY] = now
            return
        logout(request)


class SecondFactorMiddleware:
    """Staff with a confirmed TOTP device enter a code after their password before anything
    else (the admin included); with REQUIRE_2FA_FOR_STAFF, staff without one enroll first."""

    OPEN_URL_NAMES = ("login", "logout", "otp-verify", "otp-setup")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        step = self._pending_step(request)
        if step is None:
            return self.get_response(request)
        if _wants_json(request):
            return JsonResponse({"detail": "complete two-factor login in the browser first"}, status=403)
        return redirect(f"{reverse(step)}?next={quote(request.get_full_path())}")

    def _pending_step(self, request) -> str | None:
        user = request.user
        if not user.is_authenticated or not accounts.may_use_second_factor(user) or user.is_verified():
            return None
        if request.path.startswith(settings.STATIC_URL):  # Django gives it its leading slash
            return None
        if request.path in {reverse(name) for name in self.OPEN_URL_NAMES}:
            return None
        if accounts.uses_second_factor(user):
            return "otp-verify"
        return "otp-setup" if settings.REQUIRE_2FA_FOR_STAFF else None


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; the login page with the reason, or JSON."""
    message = accounts.lockout_message()
    if _wants_json(request):
        response = JsonResponse({"detail": message}, status=429)
    else:
        form = AuthenticationForm(request)
        response = render(request, "registration/login.html", {"form": form, "locked_out": message}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


def static_file_headers(headers, path, url):
    """WHITENOISE_ADD_HEADERS_FUNCTION: static files carry the policy too. A worker runs under the
    policy of its own script's response, so this is what holds the viewer's decoder workers (and
    their WebAssembly) to it; nginx does the same for the files it serves (deploy/nginx.conf)."""
    if settings.CONTENT_SECURITY_POLICY:
        headers["Content-Security-Policy"] = build_policy()
    if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None):
        headers["Content-Security-Policy-Report-Only"] = build_policy(report_only=True)


class TokenAuthentication(knox.auth.TokenAuthentication):
    """knox's token check without its scan of every other token of the user on each request (a
    query per API call, on the readers' hot path): an expired token presented is still refused and
    deleted, and the user's other expired tokens are removed when a new one is issued
    (:func:`studies.services.accounts.issue_token`)."""

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of :class:`TokenAuthentication`: knox's own."""

    target_class = "studies.security.TokenAuthentication"
