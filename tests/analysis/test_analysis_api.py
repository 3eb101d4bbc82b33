"""Analysis endpoints and pages: start, follow, reports and exports, and who may use them."""

import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from openpyxl import load_workbook
from PIL import Image

from mrmc.stats import analyze_study, read_long_csv, result_to_json
from studies.models import AnalysisRun, Read, Role
from studies.reports.figures import report_figures
from studies.services.demo_analysis import simulate_reads

EXPECTED_SECTIONS = [
    "Study summary", "Subject accountability", "Protocol deviations", "Reference standard", "Methods", "Primary analysis (Obuchowski-Rockette)", "AI standalone performance",
    "Automation bias: AI-correct and AI-wrong cases",
    "Sensitivity and specificity", "Reader-level results", "Subgroup analyses", "Case mix and subgroup performance",
    "Reading time",
    "Inter-reader agreement", "Power for a follow-up study", "References",
]


@pytest.fixture
def finished(read_study, statistician, api, django_capture_on_commit_callbacks):
    study = read_study()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(statistician).post(f"/api/v1/studies/{study.pk}/analysis-runs/", {"options": {"seed": 2}},
                                          format="json")
    assert response.status_code == 202, response.content
    return AnalysisRun.objects.get(pk=response.json()["id"])


def test_start_and_follow_a_run(finished, statistician, api):
    body = api(statistician).get(f"/api/v1/analysis-runs/{finished.pk}/").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    assert body["results"]["primary"]["treatments"] == ["aided", "unaided"]  # the AI arm first: AI − control
    assert set(body["downloads"]) >= {"report.html", "report.pdf", "mrmcaov.csv", "imrmc.imrmc", "rjafroc.xlsx"}
    listing = api(statistician).get(f"/api/v1/studies/{finished.study_id}/analysis-runs/").json()
    assert [run["id"] for run in listing["results"]] == [finished.pk]
    assert "results" not in listing["results"][0]


def test_bad_options_are_refused(read_study, statistician, api):
    study = read_study()
    response = api(statistician).post(f"/api/v1/studies/{study.pk}/analysis-runs/", {"options": {"fom": "x"}},
                                      format="json")
    assert response.status_code == 400
    assert not AnalysisRun.objects.exists()


def test_html_report_has_every_section_and_embedded_figures(finished, statistician, api):
    response = api(statistician).get(f"/api/v1/analysis-runs/{finished.pk}/report.html")
    html = response.content.decode()
    for title in EXPECTED_SECTIONS:
        assert f"<h2>{title}</h2>" in html
    assert html.count("data:image/png;base64,") == 7


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (apt-get install poppler-utils)")
def test_pdf_report_text(finished, statistician, api, tmp_path):
    response = api(statistician).get(f"/api/v1/analysis-runs/{finished.pk}/report.pdf")
    assert response["Content-Type"] == "application/pdf"
    path = tmp_path / "report.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for title in EXPECTED_SECTIONS:
        assert title in text
    assert finished.snapshot_checksum in text.replace("\n", "")


def test_figures_are_drawn(finished):
    figures = report_figures(finished.results)
    assert set(figures) == {"roc_curves", "reader_foms", "ai_roc", "binormal_roc", "reading_time",
                            "automation_bias_readers", "subgroup_forest"}
    for png in figures.values():
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        assert pixels.shape[0] > 200 and pixels.std() > 10  # not blank


