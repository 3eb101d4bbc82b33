"""Passwords: Argon2 for new hashes, older PBKDF2 hashes upgraded at login, and the policy."""

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from .logins import page_login


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
    assert page_login(Client(), "reader1", "old but fine passphrase").status_code == 302
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

