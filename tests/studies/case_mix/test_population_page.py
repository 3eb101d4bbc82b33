"""The console's case-mix page: the cases against the targets now, the population set as JSON by the coordinator
(refusals said on the page, nothing stored), shown read-only to the statistician."""

import json
import re
from html import unescape

import pytest
from django.test import Client
from statsmodels.stats.proportion import proportion_confint

from studies.models import AuditEvent, Case
from tests.studies.case_mix.test_population import POPULATION


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    """The page's text, tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.fixture
def study(make_study):
    """Eight cases with truth: C000..C007, site-A the even ones (non-diseased), site-B the odd ones."""
    study = make_study(n_readers=2, n_cases=8, status="enrolling")
    for index, case in enumerate(study.cases.order_by("label")):
        Case.objects.filter(pk=case.pk).update(acquisition={"age_band": "50-59"} if index < 6 else {})
    return study


def test_the_coordinator_sets_the_population_and_sees_the_cases_against_it(study, coordinator):
    client = browser(coordinator)
    url = f"/console/studies/{study.pk}/population/"
    assert "No intended-use population is declared." in text(client.get(url))
    saved = client.post(url + "set/", {"population": json.dumps(POPULATION)})
    assert saved.status_code == 302 and saved.url == url
    study.refresh_from_db()
    assert study.population == POPULATION
    assert AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk),
                                     after__population=POPULATION).exists()
    page = text(client.get(url))
    # age band 50-59: 6 of 8 cases (target 0.3), two without an age; 40-49: none of 8 against 0.2
    low, high = proportion_confint(6, 8, method="wilson")
    assert f"50-59 6 3 3 0.750 {low:.3f} to {high:.3f} 0.300 ok" in page
    low, high = proportion_confint(0, 8, method="wilson")
    assert f"40-49 0 0 0 0.000 {low:.3f} to {high:.3f} 0.200 under-represented" in page
    assert "not recorded 2 1 1 0.250" in page
    assert "site-A 4 4 0 0.500" in page and "site-B 4 0 4 0.500" in page


@pytest.mark.parametrize(("sent", "said"), [
    ("{not json", "not JSON"),
    (json.dumps({**POPULATION, "rule": {"alpha": 0.7}}), "population.rule.alpha"),
])
def test_a_refused_population_is_said_on_the_page_and_nothing_is_stored(study, coordinator, sent, said):
    response = browser(coordinator).post(f"/console/studies/{study.pk}/population/set/", {"population": sent})
    assert response.status_code == 400 and said in text(response)
    study.refresh_from_db()
    assert study.population == {}


def test_the_statistician_sees_the_page_without_the_form_and_reading_fixes_it(make_study, coordinator,
                                                                            statistician):
    study = make_study(n_readers=2, n_cases=4, status="reading")
    study.memberships.create(user=statistician)
    page = text(browser(statistician).get(f"/console/studies/{study.pk}/population/"))
    assert "Save population" not in page and "none declared" in page
    refused = browser(coordinator).post(f"/console/studies/{study.pk}/population/set/",
                                        {"population": json.dumps(POPULATION)})
    assert refused.status_code == 409 and "only change while the study is draft or enrolling" in text(refused)