def test_exports_reload(finished, statistician, api, tmp_path):
    client = api(statistician)
    path = tmp_path / "mrmcaov.csv"
    path.write_bytes(client.get(f"/api/v1/analysis-runs/{finished.pk}/mrmcaov.csv").content)
    again = result_to_json(analyze_study(read_long_csv(path), seed=2))
    assert again == finished.results["primary"]
    imrmc = client.get(f"/api/v1/analysis-runs/{finished.pk}/imrmc.imrmc").content.decode().splitlines()
    assert {"NR: 5", "N0: 30", "N1: 30", "NM: 2", "BEGIN DATA:"} <= set(imrmc)
    book = load_workbook(io.BytesIO(client.get(f"/api/v1/analysis-runs/{finished.pk}/rjafroc.xlsx").content))
    assert book.sheetnames == ["Truth", "FP", "TP"]
    document = json.loads(client.get(f"/api/v1/analysis-runs/{finished.pk}/results.json").content)
    assert document["run"]["snapshot_sha256"] == finished.snapshot_checksum
    assert client.get(f"/api/v1/analysis-runs/{finished.pk}/reads.csv").content.decode() == finished.snapshot_csv


def test_readers_see_nothing(finished, api, make_user):
    reader = finished.study.readers.first().user
    for url in (f"/api/v1/studies/{finished.study_id}/analysis-runs/", f"/api/v1/analysis-runs/{finished.pk}/",
                f"/api/v1/analysis-runs/{finished.pk}/report.pdf"):
        assert api(reader).get(url).status_code in (403, 404)
    outsider = make_user("outsider_stat", Role.STATISTICIAN)
    assert api(outsider).get(f"/api/v1/analysis-runs/{finished.pk}/").status_code == 404


def test_statistician_pages(finished, statistician, client, django_capture_on_commit_callbacks):
    client.force_login(statistician)
    page = client.get(f"/analysis/studies/{finished.study_id}/")
    text = page.content.decode()
    assert page.status_code == 200 and "Start analysis" in text
    for label in ("Figure of merit", "Area under the ROC curve (AUC)", "Covariance estimator", "OR convention",
                  "By design: Iowa when fully crossed, MRMCaov otherwise", "Subgroup variables"):
        assert label in text
    assert 'value="breast_density"' in text and 'value="site"' in text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/analysis/studies/{finished.study_id}/", {
            "fom": "auc", "cov": "delong", "convention": "iowa", "alpha": "0.05", "min_subgroup_cases": "10",
            "power_effect": "0.05", "subgroup_variables": ["site"]})
    assert response.status_code == 302
    run = AnalysisRun.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])
    assert run.options["subgroup_variables"] == ["site"]
    assert {row["variable"] for row in run.results["subgroups"]["rows"]} == {"site"}
    run_page = client.get(response["Location"])
    assert b"report.pdf" in run_page.content and b"Primary result" in run_page.content


def test_unanalysable_reads_are_refused_on_the_form(make_study, coordinator, client):
    study = make_study(n_readers=2, n_cases=4)
    client.force_login(coordinator)
    response = client.post(f"/analysis/studies/{study.pk}/", {
        "fom": "auc", "cov": "jackknife", "convention": "iowa", "alpha": "0.05", "min_subgroup_cases": "10",
        "power_effect": "0.05"})
    assert response.status_code == 200 and "no reads yet: nothing to analyse" in response.content.decode()
    assert not AnalysisRun.objects.filter(study=study).exists()


def test_failed_run_page_shows_why(make_study, coordinator, client, django_capture_on_commit_callbacks):
    study = make_study(n_readers=2, n_cases=12)
    simulate_reads(study=study, seed=3)
    diseased = study.cases.filter(truth=1).order_by("label").values_list("label", flat=True)
    Read.objects.filter(reader__code="R01", arm__name="aided", case__label__in=list(diseased)[1:]).delete()
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/analysis/studies/{study.pk}/", {
            "fom": "auc", "cov": "jackknife", "convention": "iowa", "alpha": "0.05", "min_subgroup_cases": "10",
            "power_effect": "0.05"})
    page = client.get(response["Location"]).content.decode()
    assert "Failed" in page and "needs at least 2 of each class" in page


def test_reader_cannot_open_pages(finished, client):
    client.force_login(finished.study.readers.first().user)
    assert client.get(f"/analysis/runs/{finished.pk}/").status_code in (403, 404)
    assert client.get(f"/analysis/studies/{finished.study_id}/").status_code in (403, 404)
