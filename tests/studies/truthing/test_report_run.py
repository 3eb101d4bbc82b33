"""A real analysis run carries the reference standard into its results and its report (HTML and PDF)."""

from studies.models import Role
from studies.reports import render_html, render_pdf
from studies.services.demo_analysis import create_read_demo_study
from tests.analysis.conftest import run_started_analysis
from tests.conftest import create_user


def test_a_run_reports_how_its_truth_was_established(db):
    statistician = create_user("stat", Role.STATISTICIAN)
    study = create_read_demo_study(coordinator=create_user("coord", Role.COORDINATOR), statistician=statistician,
                                   n_cases=20)
    run = run_started_analysis(actor=statistician, study=study, options={"seed": 1})
    assert run.status == "succeeded", run.error
    part = run.results["reference_standard"]
    assert part["available"] and part["panel"] is None
    assert part["counts"] == {"imported": 20, "consensus": 0, "majority": 0, "adjudicated": 0}
    html = render_html(run)
    assert "<h2>Reference standard</h2>" in html and "Imported from a truth file" in html
    assert render_pdf(run).startswith(b"%PDF")
