"""The console's readiness and monitoring pages in Chromium, under the enforced Content-Security-Policy:
the demo study (images ingested, so its gates were checked for real) shows both gates ready with the
counterbalancing tables; a reader's implausibly fast read shows on the monitor; the CSV links download
the tables; nothing fails in the browser."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from .browser import login
from .enforced import enforced_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def study(transactional_db, dicom_store, image_records_checked):
    """The demo study, reading; reader1 has read one case in 2 s and one in a minute."""
    from studies.models import Assignment
    from studies.services import reads
    from studies.services.demo import seed_demo

    study, _ = seed_demo(n_cases=4, image_shape=(256, 256))
    first, second = (Assignment.objects.filter(reader__user__username="reader1", session__number=1)
                     .select_related("reader__user").order_by("order")[:2])
    for assignment, seconds in ((first, 2), (second, 60)):
        opened = timezone.now() - timedelta(seconds=seconds)
        reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                          values=reads.ReadInput(rating=40, decision=False, opened_at=opened,
                                                 client_submitted_at=opened + timedelta(seconds=seconds)))
    study.fast_case = first.case.label
    return study


def _downloaded(page, link) -> list[dict]:
    with page.expect_download() as download:
        link.click()
    return list(csv.DictReader(io.StringIO(download.value.path().read_text())))


def test_readiness_and_monitoring_pages(page, server, study, artifacts):
    login(page, server.url, "coordinator", next_url="/console/")

    page.goto(f"{server.url}/console/studies/{study.pk}/readiness/")
    for gate in ("enrolling", "reading"):
        section = page.locator(f"#gate-{gate}")
        assert section.locator(".verdict").inner_text() == "Ready"
        assert section.locator("li.failing").count() == 0
        assert section.locator("li.ok").count() == (7 if gate == "enrolling" else 12)
    assert "4 case(s) with stored images" in page.locator('#gate-reading li[data-item="images"]').inner_text()
    assert page.locator("#table-arm_orders tbody tr").count() == 2
    assert page.locator("#table-case_positions tbody tr").count() == 4
    page.screenshot(path=str(artifacts / "console-readiness.png"), full_page=True)
    orders = _downloaded(page, page.locator("#table-reader_orders a", has_text="CSV"))
    assert sorted(row["reader"] for row in orders) == ["R01", "R02", "R03"]

    page.goto(f"{server.url}/console/studies/{study.pk}/monitor/")
    outliers = page.locator("#table-time_outliers tbody tr")
    assert outliers.count() == 1
    assert outliers.first.locator("td").all_inner_texts()[:3] == ["R01", "1", study.fast_case]
    assert outliers.first.locator("td").last.inner_text() == "too fast"
    progress = page.locator("#table-progress tbody tr")
    assert progress.count() == 6  # 3 readers x 2 sessions
    assert progress.first.locator("td").nth(6).inner_text() == "2"  # R01's first session: 2 read
    page.screenshot(path=str(artifacts / "console-monitor.png"), full_page=True)
    rows = _downloaded(page, page.locator("#table-time_outliers a", has_text="CSV"))
    assert [(row["reader"], row["case"], row["flag"]) for row in rows] == [("R01", study.fast_case, "too fast")]

    page.context.clear_cookies()
    login(page, server.url, "statistician", next_url=f"/console/studies/{study.pk}/monitor/")
    assert page.locator("#table-progress tbody tr").count() == 6
