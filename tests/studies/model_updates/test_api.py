"""The API: lock, list, read with looks, evaluate from JSON or a CSV upload, and the look's report (HTML, PDF)."""

import json
import math

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import AuditEvent, LockedEvaluation, ModelUpdateEvaluation, Role

from .world import CRITERIA, FAILING, PASSING


@pytest.fixture
def evaluation_id(api, locked_study, statistician):
    response = api(statistician).post(f"/api/v1/studies/{locked_study.pk}/evaluations/",
                                      {"name": "PCCP", "criteria": CRITERIA}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def csv_upload(scores: dict) -> SimpleUploadedFile:
    text = "case,score\n" + "".join(f"{case},{score}\n" for case, score in scores.items())
    return SimpleUploadedFile("detector-2.1.csv", text.encode())


def test_lock_list_and_read(api, locked_study, monitor, evaluation_id):
    listed = api(monitor).get(f"/api/v1/studies/{locked_study.pk}/evaluations/").json()["results"]
    assert [(e["id"], e["version"], e["n_cases"], e["n_looks"]) for e in listed] == [(evaluation_id, 1, 80, 0)]
    detail = api(monitor).get(f"/api/v1/evaluations/{evaluation_id}/").json()
    assert detail["reference"] == {"model_name": "cleared", "model_version": "1.0", "operating_point": 0.5,
                                   "outputs_sha256": locked_study.ai_output_sets.get().outputs_sha256}
    assert detail["criteria"]["subgroup_max_drop"]["variable"] == "site" and detail["looks"] == []
    assert len(detail["truth_sha256"]) == 64 and "cases" not in detail


def test_looks_from_json_and_from_a_csv_file(api, statistician, coordinator, evaluation_id):
    passing = api(statistician).post(f"/api/v1/evaluations/{evaluation_id}/looks/", {
        "model_name": "detector", "model_version": "2.0", "operating_point": 0.5, "scores": PASSING}, format="json")
    assert passing.status_code == 201, passing.content
    assert (passing.json()["look"], passing.json()["passed"], passing.json()["source"]) == (1, True, "imported")
    failing = api(coordinator).post(f"/api/v1/evaluations/{evaluation_id}/looks/", {
        "model_name": "detector", "model_version": "2.1", "operating_point": "0.5", "file": csv_upload(FAILING)},
        format="multipart")
    assert failing.status_code == 201, failing.content
    body = failing.json()
    assert (body["look"], body["passed"]) == (2, False)
    failed = [c for c in body["result"]["criteria"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["subgroup_max_drop"] and "site-B -0.0600" in failed[0]["reason"]
    looks = api(statistician).get(f"/api/v1/evaluations/{evaluation_id}/").json()["looks"]
    assert [(look["look"], look["model_version"], look["passed"]) for look in looks] == [
        (1, "2.0", True), (2, "2.1", False)]


@pytest.mark.parametrize("scores,message", [
    ({k: v for k, v in PASSING.items() if k != "M-A07"}, "no score for 1 case(s) of the test set: M-A07"),
    (PASSING | {"Z-99": 0.3}, "not in the locked test set: Z-99"),
])
def test_refusals_name_the_case_and_store_nothing(api, statistician, evaluation_id, scores, message):
    before = (ModelUpdateEvaluation.objects.count(), AuditEvent.objects.count())
    response = api(statistician).post(f"/api/v1/evaluations/{evaluation_id}/looks/", {
        "model_name": "detector", "model_version": "2.2", "operating_point": 0.5, "scores": scores}, format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert (ModelUpdateEvaluation.objects.count(), AuditEvent.objects.count()) == before


def test_a_nan_in_a_csv_file_is_refused_with_its_line(api, statistician, evaluation_id):
    response = api(statistician).post(f"/api/v1/evaluations/{evaluation_id}/looks/", {
        "model_name": "detector", "model_version": "2.2", "operating_point": 0.5,
        "file": csv_upload(PASSING | {"M-B02": "nan"})}, format="multipart")
    # the header, site A's 40 rows, then M-B00, M-B01, M-B02
    assert response.status_code == 400
    assert "line 44, field 'score': 'nan' is not a finite number" in response.json()["detail"]
    assert not ModelUpdateEvaluation.objects.exists()


def test_a_study_not_locked_is_refused(api, coordinator, make_study):
    study = make_study(n_cases=4)  # reading
    before = LockedEvaluation.objects.count()
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/evaluations/",
                                     {"name": "too early", "criteria": CRITERIA}, format="json")
    assert response.status_code == 409 and "lock the study first" in response.json()["detail"]
    assert LockedEvaluation.objects.count() == before


def test_reports_show_why_the_update_failed(api, statistician, evaluation_id):
    api(statistician).post(f"/api/v1/evaluations/{evaluation_id}/looks/", {
        "model_name": "detector", "model_version": "2.1", "operating_point": 0.5, "scores": FAILING}, format="json")
    html = api(statistician).get(f"/api/v1/evaluations/{evaluation_id}/looks/1/report.html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    text = html.content.decode()
    assert "Not accepted: 1 of 4 criteria failed: No subgroup worse by more than the limit" in text
    assert "worse by more than 0.05: site site-B -0.0600" in text and "0.8800" in text
    assert "used 1 time(s)" in text and "data:image/png;base64," in text
    pdf = api(statistician).get(f"/api/v1/evaluations/{evaluation_id}/looks/1/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    downloads = AuditEvent.objects.filter(action="download", entity="studies.ModelUpdateEvaluation")
    assert sorted(e.after["file"] for e in downloads) == ["report.html", "report.pdf"]
    assert api(statistician).get(f"/api/v1/evaluations/{evaluation_id}/looks/2/report.html").status_code == 404


def test_who_may_call(api, locked_study, evaluation_id, make_user, coordinator):
    reader = make_user("radiologist", Role.READER)
    outsider = make_user("other_quality", Role.MONITOR)
    truther = make_user("expert", Role.TRUTHER)
    urls = [f"/api/v1/studies/{locked_study.pk}/evaluations/", f"/api/v1/evaluations/{evaluation_id}/"]
    for url in urls:
        assert api(None).get(url).status_code == 401
        assert api(outsider).get(url).status_code == 404  # not a member: the study is not theirs to know
        assert api(truther).get(url).status_code == 404
    locked_study.readers.create(user=reader, code="R01")
    assert api(reader).get(urls[0]).status_code == 403  # enrolled, but readers never see evaluations
    assert api(reader).get(urls[1]).status_code == 403


def test_a_nan_in_json_scores_is_refused(api, statistician, evaluation_id):
    body = json.dumps({"model_name": "detector", "model_version": "2.2", "operating_point": 0.5,
                       "scores": PASSING | {"M-A05": math.nan}})  # Python writes NaN, which JSON does not allow
    response = api(statistician).post(f"/api/v1/evaluations/{evaluation_id}/looks/", body,
                                      content_type="application/json")
    assert response.status_code == 400 and "NaN" in response.json()["detail"]
    assert not ModelUpdateEvaluation.objects.exists()
