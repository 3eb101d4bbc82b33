"""Login protection: lockout on every password path, expiring API tokens revoked at logout,
session limits, Argon2 and the password policy, TOTP two-factor for staff, production checks."""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from studies.models import AuditEvent, Role
from studies.security import ACTIVITY_KEY, LOGIN_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def reader(make_user):
    return make_user("reader1", Role.READER)


@pytest.fixture
def admin_user(make_user):
    """An administrator who may use the Django admin (is_staff, as seed_demo makes staff)."""
    return make_user("boss", Role.ADMIN, is_staff=True)


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", Role.COORDINATOR, is_staff=True)


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _end_lockout():
    """Move every recorded failure to before the cool-off, as if its time had passed."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))


def _page_login(client, username, password, path=LOGIN):
    return client.post(path, {"username": username, "password": password})


def _token_login(client, username, password, **extra):
    return client.post(TOKEN, {"username": username, "password": password, **extra}, content_type="application/json")


# --- lockout ----------------------------------------------------------------------------------

def test_defaults_are_ten_failures_and_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_login_page_locks_after_ten_wrong_passwords_until_the_cool_off_ends(path, reader, admin_user):
    user = admin_user if path == ADMIN_LOGIN else reader
    client = Client()
    statuses = [_page_login(client, user.username, f"wrong{i}", path).status_code for i in range(10)]
    assert statuses == [200] * 9 + [429]  # the tenth failure locks the account

    refused = _page_login(client, user.username, "pw", path)
    assert refused.status_code == 429
    assert "locked for 15 minutes" in refused.content.decode()
    assert refused["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session

    _end_lockout()
    assert _page_login(client, user.username, "pw", path).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_token_endpoint_locks_after_ten_wrong_passwords(reader):
    client = Client()
    statuses = [_token_login(client, "reader1", f"wrong{i}").status_code for i in range(10)]
    assert statuses == [400] * 9 + [429]
    refused = _token_login(client, "reader1", "pw")
    assert refused.status_code == 429
    assert "locked for 15 minutes" in refused.json()["detail"]
    assert refused["Retry-After"] == "900"
    assert not AuthToken.objects.exists()

    _end_lockout()
    assert _token_login(client, "reader1", "pw").status_code == 200


def test_failures_on_all_paths_count_together(reader, admin_user):
    for i in range(5):
        _page_login(Client(), "reader1", f"wrong{i}")
        _token_login(Client(), "reader1", f"again{i}")
    assert _token_login(Client(), "reader1", "pw").status_code == 429
    assert _page_login(Client(), "reader1", "pw").status_code == 429


def test_lockout_is_per_username_not_per_address(reader, make_user):
    make_user("reader2", Role.READER)
    for i in range(10):
        _token_login(Client(), "reader1", f"wrong{i}")
    # Same address (the test client's 127.0.0.1), other account: unaffected.
    assert _token_login(Client(), "reader2", "pw").status_code == 200
    assert _token_login(Client(), "reader1", "pw").status_code == 429


def test_a_successful_login_resets_the_count_of_failures_in_a_row(reader):
    for i in range(9):
        _token_login(Client(), "reader1", f"wrong{i}")
    assert _token_login(Client(), "reader1", "pw").status_code == 200
    for i in range(9):
        _token_login(Client(), "reader1", f"later{i}")
    assert _token_login(Client(), "reader1", "pw").status_code == 200


def test_login_events_are_audited_without_passwords(reader):
    client = Client()
    assert _page_login(client, "reader1", "pw").status_code == 302
    client.post("/accounts/logout/")
    for i in range(10):
        _page_login(Client(), "reader1", f"secret-guess-{i}")

    login, = _events("auth.login")
    assert (login.actor_username, login.entity, login.entity_id) == ("reader1", "auth.User", str(reader.pk))
    logout, = _events("auth.logout")
    assert logout.actor_username == "reader1" and logout.after == {"reason": "user"}
    failed = _events("auth.login_failed")
    assert len(failed) == 10 and all(event.after["username"] == "reader1" for event in failed)
    lockout, = _events("auth.lockout")
    assert lockout.after["username"] == "reader1" and lockout.after["minutes"] == 15
    assert "secret-guess" not in str(list(AuditEvent.objects.values_list("before", "after")))


# --- API tokens -------------------------------------------------------------------------------

def test_token_expires_after_ten_hours_and_is_stored_hashed(reader):
    before = timezone.now()
    body = _token_login(Client(), "reader1", "pw").json()
    assert set(body) == {"token", "expiry"}
    expiry = parse_datetime(body["expiry"])
    assert before + timedelta(hours=10) <= expiry <= timezone.now() + timedelta(hours=10)
    stored, = AuthToken.objects.all()
    assert body["token"] not in str(AuthToken.objects.values_list()[0])  # only a digest and a key prefix
    assert stored.user == reader


def test_form_encoded_credentials_work_too(reader):
    response = Client().post(TOKEN, {"username": "reader1", "password": "pw"})
    assert response.status_code == 200 and response.json()["token"]


def test_token_authenticates_until_logout_then_401(reader):
    token = _token_login(Client(), "reader1", "pw").json()["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/worklist/").status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 204
    response = client.get("/api/v1/worklist/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="auth.token").order_by("seq")] == [
        "auth.token_created", "auth.token_revoked",
    ]


def test_logout_all_revokes_every_token_of_the_user(reader):
    tokens = [_token_login(Client(), "reader1", "pw").json()["token"] for _ in range(3)]
    assert Client(HTTP_AUTHORIZATION=f"Token {tokens[0]}").post("/api/v1/auth/logout-all/").status_code == 204
    for token in tokens:
        assert Client(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/worklist/").status_code == 401


def test_expired_token_gets_401(reader):
    token = _token_login(Client(), "reader1", "pw").json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert Client(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/worklist/").status_code == 401


def test_a_token_request_reads_only_its_own_token(reader):
    token = _token_login(Client(), "reader1", "pw").json()["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/worklist/").status_code == 200
    token_queries = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(token_queries) == 1, token_queries  # the presented token (with its user), no scan of the others


def test_issuing_a_token_removes_the_users_expired_ones(reader, make_user):
    other = make_user("reader9")
    _token_login(Client(), "reader1", "pw")
    _token_login(Client(), "reader9", "pw")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    _token_login(Client(), "reader1", "pw")
    assert sorted(AuthToken.objects.values_list("user__username", flat=True)) == ["reader1", "reader9"]
    assert AuthToken.objects.get(user=reader).expiry > timezone.now()
    assert AuthToken.objects.get(user=other).expiry < timezone.now()  # another user's: left to their next login


def test_old_drf_token_header_format_is_still_the_prefix(reader):
    token = _token_login(Client(), "reader1", "pw").json()["token"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/worklist/").status_code == 401


def test_auth_routes_are_in_the_openapi_schema_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    token = schema["paths"]["/api/v1/auth/token/"]["post"]
    request_schema = token["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request_schema]["required"]) == {"username", "password"}
    response_schema = token["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][response_schema]["properties"]) == {"token", "expiry"}
    assert set(token["responses"]) == {"200", "400", "403", "429"}
    for path in ("/api/v1/auth/logout/", "/api/v1/auth/logout-all/"):
        assert set(schema["paths"][path]["post"]["responses"]) == {"204"}
    messages = [str(m) for m in (*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache)]
    assert not [m for m in messages if "auth" in m.lower() or "Logout" in m or "TokenLogin" in m], messages


# --- sessions ---------------------------------------------------------------------------------

def _logged_in(user) -> Client:
    client = Client()
    assert _page_login(client, user.username, "pw").status_code == 302
    return client


def _age_session(client, **seconds_ago):
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[key] = now - ago
    session.save()


def test_session_cookie_ends_with_the_browser(reader):
    response = _page_login(Client(), "reader1", "pw")
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
    assert _events("auth.logout")[-1].after == {"reason": "idle"}


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
    assert _events("auth.logout")[-1].after == {"reason": "session limit"}


# --- passwords --------------------------------------------------------------------------------

@pytest.fixture
def production_hashers(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


def test_new_passwords_are_hashed_with_argon2(production_hashers, reader):
    reader.set_password("a long enough passphrase")
    assert reader.password.startswith("argon2$")


def test_pbkdf2_hash_still_verifies_and_is_upgraded_at_login(production_hashers, reader):
    reader.password = make_password("old but fine passphrase", hasher="pbkdf2_sha256")
    reader.save()
    assert _page_login(Client(), "reader1", "old but fine passphrase").status_code == 302
    reader.refresh_from_db()
    assert reader.password.startswith("argon2$")


@pytest.mark.parametrize("password,reason", [
    ("83749261", "numeric"),  # the password the issue found accepted
    ("839274619305", "numeric"),  # long enough, but only digits
    ("Xk3#pL9q", "short"),
    ("password1234", "common"),
    ("reader1-pass", "similar"),
])
def test_password_policy_refuses(reader, password, reason):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=reader)
    codes = {error.code for error in refused.value.error_list}
    expected = {"numeric": "password_entirely_numeric", "short": "password_too_short",
                "common": "password_too_common", "similar": "password_too_similar"}[reason]
    assert expected in codes


def test_password_policy_accepts_a_long_passphrase(reader):
    validate_password("granite-otter-lantern-47", user=reader)


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
    assert _events("auth.2fa_failed")


def test_a_password_alone_cannot_enroll_another_device(totp_settings, coordinator):
    _enroll(_logged_in(coordinator), coordinator)
    client = _logged_in(coordinator)  # password only, code not yet entered
    assert client.get("/accounts/2fa/")["Location"] == "/accounts/2fa/verify/?next=/accounts/2fa/"
    assert client.post("/accounts/2fa/", {"code": "123456"})["Location"].startswith("/accounts/2fa/verify/")
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1


def test_token_endpoint_asks_enrolled_staff_for_the_code(totp_settings, statistician):
    device = _enroll(_logged_in(statistician), statistician)
    without = _token_login(Client(), "stat", "pw")
    assert without.status_code == 400 and without.json()["field"] == "otp_token"
    assert _token_login(Client(), "stat", "pw", otp_token=_code(device, 0)).status_code == 200


def test_readers_are_never_asked_for_a_second_factor(settings, reader):
    settings.REQUIRE_2FA_FOR_STAFF = True
    client = _logged_in(reader)
    assert client.get("/read/").status_code == 200
    assert client.get("/accounts/2fa/").status_code == 403
    assert _token_login(Client(), "reader1", "pw").status_code == 200


def test_required_second_factor_sends_staff_to_enroll_first(totp_settings, settings, admin_user):
    settings.REQUIRE_2FA_FOR_STAFF = True
    client = _logged_in(admin_user)
    assert client.get("/admin/")["Location"] == "/accounts/2fa/?next=/admin/"
    assert _token_login(Client(), "boss", "pw").status_code == 403
    _enroll(client, admin_user)
    assert client.get("/admin/").status_code == 200


# --- production settings ----------------------------------------------------------------------

def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "k8#Zq2!vR7mX4pL9wT3nB6yH1cF5gJ0dS8aE2uK7iO4rQ9xV-w3Nd7Yp2",
        "ALLOWED_HOSTS": "mrmc.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MRMC_DATA_DIR": str(tmp_path),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' session, never in production
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _directives(policy: str) -> dict:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_production_responses_carry_hsts_and_the_csp(tmp_path):
    """The headers as a production process sends them (the test process runs with DEBUG on)."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/accounts/login/', secure=True, HTTP_HOST='mrmc.example.org')\n"
        "print(r.status_code); print(r['Strict-Transport-Security']); print(r['Content-Security-Policy'])\n"
    )
    env = {**os.environ, "DJANGO_DEBUG": "0", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "mrmc.example.org",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MRMC_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    status, hsts, csp = result.stdout.split("\n")[:3]
    assert status == "200", result.stderr
    nginx = (Path(ROOT) / "deploy" / "security-headers.conf").read_text()
    assert f'Strict-Transport-Security "{hsts}" always;' in nginx
    nginx_csp = re.search(r'Content-Security-Policy "([^"]+)" always;', nginx).group(1)
    assert _directives(nginx_csp) == _directives(csp)  # the proxy sends the same policy
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    directives = _directives(csp)
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in csp
    assert directives["worker-src"] == "'self' blob:"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
