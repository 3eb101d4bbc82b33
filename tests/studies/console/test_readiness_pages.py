"""The readiness page and its API: both gates item by item, starting a study from the page (refused
with the failing items), and the counterbalancing tables as CSV files."""

import csv
import io
import re

import pytest
from django.test import Client

from studies.models import AuditEvent, Role, Study
from studies.services import schedule
from studies.services import studies as study_services
from tests.conftest import create_user

from .test_readiness import index_images

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("image_records_checked")]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def enrolling(make_study, coordinator):
    """Enrolling, every case imaged, no schedule yet: the reading gate fails on the schedule only."""
    study = make_study(status=Study.Status.DRAFT, n_readers=2, n_cases=3)
    for case in study.cases.all():
        index_images(case)
    return study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)


def test_the_page_shows_both_gates_item_by_item_with_how_to_fix(enrolling, coordinator):
    response = client_for(coordinator).get(f"/console/studies/{enrolling.pk}/readiness/")
    assert response.status_code == 200
    body = response.content.decode()
    enrolling_gate = body.split('id="gate-enrolling"')[1].split("</section>")[0]
    reading_gate = body.split('id="gate-reading"')[1].split("</section>")[0]
    assert "Ready" in enrolling_gate and "Failing" not in enrolling_gate
    assert "2 item(s) failing" in reading_gate
    assert reading_gate.count('class="failing" data-item=') == 2
    assert 'class="failing" data-item="schedule"' in reading_gate and "To fix: generate the schedule" in reading_gate
    assert "Start reading" in reading_gate and "Start enrolling" not in body  # the next step only
    assert f'action="/console/studies/{enrolling.pk}/transition/"' in reading_gate  # the set-up's transition
    assert '<input type="hidden" name="to" value="reading">' in reading_gate
    assert "No schedule yet" in body


def test_starting_through_the_api_is_refused_with_the_list_and_changes_nothing(enrolling, coordinator, api):
    response = api(coordinator).post(f"/api/v1/studies/{enrolling.pk}/transition/", {"status": "reading"},
                                     format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        "Every reader reads every case once per arm: no schedule (generate the schedule)",
        "The arm order is counterbalanced across readers: no schedule (generate the schedule)"]
    assert response.json()["detail"].startswith("the study cannot start reading: Every reader reads every case")
    enrolling.refresh_from_db()
    assert enrolling.status == Study.Status.ENROLLING


def test_statisticians_see_the_page_but_are_offered_no_start(enrolling, coordinator, statistician):
    study_services.add_member(actor=coordinator, study=enrolling, user=statistician)
    body = client_for(statistician).get(f"/console/studies/{enrolling.pk}/readiness/").content.decode()
    assert 'data-item="schedule"' in body and "Start reading" not in body
    assert client_for(statistician).post(f"/console/studies/{enrolling.pk}/readiness/").status_code == 405


def test_counterbalancing_tables_as_csv(enrolling, coordinator):
    client = client_for(coordinator)
    url = f"/console/studies/{enrolling.pk}/readiness/arm_orders.csv"
    assert client.get(url).status_code == 404  # before any schedule
    schedule.generate_schedule(actor=coordinator, study=enrolling, seed=1)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="study-{enrolling.pk}-arm_orders.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted((row["arm_order"], row["readers"]) for row in rows) == [("aided → unaided", "1"),
                                                                        ("unaided → aided", "1")]
    positions = list(csv.reader(io.StringIO(
        client.get(f"/console/studies/{enrolling.pk}/readiness/case_positions.csv").content.decode())))
    assert positions[0][:2] == ["case", "unaided_reads"] and [row[0] for row in positions[1:]] == ["C000", "C001", "C002"]
    assert AuditEvent.objects.filter(action="download", study_id=enrolling.pk,
                                     after__file=f"study-{enrolling.pk}-arm_orders.csv").exists()
    page = client.get(f"/console/studies/{enrolling.pk}/readiness/").content.decode()
    assert f'href="/console/studies/{enrolling.pk}/readiness/reader_orders.csv"' in page


def test_the_api_gives_both_gates_and_the_tables(enrolling, coordinator, api):
    body = api(coordinator).get(f"/api/v1/studies/{enrolling.pk}/readiness/").json()
    assert body["status"] == "enrolling" and body["enrolling"]["ok"] is True and body["reading"]["ok"] is False
    assert [item["key"] for item in body["reading"]["items"] if not item["ok"]] == ["schedule", "balance"]
    assert body["reading"]["items"][0] == {"key": "arms", "title": "The study has arms", "ok": True,
                                           "found": "2 arm(s): unaided, aided", "fix": ""}
    assert body["tables"] == []
    reader = enrolling.readers.first().user
    assert api(reader).get(f"/api/v1/studies/{enrolling.pk}/readiness/").status_code == 403
    outsider = create_user("elsewhere", Role.COORDINATOR)
    assert api(outsider).get(f"/api/v1/studies/{enrolling.pk}/readiness/").status_code == 404


def test_a_refused_start_lists_every_failing_item_on_the_overview(make_study, coordinator):
    study = make_study(status=Study.Status.DRAFT, n_readers=2, n_cases=3)  # no images stored
    study.cases.filter(label="C001").update(truth=None)
    response = client_for(coordinator).post(f"/console/studies/{study.pk}/transition/", {"to": "enrolling"})
    assert response.status_code == 409
    refusal = response.content.decode().split('id="refusal"')[1].split("</div>")[0]
    assert "The study cannot start enrolling while these items fail" in refusal
    assert re.findall(r"<li>(.*?)</li>", refusal) == [
        "Every case has images that decode: 3 of 3 cases have no stored image: C000, C001, C002; checked as ingest "
        "stored them: every frame&#x27;s length (uncompressed) or codestream header (compressed) against the image "
        "size, the first compressed frame decoded where the server has its codec (upload their DICOM files (images "
        "whose pixel data does not decode are refused at upload, with the reason) or link them by StudyInstanceUID "
        "or accession number)",
        "Every case has truth: 1 of 3 cases have no truth: C001 (import a truth CSV giving 0 or 1 for them)",
    ]
    assert "; Every case has truth" not in refusal  # not one line joined
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT
