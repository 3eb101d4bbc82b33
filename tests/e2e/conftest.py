"""Fixtures of the browser tests: headless Debian Chromium (Playwright), a real server in a
subprocess against the test database, and the demo study with synthetic images.

Every test's ``page`` fails the test at its end on any browser console error, uncaught page error,
failed request to our server or answer of 400 or more from it (``browser.PageProblems``), unless
the test said beforehand that it provokes that one (``page_problems.expect``).
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import skip_or_fail

from .browser import PageProblems
from .server import CHROMIUM, CHROMIUM_ARGS, ServerProcess, database_url

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install --no-install-recommends chromium)")
    if not (Path(settings.VIEWER_DIST) / ".vite" / "manifest.json").exists():
        skip_or_fail("the viewer is not built (make viewer)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright for Python is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def dicom_store(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    return settings.DICOM_STORAGE


@pytest.fixture
def demo_study(transactional_db, dicom_store, tmp_path):
    """The demo study (8 cases of 2048x2048 chest radiographs, ingested by ``seed_demo``) where
    reader1's first case is replaced by a 5-image stack and the second by a four-view mammogram."""
    from studies.models import Assignment
    from studies.services.demo import seed_demo

    from .scenario import mammo_datasets, replace_case_images, stack_datasets

    study, _ = seed_demo(n_cases=8)
    first, second = (
        a.case for a in Assignment.objects.filter(reader__user__username="reader1", session__number=1)
        .select_related("case").order_by("order")[:2]
    )
    replace_case_images(first, stack_datasets(first.label), tmp_path / "stack")
    replace_case_images(second, mammo_datasets(second.label), tmp_path / "mammo")
    study.replaced_cases = {first.pk, second.pk}
    return study


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    """The real server (runserver) in a subprocess, against the test database."""
    from django.db import connection

    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "DICOM_STORAGE": str(dicom_store),
    }
    process = ServerProcess(env, log_path=tmp_path / "server.log").start()
    yield process
    process.stop()


@pytest.fixture
def page_problems():
    """What went wrong in the browser during a test; ``expect`` what the test provokes on purpose."""
    return PageProblems()


@pytest.fixture
def page(browser, server, page_problems):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page_problems.watch(context, origin=server.url)
    page = context.new_page()
    page.set_default_timeout(30000)
    yield page
    context.close()
    page_problems.assert_none()
