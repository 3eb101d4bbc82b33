"""The console's accountability page: the table and the log for every member, the forms for coordinators, each
form's refusal on its field."""

import re

import pytest
from django.urls import reverse

from studies.models import Case, ProtocolDeviation
from studies.services import deviations
from studies.services import studies as study_services

from .world import NOW, planted_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(coordinator, statistician):
    study = planted_study(coordinator)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    deviations.detect(study=study, now=NOW)
    return study


def page(client, user, study, **query):
    client.force_login(user)
    response = client.get(reverse("console-accountability", args=[study.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def log_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-deviation="\d+" data-kind="(\w+)">', html)


def test_the_coordinator_sees_the_tables_and_the_forms(client, coordinator, study):
    html = page(client, coordinator, study)
    assert "<th scope=\"row\">Enrolled</th><td>4</td>" in html
    assert len(log_rows(html)) == 11
    assert "Look now" in html and 'id="exclude"' in html and "Record a deviation" in html
    assert "Session read late: major when more than 7 days, else minor" in html


def test_the_statistician_sees_no_form(client, statistician, study):
    html = page(client, statistician, study)
    assert len(log_rows(html)) == 11
    assert "Look now" not in html and 'id="exclude"' not in html and "Save review" not in html


def test_filters(client, coordinator, study):
    assert log_rows(page(client, coordinator, study, kind="late_session", severity="major")) == ["late_session"] * 2
    assert log_rows(page(client, coordinator, study, reviewed="yes")) == []


def test_review_exclude_and_record_through_the_forms(client, coordinator, study):
    client.force_login(coordinator)
    deviation = study.deviations.get(kind="revision")
    review_url = reverse("console-deviation-review", args=[study.pk, deviation.pk])
    refused = client.post(review_url, {"note": "", "severity": "major"})
    assert refused.status_code == 400 and "This field is required" in refused.content.decode()
    assert client.post(review_url, {"note": "slip of the mouse", "severity": "major"}).status_code == 302
    deviation.refresh_from_db()
    assert (deviation.severity, deviation.review_note, deviation.reviewed_by) == ("major", "slip of the mouse",
                                                                                  coordinator)

    exclude_url = reverse("console-case-exclude", args=[study.pk])
    assert client.post(exclude_url, {"case": "C002", "reason": ""}).status_code == 400
    assert client.post(exclude_url, {"case": "C002", "reason": "cropped image"}).status_code == 302
    assert Case.objects.get(study=study, label="C002").excluded_reason == "cropped image"
    html = page(client, coordinator, study)
    assert '<tr data-case="C002"><td>C002</td><td>cropped image</td>' in html
    assert '<option value="C002">' not in html  # no longer offered for exclusion

    record_url = reverse("console-deviation-record", args=[study.pk])
    refused = client.post(record_url, {"kind": "other", "description": "x", "case_label": "C999"})
    assert refused.status_code == 400 and "no case &#x27;C999&#x27; in this study" in refused.content.decode()
    assert client.post(record_url, {"kind": "other", "description": "screen glare reported", "reader_code": "R01",
                                    "occurred_at": "2026-02-01 10:00"}).status_code == 302
    recorded = study.deviations.get(description="screen glare reported")
    assert (recorded.source, recorded.reader.code, recorded.occurred_at.isoformat()) == (
        ProtocolDeviation.Source.RECORDED, "R01", "2026-02-01T10:00:00+00:00")


def test_look_now_finds_what_is_new(client, coordinator, study):
    client.force_login(coordinator)
    study.deviations.filter(kind="revision").delete()
    response = client.post(reverse("console-deviation-detect", args=[study.pk]), follow=True)
    assert "1 new deviation(s) found" in response.content.decode()
