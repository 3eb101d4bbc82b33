"""The console's accountability page in Chromium, under the enforced Content-Security-Policy: the coordinator of a
study with planted deviations (tests/studies/accountability/world.py) filters the log, reviews a late session
raising it to major, excludes a case; nothing fails in the browser."""

import pytest

from .browser import login
from .enforced import enforced_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def study(transactional_db, coordinator):
    from studies.services import deviations
    from tests.studies.accountability.world import NOW, planted_study

    study = planted_study(coordinator)
    deviations.detect(study=study, now=NOW)
    return study


def test_review_and_exclude_on_the_accountability_page(page, server, study, artifacts):
    from playwright.sync_api import expect

    login(page, server.url, "coord", next_url="/console/", password="pw")
    page.goto(f"{server.url}/console/studies/{study.pk}/")
    page.click("nav.console-tabs >> text=Accountability")
    assert page.locator("#deviation-log tbody tr").count() == 11
    page.screenshot(path=str(artifacts / "accountability_console.png"), full_page=True)

    page.select_option("#filters select[name=kind]", "late_session")
    page.click("#filters button")
    page.wait_for_url("**kind=late_session**")
    expect(page.locator("#deviation-log tbody tr")).to_have_count(3)
    minor = page.locator('#deviation-log tr[data-kind="late_session"]', has=page.locator(".severity", has_text="minor"))
    minor.locator("summary").click()
    minor.locator("textarea[name=note]").fill("six days late with the reads unaided: raised by the protocol team")
    minor.locator("select[name=severity]").select_option("major")
    minor.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("Deviation reviewed (major).")
    reviewed = page.locator("#deviation-log tbody tr", has_text="six days late")
    assert "major (was minor)" in reviewed.locator(".severity").inner_text()
    assert "coord" in reviewed.locator(".review").inner_text()

    page.select_option("#exclude select[name=case]", "C002")
    page.fill("#exclude input[name=reason]", "image of the wrong side")
    page.click("#exclude button")
    expect(page.locator(".messages")).to_contain_text("Case C002 is excluded from the analysis.")
    assert page.locator('#exclusions tr[data-case="C002"]').inner_text().startswith("C002\timage of the wrong side")
    assert "Case excluded" in page.locator("#deviation-counts").inner_text()
    page.screenshot(path=str(artifacts / "accountability_console_reviewed.png"), full_page=True)
