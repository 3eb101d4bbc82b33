"""Settings of the server the e2e tests and the viewer benchmark start: ``config.settings``, plus
the fast hasher the test process stores passwords with (tests/conftest.py)."""

import os

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]

# Playwright's ``wait_for_function`` evaluates its predicate with ``eval``, which the CSP refuses;
# the browser tests therefore get the policy as report-only, except test_csp.py, which proves the
# workstation and pages under the enforced policy (E2E_ENFORCE_CSP=1) using ``browser.wait_until``.
if os.environ.get("E2E_ENFORCE_CSP") != "1":
    CONTENT_SECURITY_POLICY_REPORT_ONLY, CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY, None  # noqa: F405
