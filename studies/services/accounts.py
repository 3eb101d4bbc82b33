"""Logging in: API tokens, the second factor of staff, and the audit of every login event.

Password checks go through ``django.contrib.auth.authenticate`` with the request, so the lockout
of django-axes (settings: AXES_*) applies to the login page, the admin and the API alike.
"""

import django_otp
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from knox.settings import knox_settings

from studies.errors import InvalidInput, LockedOut, NotAllowed, RuleViolation
from studies.models import Role

from . import audit

SECOND_FACTOR_ROLES = {Role.ADMIN, Role.COORDINATOR, Role.STATISTICIAN}
DEVICE_NAME = "authenticator app"


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed logins for this account: it is locked for {minutes} minutes after the last "
        "failed attempt. Try again later, or ask an administrator to unlock it."
    )


# --- API tokens -------------------------------------------------------------------------------

def authenticate_for_token(*, request, username: str, password: str, otp_token: str = ""):
    """The user these credentials (and, where the user has one, the one-time code) prove."""
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise LockedOut(lockout_message())
        raise InvalidInput("Unable to log in with provided credentials.")
    if uses_second_factor(user):
        if not otp_token:
            raise InvalidInput("this account uses two-factor authentication: send otp_token", field="otp_token")
        if django_otp.match_token(user, otp_token) is None:
            audit.record(action="auth.2fa_failed", entity="auth.User", entity_id=user.pk, actor=user)
            raise InvalidInput("wrong or expired one-time code", field="otp_token")
    elif must_enroll_second_factor(user):
        raise NotAllowed("enroll a second factor first: log in in the browser and follow the steps")
    return user


@transaction.atomic
def issue_token(*, request, user) -> tuple[AuthToken, str]:
    """A new API token of ``user`` (stored hashed) that expires after REST_KNOX TOKEN_TTL."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
    audit.record(action="auth.token_created", entity="auth.User", entity_id=user.pk, actor=user,
                 after={"expiry": instance.expiry.isoformat()})
    # What django.contrib.auth.login does for a session: last_login, and the failure count reset.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return instance, token


@transaction.atomic
def revoke_token(*, user, token: AuthToken) -> None:
    token.delete()
    audit.record(action="auth.token_revoked", entity="auth.User", entity_id=user.pk, actor=user)


@transaction.atomic
def revoke_all_tokens(*, user) -> int:
    count, _ = AuthToken.objects.filter(user=user).delete()
    audit.record(action="auth.token_revoked", entity="auth.User", entity_id=user.pk, actor=user,
                 after={"all": True, "count": count})
    return count


# --- Second factor (TOTP) ---------------------------------------------------------------------

def may_use_second_factor(user) -> bool:
    """Coordinators, statisticians and admins; readers are never asked for a second factor."""
    return user.is_superuser or user.role in SECOND_FACTOR_ROLES


def uses_second_factor(user) -> bool:
    return may_use_second_factor(user) and django_otp.user_has_device(user, confirmed=True)


def must_enroll_second_factor(user) -> bool:
    return settings.REQUIRE_2FA_FOR_STAFF and may_use_second_factor(user) and not uses_second_factor(user)


@transaction.atomic
def start_totp_enrollment(*, user) -> TOTPDevice:
    """The user's unconfirmed TOTP device (a new secret unless one is pending)."""
    if not may_use_second_factor(user):
        raise NotAllowed("readers do not use a second factor")
    if uses_second_factor(user):
        raise RuleViolation("two-factor login is already on; an administrator can remove the device")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


@transaction.atomic
def confirm_totp(*, request, user, code: str) -> TOTPDevice:
    """Confirm the pending device with a code from the app; the session counts as verified."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if uses_second_factor(user):
        raise RuleViolation("two-factor login is already on; an administrator can remove the device")
    if device is None:
        raise InvalidInput("no enrollment in progress: reload the page")
    if not device.verify_token(code.strip()):
        raise InvalidInput("wrong or expired code: enter the current code from the app", field="code")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(action="auth.2fa_enrolled", entity="auth.User", entity_id=user.pk, actor=user)
    django_otp.login(request, device)
    return device


def verify_second_factor(*, request, user, code: str) -> None:
    """Mark the session verified if ``code`` is a current code of one of the user's devices."""
    device = django_otp.match_token(user, code.strip())
    if device is None:
        audit.record(action="auth.2fa_failed", entity="auth.User", entity_id=user.pk, actor=user)
        raise InvalidInput("wrong or expired code", field="code")
    django_otp.login(request, device)
    audit.record(action="auth.2fa_verified", entity="auth.User", entity_id=user.pk, actor=user)


# --- Audit of login events, whichever path raised them ------------------------------------------

@receiver(user_logged_in, dispatch_uid="audit_login")
def _audit_login(sender, request, user, **kwargs):
    audit.record(action="auth.login", entity="auth.User", entity_id=user.pk, actor=user,
                 after={"path": request.path if request else ""})


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    audit.record(action="auth.login_failed", entity="auth.User", entity_id="",
                 after={"username": username, "path": request.path if request else ""})


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action="auth.logout", entity="auth.User", entity_id=user.pk, actor=user,
                     after={"reason": getattr(request, "logout_reason", "user")})


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def _audit_lockout(sender, request, username, ip_address, **kwargs):
    audit.record(action="auth.lockout", entity="auth.User", entity_id="",
                 after={"username": username, "ip_address": ip_address,
                        "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)})
