"""Settings of the server the e2e tests and the viewer benchmark start: ``mrmc.settings``, plus
the fast hasher the test process stores passwords with (tests/conftest.py)."""

from mrmc.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]
