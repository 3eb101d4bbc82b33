"""Each reader's qualification as the study's staff see it: on the console's readers page (training cases read of
those required, the date they qualified or every unmet criterion with its figures) and in the readers API."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from tests.studies.training_world import train, train_well, training_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(coordinator):
    """The example rule: 4 training cases in unaided then aided; AUC and agreement 0.75; diseased rated above
    non-diseased; half the scale spanned. Training cases T00, T01 diseased, T02, T03 not; threshold 50."""
    return training_study(coordinator)


def _poorly_trained(study):
    """R02 reads two of the four training cases in both arms, the diseased T00 rated 30, the normal T02 rated 60."""
    reader = study.readers.get(code="R02")
    for label, rating in (("T00", 30), ("T02", 60)):
        for arm in ("unaided", "aided"):
            train(reader, study.cases.get(label=label), arm, rating)
    return reader


def _row(page: str, code: str) -> str:
    return page.split(f'data-reader="{code}"')[1].split("</tr>")[0]


def test_the_readers_page_shows_progress_the_date_or_the_unmet_criteria(study, coordinator):
    client = Client()
    client.force_login(coordinator)
    url = f"/console/studies/{study.pk}/readers/"
    before = client.get(url).content.decode()
    assert "<th>Training cases read</th><th>Qualification</th>" in before
    assert '<td class="training">0 of 4</td>' in _row(before, "R02") and "no training read yet" in _row(before, "R02")

    train_well(study.readers.get(code="R01"))
    _poorly_trained(study)
    page = client.get(url).content.decode()
    qualified = _row(page, "R01")
    assert '<td class="training">4 of 4</td>' in qualified
    assert f"qualified {timezone.localdate():%Y-%m-%d}" in qualified and "not yet" not in qualified
    pending = _row(page, "R02")
    assert '<td class="training">2 of 4</td>' in pending and "qualified" not in pending
    # Evaluated: the unaided reads (30, diseased) and (60, normal). The one pair is ranked wrong: AUC 0. Calls at
    # 50 are no and yes, both wrong: agreement 0. Means 30 - 60 = -30. Spread (60 - 30) / 100.
    assert re.findall(r'<li data-criterion="([\w.]+)">(.*?)</li>', pending) == [
        ("min_cases", "2 of 4 training cases read"),
        ("min_auc", "AUC 0.000 is below 0.75"),
        ("min_agreement", "agreement 0.00 is below 0.75"),
        ("calibration.positives_above_negatives",
         "diseased cases rated 30 below non-diseased ones on average: higher ratings mean more suspicious"),
        ("calibration.min_spread", "ratings span 30% of the scale, under the 50% asked"),
    ]


def test_without_a_rule_the_page_has_no_qualification_columns(make_study, coordinator):
    study = make_study(status="draft", n_readers=2, n_cases=2)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/console/studies/{study.pk}/readers/").content.decode()
    assert "Training cases read" not in page and 'class="qualification"' not in page


def test_the_readers_api_gives_the_date_and_the_evaluation(study, coordinator, api):
    train_well(study.readers.get(code="R01"))
    _poorly_trained(study)
    readers = {row["code"]: row for row in api(coordinator).get(f"/api/v1/studies/{study.pk}/readers/").json()}
    assert readers["R01"]["qualified_at"] is not None and readers["R01"]["qualification"]["passed"] is True
    evaluation = readers["R02"]["qualification"]
    assert readers["R02"]["qualified_at"] is None and evaluation["passed"] is False
    assert (evaluation["cases_read"], evaluation["cases_available"], evaluation["reads_evaluated"]) == (2, 4, 2)
    figures = {c["name"]: (c["value"], c["threshold"], c["passed"]) for c in evaluation["criteria"]}
    assert figures == {"min_cases": (2, 4, False), "min_auc": (0.0, 0.75, False), "min_agreement": (0.0, 0.75, False),
                       "calibration.positives_above_negatives": (-30.0, 0, False),
                       "calibration.min_spread": (pytest.approx(0.3), 0.5, False)}


def test_before_any_training_read_the_evaluation_is_null(make_study, coordinator, api):
    study = make_study(status="draft", n_readers=1, n_cases=2)
    (reader,) = api(coordinator).get(f"/api/v1/studies/{study.pk}/readers/").json()
    assert (reader["qualified_at"], reader["qualification"]) == (None, None)
