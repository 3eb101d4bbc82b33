"""Production settings fail closed: with DJANGO_DEBUG=0 the process refuses to start, naming every
missing item at once; a complete production environment passes ``check --deploy``.

Each case starts a fresh Python (settings are read once per process) with only the variables given.
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL", "DEID_KEY")


def production_env(tmp_path, **changes) -> dict[str, str]:
    """A complete production environment (nothing in it needs to answer: settings do not connect);
    a change to None removes that variable."""
    env = {key: value for key, value in os.environ.items()
           if key not in REQUIRED and not key.startswith(("DJANGO_", "LOG_"))}
    env.update({
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "k8#Zq2!vR7mX4pL9wT3nB6yH1cF5gJ0dS8aE2uK7iO4rQ9xV-w3Nd7Yp2",
        "ALLOWED_HOSTS": "mrmc.example.org",
        "DATABASE_URL": "postgres://mrmc_app@127.0.0.1:1/mrmc",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "DEID_KEY": "h4Rb9-deid-key-kept-for-the-life-of-the-studies",
        "MRMC_DATA_DIR": str(tmp_path),
    })
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def settings_of(env, *names) -> subprocess.CompletedProcess:
    """Loads the settings in a new process and prints the named ones, one per line."""
    script = "from django.conf import settings\n" + "".join(f"print(repr(settings.{name}))\n" for name in names)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"})


def refused_items(result: subprocess.CompletedProcess) -> set[str]:
    assert result.returncode != 0, result.stdout
    message = result.stderr.split("ImproperlyConfigured: ", 1)[1]
    assert message.startswith("DJANGO_DEBUG=0 (production) refuses to start without:"), message
    return {line.strip().split(":", 1)[0] for line in message.splitlines()[1:] if line.startswith("  ")}


def test_production_without_configuration_names_every_missing_item_at_once(tmp_path):
    env = production_env(tmp_path, **dict.fromkeys(REQUIRED))
    assert refused_items(settings_of(env, "DEBUG")) == set(REQUIRED)


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_names_exactly_the_one_item_missing(tmp_path, missing):
    assert refused_items(settings_of(production_env(tmp_path, **{missing: None}), "DEBUG")) == {missing}


def test_sqlite_is_refused_in_production_even_when_asked_for(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert refused_items(settings_of(env, "DEBUG")) == {"DATABASE_URL"}


def test_production_runs_tasks_on_the_broker_with_the_given_deid_key(tmp_path):
    env = production_env(tmp_path)
    result = settings_of(env, "CELERY_TASK_ALWAYS_EAGER", "DEID_KEY")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", repr(env["DEID_KEY"])]


def test_the_laptop_needs_nothing_set(tmp_path):
    """Development: SQLite, tasks in-process, a de-identification key derived from the generated secret."""
    env = production_env(tmp_path, **dict.fromkeys(REQUIRED), DJANGO_DEBUG=None)
    result = settings_of(env, "DATABASES['default']['ENGINE']", "CELERY_TASK_ALWAYS_EAGER", "DEID_KEY", "SECRET_KEY")
    assert result.returncode == 0, result.stderr
    engine, eager, deid_key, secret_key = result.stdout.split("\n")[:4]
    assert (engine, eager) == ("'django.db.backends.sqlite3'", "True")
    assert deid_key == repr(f"deid:{eval(secret_key)}")  # noqa: S307 - a repr this test printed


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = production_env(tmp_path)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' session, never in production
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
