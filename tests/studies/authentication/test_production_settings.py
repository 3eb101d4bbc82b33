"""Production settings: Django's deploy check is clean, and the responses carry HSTS and the
same content security policy as the proxy configuration."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


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
