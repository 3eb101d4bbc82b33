"""Every difference of a run is AI minus control: results, report and every export list the AI arm first."""

import io

from openpyxl import load_workbook

from studies.reports import render_html
from studies.rules import analysis_arm_order
from studies.selectors import reads_csv
from studies.services.analysis_exports import render_export
from studies.services.endpoint_decisions import ai_minus_control


def test_a_two_arm_study_where_the_ai_helps_shows_a_positive_difference(read_study, run_analysis, statistician):
    study = read_study(n_cases=40)
    assert [arm.name for arm in study.arms.all()] == ["unaided", "aided"]  # the control is the study's first arm
    assert [arm.name for arm in analysis_arm_order(study.arms.all())] == ["aided", "unaided"]
    run = run_analysis(actor=statistician, study=study)
    primary = run.results["primary"]
    assert primary["treatments"] == ["aided", "unaided"]
    means = primary["treatment_means"]
    assert means["aided"] > means["unaided"]  # the demo's AI helps
    difference = primary["rrrc"]["differences"][0]
    assert difference["treatments"] == ["aided", "unaided"]
    assert difference["estimate"] > 0 and abs(difference["estimate"] - (means["aided"] - means["unaided"])) < 1e-12
    assert ai_minus_control("auc", run.results).estimate == difference["estimate"]
    assert "AI-aided − Unaided" in render_html(run) and "Unaided − AI-aided" not in render_html(run)

    assert reads_csv(study).splitlines()[1].split(",")[1] == "aided"
    assert render_export(run=run, name="mrmcaov.csv").splitlines()[1].split(",")[1] == "aided"
    imrmc = render_export(run=run, name="imrmc.imrmc").splitlines()
    assert imrmc[1:3] == ["modality 1 = aided", "modality 2 = unaided"]
    book = load_workbook(io.BytesIO(render_export(run=run, name="rjafroc.xlsx")))
    truth = list(book["Truth"].values)
    assert truth[1][4] == "aided, unaided"  # RJafroc's modality 1 is the AI arm
    assert list(book["FP"].values)[1][1] == "aided"


def test_a_run_made_before_ai_first_still_decides_ai_minus_control():
    arms = [{"name": "unaided", "label": "Unaided", "shows_ai": False},
            {"name": "aided", "label": "AI-aided", "shows_ai": True}]
    old = {"study": {"arms": arms}, "primary": {
        "fom": "auc", "fom_label": "AUC",
        "rrrc": {"differences": [{"treatments": ["unaided", "aided"], "estimate": -0.04, "se": 0.01, "df": 20.0}]}}}
    difference = ai_minus_control("auc", old)
    assert difference.estimate == 0.04 and difference.comparison == "AI-aided − Unaided"


def test_ai_arms_come_first_in_their_order_then_the_others():
    arms = [{"name": n, "shows_ai": ai} for n, ai in (("a", False), ("b", True), ("c", False), ("d", True))]
    assert [arm["name"] for arm in analysis_arm_order(arms, shows_ai=lambda arm: arm["shows_ai"])] == ["b", "d", "a", "c"]
