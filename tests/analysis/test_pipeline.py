"""The whole pipeline with real services: reads in the database -> Celery worker (Redis) -> stored
results equal to the CLI on the exported CSV -> PDF report with its sections and figures."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studies.models import AnalysisRun, Study
from studies.services.demo_analysis import create_read_demo_study

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SECTIONS = ["Study summary", "Methods", "Primary analysis (Obuchowski-Rockette)", "AI standalone performance",
            "Sensitivity and specificity", "Reader-level results", "Subgroup analyses", "Reading time",
            "Inter-reader agreement", "Power for a follow-up study", "References"]


def wait_for_run(client, run_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/analysis-runs/{run_id}/").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.3)
    pytest.fail(f"analysis run {run_id} still pending after {timeout}s")


def cli_analysis(csv_path: Path, *options: str) -> dict:
    completed = subprocess.run([sys.executable, "-m", "mrmc.stats", "analyze", str(csv_path), "--json", *options],
                               cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def test_reads_to_report_with_a_real_worker(celery_worker, coordinator, statistician, api, tmp_path):
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("needs poppler-utils (apt-get install poppler-utils)")
    study = create_read_demo_study(coordinator=coordinator, statistician=statistician)
    client = api(statistician)
    response = client.post(f"/api/v1/studies/{study.pk}/analysis-runs/", {"options": {"cov": "jackknife"}},
                           format="json")
    assert response.status_code == 202
    run = wait_for_run(client, response.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    assert Study.objects.get(pk=study.pk).status == Study.Status.ANALYZED

    reads = tmp_path / "reads.csv"
    reads.write_bytes(client.get(f"/api/v1/analysis-runs/{run['id']}/reads.csv").content)
    assert run["results"]["primary"] == cli_analysis(reads, "--cov", "jackknife")

    mrmcaov = tmp_path / "mrmcaov.csv"
    mrmcaov.write_bytes(client.get(f"/api/v1/analysis-runs/{run['id']}/mrmcaov.csv").content)
    assert cli_analysis(mrmcaov) == run["results"]["primary"]

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(client.get(f"/api/v1/analysis-runs/{run['id']}/report.pdf").content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for title in SECTIONS:
        assert title in text, title
    if shutil.which("pdfimages"):
        images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert len(images.splitlines()) - 2 >= 4  # two header lines, then one line per embedded figure
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "80", "-png", "-singlefile", str(pdf),
                    str(ARTIFACTS / "report_page1")], check=True)
    subprocess.run(["pdftoppm", "-f", "2", "-l", "2", "-r", "80", "-png", "-singlefile", str(pdf),
                    str(ARTIFACTS / "report_page2")], check=True)
    for page in ("report_page1.png", "report_page2.png"):
        pixels = np.asarray(Image.open(ARTIFACTS / page).convert("L"))
        assert pixels.std() > 10
    assert AnalysisRun.objects.get(pk=run["id"]).job.status == "succeeded"
