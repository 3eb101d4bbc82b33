"""Production responses carry HSTS and the same content security policy as the proxy configuration
(the production settings themselves: tests/config/test_production_settings.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.config.test_production_settings import production_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


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
    env = {**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
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
