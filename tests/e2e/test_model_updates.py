"""The locked evaluations page in Chromium, under the enforced Content-Security-Policy: a statistician locks an
evaluation of the hand-built locked study (tests/studies/model_updates/world.py), evaluates two model updates from
CSV files, reads which failed and why, and opens the failed look's report; nothing fails in the browser."""

import json

import pytest

from .browser import login
from .enforced import enforced_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def study(transactional_db, coordinator, statistician):
    from tests.studies.model_updates.world import build_locked_study

    return build_locked_study(coordinator, statistician)


def scores_file(scores: dict) -> dict:
    text = "case,score\n" + "".join(f"{case},{score}\n" for case, score in scores.items())
    return {"name": "scores.csv", "mimeType": "text/csv", "buffer": text.encode()}


def test_lock_evaluate_and_read_the_verdicts(page, server, study, artifacts, page_problems):
    from playwright.sync_api import expect

    from tests.studies.model_updates.world import CRITERIA, FAILING, PASSING

    url = f"/analysis/studies/{study.pk}/evaluations/"
    login(page, server.url, "stat", next_url=url, password="pw")
    page.fill("textarea[name=criteria]", json.dumps(CRITERIA))
    page.click("input[value='Lock evaluation']")
    expect(page.locator("section.evaluation h2")).to_contain_text("Modification protocol v1")
    for version, scores in (("2.0", PASSING), ("2.1", FAILING)):
        page.fill("input[name=model_name]", "detector")
        page.fill("input[name=model_version]", version)
        page.fill("input[name=operating_point]", "0.5")
        page.set_input_files("input[name=file]", scores_file(scores))
        page.click("input[type=submit][value^=Evaluate]")
        expect(page.locator(".look h3").first).to_contain_text(f"detector {version}")
    expect(page.locator("section.evaluation")).to_contain_text("test set used 2 times")
    failed = page.locator(".look", has_text="detector 2.1")
    expect(failed.locator("h3 .verdict")).to_have_text("FAIL")
    row = failed.locator("tr", has_text="No subgroup worse")
    expect(row).to_contain_text("worse by more than 0.05: site site-B -0.0600")
    expect(page.locator(".look", has_text="detector 2.0").locator("h3 .verdict")).to_have_text("PASS")
    page.screenshot(path=str(artifacts / "model_update_evaluations.png"), full_page=True)

    failed.locator("text=report (HTML)").click()
    expect(page.locator("h1")).to_contain_text("look 2")
    expect(page.locator("body")).to_contain_text("Not accepted: 1 of 4 criteria failed")
    page.screenshot(path=str(artifacts / "model_update_report.png"), full_page=True)
