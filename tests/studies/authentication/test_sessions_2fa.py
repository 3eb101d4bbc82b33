"""Browser sessions: idle and absolute limits; TOTP two-factor for staff, on the pages and the
token endpoint, never asked of readers."""

import time

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from studies.models import AuditEvent
from studies.security import ACTIVITY_KEY, LOGIN_KEY

from .logins import audit_events, page_login, token_login

# --- sessions ---------------------------------------------------------------------------------

def _logged_in(user) -> Client:
    client = Client()
    assert page_login(client, user.username, "pw").status_code == 302
    return client


def _age_session(client, **seconds_ago):
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[key] = now - ago
    session.save()


def test_session_cookie_ends_with_the_browser(reader):
    response = page_login(Client(), "reader1", "pw")
    cookie = response.cookies["sessionid"]
    assert not cookie["expires"] and not cookie["max-age"]


def test_reader_session_ends_after_thirty_idle_minutes(reader):
    client = _logged_in(reader)
    _age_session(client, **{ACTIVITY_KEY: 29 * 60})
    assert client.get("/api/v1/worklist/").status_code == 200
    _age_session(client, **{ACTIVITY_KEY: 31 * 60})
    response = client.get("/api/v1/worklist/")
    assert response.status_code == 401
    assert client.get("/read/")["Location"].startswith("/accounts/login/")
    assert audit_events("auth.logout")[-1].after == {"reason": "idle"}


def test_staff_have_a_longer_idle_limit(coordinator):
    client = _logged_in(coordinator)
    _age_session(client, **{ACTIVITY_KEY: 45 * 60})
    assert client.get("/api/v1/studies/").status_code == 200
    _age_session(client, **{ACTIVITY_KEY: 61 * 60})
    assert client.get("/api/v1/studies/").status_code == 401


def test_activity_keeps_a_session_alive_until_its_absolute_limit(reader):
    client = _logged_in(reader)
    _age_session(client, **{LOGIN_KEY: 11 * 3600, ACTIVITY_KEY: 60})
    assert client.get("/api/v1/worklist/").status_code == 200
    _age_session(client, **{LOGIN_KEY: 12 * 3600 + 60, ACTIVITY_KEY: 60})
    assert client.get("/api/v1/worklist/").status_code == 401
    assert audit_events("auth.logout")[-1].after == {"reason": "session limit"}


# --- two-factor -------------------------------------------------------------------------------

@pytest.fixture
def totp_settings(settings):
    # One code per time step (replay protection); the steps around now are accepted, so each
    # use below takes the next step, and no drift is learned from them.
    settings.OTP_TOTP_SYNC = False


def _code(device, step_offset=0) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, step_offset):06d}"


def _enroll(client, user, step_offset=-1) -> TOTPDevice:
    page = client.get("/accounts/2fa/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    text = page.content.decode()
    assert device.config_url.replace("&", "&amp;") in text and "<svg" in text
    assert client.post("/accounts/2fa/", {"code": _code(device, step_offset), "next": "/"}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_staff_enroll_then_must_enter_a_code_after_the_password(totp_settings, coordinator):
    client = _logged_in(coordinator)
    assert client.get("/").status_code == 200  # optional: nothing asked before enrolling
    device = _enroll(client, coordinator)
    assert client.get("/").status_code == 200  # enrolling verified this session
    client.post("/accounts/logout/")

    client = _logged_in(coordinator)
    assert client.get("/")["Location"] == "/accounts/2fa/verify/?next=/"
    assert client.get("/admin/")["Location"].startswith("/accounts/2fa/verify/")
    assert client.get("/api/v1/studies/").status_code == 403
    verified = client.post("/accounts/2fa/verify/", {"code": _code(device, 0), "next": "/admin/"})
    assert verified["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/studies/").status_code == 200
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="auth.2fa")] == [
        "auth.2fa_enrolled", "auth.2fa_verified",
    ]


def test_wrong_code_is_refused_and_audited(totp_settings, coordinator):
    device = _enroll(_logged_in(coordinator), coordinator)
    client = _logged_in(coordinator)
    response = client.post("/accounts/2fa/verify/", {"code": _code(device, 5)})
    assert response.status_code == 400
    assert client.get("/")["Location"].startswith("/accounts/2fa/verify/")
    assert audit_events("auth.2fa_failed")


def test_a_password_alone_cannot_enroll_another_device(totp_settings, coordinator):
    _enroll(_logged_in(coordinator), coordinator)
    client = _logged_in(coordinator)  # password only, code not yet entered
    assert client.get("/accounts/2fa/")["Location"] == "/accounts/2fa/verify/?next=/accounts/2fa/"
    assert client.post("/accounts/2fa/", {"code": "123456"})["Location"].startswith("/accounts/2fa/verify/")
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1


def test_token_endpoint_asks_enrolled_staff_for_the_code(totp_settings, statistician):
    device = _enroll(_logged_in(statistician), statistician)
    without = token_login(Client(), "stat", "pw")
    assert without.status_code == 400 and without.json()["field"] == "otp_token"
    assert token_login(Client(), "stat", "pw", otp_token=_code(device, 0)).status_code == 200


def test_readers_are_never_asked_for_a_second_factor(settings, reader):
    settings.REQUIRE_2FA_FOR_STAFF = True
    client = _logged_in(reader)
    assert client.get("/read/").status_code == 200
    assert client.get("/accounts/2fa/").status_code == 403
    assert token_login(Client(), "reader1", "pw").status_code == 200


def test_required_second_factor_sends_staff_to_enroll_first(totp_settings, settings, admin_user):
    settings.REQUIRE_2FA_FOR_STAFF = True
    client = _logged_in(admin_user)
    assert client.get("/admin/")["Location"] == "/accounts/2fa/?next=/admin/"
    assert token_login(Client(), "boss", "pw").status_code == 403
    _enroll(client, admin_user)
    assert client.get("/admin/").status_code == 200

