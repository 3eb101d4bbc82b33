"""What the browser tests under the enforced Content-Security-Policy share: the real server with the policy
enforced (the other browser tests get it report-only), the record of its violations in every document a
page loads, the policy the settings declare and the one a response carries."""

from contextlib import contextmanager

from django.conf import settings

from .server import ServerProcess, database_url

# Every violation fires this event in the document (and Chromium also logs it as a console error).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));
"""


@contextmanager
def enforced_server(dicom_store, tmp_path, **env: str):
    """The server against the test database, the policy enforced, with ``env`` added to its environment."""
    from django.db import connection

    env = {"DATABASE_URL": database_url(connection.settings_dict), "DICOM_STORAGE": str(dicom_store),
           "E2E_ENFORCE_CSP": "1", **env}
    process = ServerProcess(env, log_path=tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


def record_violations(page) -> None:
    """From the next document on, each of the page's documents keeps its violations in ``window.__csp``."""
    page.context.add_init_script(RECORD_VIOLATIONS)


def violations(page) -> list:
    return page.evaluate("window.__csp || []")


def expected_policy() -> dict:
    return {name: " ".join(values) for name, values in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()}


def served_policy(response) -> dict:
    return dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
