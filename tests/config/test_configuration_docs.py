"""deploy/README.md documents every variable the settings read and every metric /metrics exposes."""

import re

from django.test import Client

from tests.conftest import ROOT

README = (ROOT / "deploy" / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_variable_the_settings_read_is_in_the_configuration_table():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", source))
    read |= set(re.findall(r"^    ([A-Z][A-Z0-9_]+)=\(", source, flags=re.MULTILINE))  # environ.Env(NAME=(type, default))
    read |= set(re.findall(r"Env\(\)\.\w+\(\"([A-Z][A-Z0-9_]+)\"", source))
    assert {"SECRET_KEY", "DEID_KEY", "CELERY_BROKER_URL", "METRICS_TOKEN"} <= read  # the scan finds them
    table = {name for row in section("Configuration").splitlines() if row.startswith("| `")
             for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}
    assert sorted(read - table) == []


def test_every_metric_is_documented(db):
    exposed = set(re.findall(r"^# TYPE (mrmc_\w+) ", Client().get("/metrics").content.decode(), flags=re.MULTILINE))
    assert len(exposed) >= 5
    documented = set(re.findall(r"`(mrmc_\w+)`", section("Metrics")))
    assert sorted(exposed - documented) == []
