"""A coordinator in Chromium, under the enforced Content-Security-Policy, sets a study's qualification rule and
its subgroups on the set-up page (an error shown on its field first), then sees on the readers page one reader
qualified and the other's unmet criteria with their figures, and on the overview a refused start listing every
failing item. Screenshots in tests/artifacts."""

import pytest

from studies.models import Study

from .browser import login
from .enforced import enforced_server, record_violations, violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def draft(coordinator):
    """Arms unaided and aided, cases C000..C003 with the metadata column ``site``, a decision threshold."""
    from tests.conftest import create_study

    return create_study(coordinator, status=Study.Status.DRAFT, n_readers=2, n_cases=4, decision_threshold=50)


@pytest.fixture
def trained(coordinator):
    """Enrolling with the example rule; R01 trained well (qualified), R02 read two training cases poorly."""
    from tests.studies.training_world import train, train_well, training_study

    study = training_study(coordinator, reader_prefix="trainee")
    train_well(study.readers.get(code="R01"))
    poor = study.readers.get(code="R02")
    for label, rating in (("T00", 30), ("T02", 60)):
        for arm in ("unaided", "aided"):
            train(poor, study.cases.get(label=label), arm, rating)
    return study


def _shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"console_qualification_{name}.png"), full_page=True)


def test_rule_subgroups_and_qualification_in_the_console(page, page_problems, server, draft, trained, artifacts):
    record_violations(page)
    login(page, server.url, "coord", next_url="/console/", password="pw")
    page.goto(f"{server.url}/console/studies/{draft.pk}/setup/")
    rule = page.locator("#qualification form")
    rule.locator("#id_min_cases").fill("4")
    rule.locator("#id_min_auc").fill("2")
    page_problems.expect(rf"400\b.*{server.url}/console/studies/{draft.pk}/qualification/")  # answer and console
    rule.locator("button[type=submit]").click()
    page.wait_for_selector("#id_min_auc_error")
    assert page.locator("#id_min_auc_error").inner_text() == "must be a number above 0.5 and at most 1"
    assert page.locator("#id_min_auc").input_value() == "2" and page.locator("#id_min_cases").input_value() == "4"
    draft.refresh_from_db()
    assert draft.qualification == {}
    _shot(page, artifacts, "01_setup_rule_error")

    page.fill("#id_min_auc", "0.75")
    page.fill("#id_min_agreement", "0.7")
    page.check("#id_positives_above_negatives")
    page.fill("#id_min_spread", "0.5")
    page.locator("#qualification form button[type=submit]").click()
    page.wait_for_selector("text=Qualification rule saved.")
    page.check("#subgroups input[value=site]")
    page.locator("#subgroups form button[type=submit]").click()
    page.wait_for_selector("text=Declared subgroups: site.")
    draft.refresh_from_db()
    assert draft.qualification == {"min_cases": 4, "min_auc": 0.75, "min_agreement": 0.7,
                                   "calibration": {"positives_above_negatives": True, "min_spread": 0.5}}
    assert draft.subgroups == ["site"]
    assert page.locator("#id_min_spread").input_value() == "0.5" and page.is_checked("#subgroups input[value=site]")
    page.locator("#qualification").scroll_into_view_if_needed()
    _shot(page, artifacts, "02_setup_rule_and_subgroups")

    page.goto(f"{server.url}/console/studies/{trained.pk}/readers/")
    assert page.locator("tr[data-reader=R01] td.training").inner_text() == "4 of 4"
    assert page.locator("tr[data-reader=R01] td.qualification").inner_text().startswith("qualified 20")
    assert page.locator("tr[data-reader=R02] td.training").inner_text() == "2 of 4"
    assert page.locator("tr[data-reader=R02] ul.unmet li").all_inner_texts() == [
        "2 of 4 training cases read", "AUC 0.000 is below 0.75", "agreement 0.00 is below 0.75",
        "diseased cases rated 30 below non-diseased ones on average: higher ratings mean more suspicious",
        "ratings span 30% of the scale, under the 50% asked"]
    _shot(page, artifacts, "03_readers")

    page.goto(f"{server.url}/console/studies/{trained.pk}/")
    page_problems.expect(rf"409\b.*{server.url}/console/studies/{trained.pk}/transition/")
    page.click("button:has-text('Start reading')")
    page.wait_for_selector("#refusal")
    items = page.locator("#refusal li").all_inner_texts()
    assert [item.split(":")[0] for item in items] == [  # the images were never uploaded (built without any)
        "Every case has images that decode", "Readers passed the qualification",
        "Every reader reads every case once per arm",
        "The arm order is counterbalanced across readers"]
    _shot(page, artifacts, "04_overview_refused")
    assert violations(page) == []
