"""Login lockout: ten failures in a row on any password path lock the account for the cool-off;
logins, logouts, failures and lockouts are audited without the passwords tried."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from knox.models import AuthToken

from studies.models import AuditEvent, Role

from .logins import ADMIN_LOGIN, LOGIN, audit_events, page_login, token_login


def _end_lockout():
    """Move every recorded failure to before the cool-off, as if its time had passed."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))


def test_defaults_are_ten_failures_and_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_login_page_locks_after_ten_wrong_passwords_until_the_cool_off_ends(path, reader, admin_user):
    user = admin_user if path == ADMIN_LOGIN else reader
    client = Client()
    statuses = [page_login(client, user.username, f"wrong{i}", path).status_code for i in range(10)]
    assert statuses == [200] * 9 + [429]  # the tenth failure locks the account

    refused = page_login(client, user.username, "pw", path)
    assert refused.status_code == 429
    assert "locked for 15 minutes" in refused.content.decode()
    assert refused["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session

    _end_lockout()
    assert page_login(client, user.username, "pw", path).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_token_endpoint_locks_after_ten_wrong_passwords(reader):
    client = Client()
    statuses = [token_login(client, "reader1", f"wrong{i}").status_code for i in range(10)]
    assert statuses == [400] * 9 + [429]
    refused = token_login(client, "reader1", "pw")
    assert refused.status_code == 429
    assert "locked for 15 minutes" in refused.json()["detail"]
    assert refused["Retry-After"] == "900"
    assert not AuthToken.objects.exists()

    _end_lockout()
    assert token_login(client, "reader1", "pw").status_code == 200


def test_failures_on_all_paths_count_together(reader, admin_user):
    for i in range(5):
        page_login(Client(), "reader1", f"wrong{i}")
        token_login(Client(), "reader1", f"again{i}")
    assert token_login(Client(), "reader1", "pw").status_code == 429
    assert page_login(Client(), "reader1", "pw").status_code == 429


def test_lockout_is_per_username_not_per_address(reader, make_user):
    make_user("reader2", Role.READER)
    for i in range(10):
        token_login(Client(), "reader1", f"wrong{i}")
    # Same address (the test client's 127.0.0.1), other account: unaffected.
    assert token_login(Client(), "reader2", "pw").status_code == 200
    assert token_login(Client(), "reader1", "pw").status_code == 429


def test_a_successful_login_resets_the_count_of_failures_in_a_row(reader):
    for i in range(9):
        token_login(Client(), "reader1", f"wrong{i}")
    assert token_login(Client(), "reader1", "pw").status_code == 200
    for i in range(9):
        token_login(Client(), "reader1", f"later{i}")
    assert token_login(Client(), "reader1", "pw").status_code == 200


def test_login_events_are_audited_without_passwords(reader):
    client = Client()
    assert page_login(client, "reader1", "pw").status_code == 302
    client.post("/accounts/logout/")
    for i in range(10):
        page_login(Client(), "reader1", f"secret-guess-{i}")

    login, = audit_events("auth.login")
    assert (login.actor_username, login.entity, login.entity_id) == ("reader1", "auth.User", str(reader.pk))
    logout, = audit_events("auth.logout")
    assert logout.actor_username == "reader1" and logout.after == {"reason": "user"}
    failed = audit_events("auth.login_failed")
    assert len(failed) == 10 and all(event.after["username"] == "reader1" for event in failed)
    lockout, = audit_events("auth.lockout")
    assert lockout.after["username"] == "reader1" and lockout.after["minutes"] == 15
    assert "secret-guess" not in str(list(AuditEvent.objects.values_list("before", "after")))
