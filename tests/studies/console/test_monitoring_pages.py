"""The monitoring page, a CSV file per table and the API: for the study's members, statisticians included."""

import csv
import io

import pytest
from django.test import Client

from studies.models import AuditEvent, Role
from studies.services import monitoring
from studies.services import studies as study_services
from tests.conftest import create_user

from .test_monitoring import first_session, read

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def study(make_study, coordinator, statistician):
    study = make_study(n_readers=2, n_cases=3)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    read(first_session(study, "R01")[0], seconds=2)
    return study


def test_the_page_shows_every_table_with_its_csv_link(study, statistician):
    response = client_for(statistician).get(f"/console/studies/{study.pk}/monitor/")
    assert response.status_code == 200
    body = response.content.decode()
    for table in monitoring.monitoring(study).tables:
        assert f'id="table-{table.name}"' in body and f"<h2>{table.title}</h2>" in body
        assert f'href="/console/studies/{study.pk}/monitor/{table.name}.csv"' in body
    outliers = body.split('id="table-time_outliers"')[1].split("</section>")[0]
    assert "<td>R01</td>" in outliers and "<td>too fast</td>" in outliers


def test_long_tables_show_their_first_rows_and_say_how_many_more(make_study, coordinator, monkeypatch):
    monkeypatch.setattr("studies.console.monitor.PAGE_ROWS", 2)
    study = make_study(n_readers=3, n_cases=2)
    body = client_for(coordinator).get(f"/console/studies/{study.pk}/monitor/").content.decode()
    progress = body.split('id="table-progress"')[1].split("</section>")[0]
    assert progress.count("<tr><td>") == 2 and "4 more row(s) in the CSV file." in progress


def test_each_table_downloads_whole_and_the_download_is_audited(study, coordinator):
    client = client_for(coordinator)
    for name in monitoring.TABLES:
        response = client.get(f"/console/studies/{study.pk}/monitor/{name}.csv")
        assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
        table = monitoring.monitoring_table(study, name)
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert tuple(rows[0]) == table.columns and len(rows) == len(table.rows) + 1
    files = set(AuditEvent.objects.filter(action="download", study_id=study.pk, actor_id=coordinator.pk)
                .values_list("after__file", flat=True))
    assert files == {f"study-{study.pk}-{name}.csv" for name in monitoring.TABLES}


def test_readers_and_outsiders_are_refused(study):
    reader = study.readers.get(code="R01").user
    assert client_for(reader).get(f"/console/studies/{study.pk}/monitor/").status_code == 403
    assert client_for(reader).get(f"/console/studies/{study.pk}/monitor/progress.csv").status_code == 403
    outsider = client_for(create_user("elsewhere", Role.COORDINATOR))
    assert outsider.get(f"/console/studies/{study.pk}/monitor/").status_code == 404
    assert outsider.get(f"/console/studies/{study.pk}/monitor/scale_use.csv").status_code == 404
    anonymous = Client().get(f"/console/studies/{study.pk}/monitor/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_the_api_gives_the_same_tables_and_thresholds(study, statistician, api, settings):
    settings.MONITOR_READ_TOO_FAST_S = 3
    body = api(statistician).get(f"/api/v1/studies/{study.pk}/monitoring/").json()
    assert [table["name"] for table in body["tables"]] == list(monitoring.TABLES)
    assert body["thresholds"]["too_fast_s"] == 3 and body["generated_at"]
    outliers = next(table for table in body["tables"] if table["name"] == "time_outliers")
    assert outliers["columns"] == ["reader", "session", "case", "arm", "seconds", "submitted_at", "flag"]
    assert [row[0] for row in outliers["rows"]] == ["R01"] and outliers["rows"][0][-1] == "too fast"
    assert api(study.readers.first().user).get(f"/api/v1/studies/{study.pk}/monitoring/").status_code == 403
