"""A split-plot study through the platform: schedule, reads in the database, run, stored results, HTML report.

Two reader groups each read their own block of cases in both arms. The expected numbers come from
``mrmc.stats.analyze`` on a ratings array built here from the ``Read`` rows (not from the run's
snapshot), with NaN where a read does not exist.
"""

import html
import json

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from mrmc.stats import analyze
from studies.models import AnalysisRun, Read, Study
from studies.reports import render_html
from studies.reports.sections import design as design_report_section
from studies.services import imports, schedule
from studies.services import studies as study_services
from studies.services.analysis_exports import render_export
from studies.services.demo_analysis import simulate_reads

N_CASES = 40
MISSING = ("R03", "aided", "C017")  # reader R03 (group 0) skipped case C017 (block 0) with the AI


@pytest.fixture
def split_plot_study(make_study, coordinator, statistician):
    """4 readers in 2 groups; case blocks alternate in pairs so that each block holds both truth classes."""

    def make(*, missing_read: bool) -> Study:
        study = make_study(n_readers=4, n_cases=N_CASES, design=Study.Design.SPLIT_PLOT, status=Study.Status.DRAFT)
        rows = ["case,truth,reading_group"] + [f"C{i:03d},{i % 2},{(i // 2) % 2}" for i in range(N_CASES)]
        imports.import_truth(actor=coordinator, study=study, data="\n".join(rows).encode())
        study_services.add_member(actor=coordinator, study=study, user=statistician)
        study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
        schedule.generate_schedule(actor=coordinator, study=study, seed=5)
        study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
        simulate_reads(study=study, seed=11)
        if missing_read:
            reader, arm, case = MISSING
            deleted, _ = Read.objects.filter(reader__code=reader, arm__name=arm, case__label=case).delete()
            assert deleted == 1
        return study_services.transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)

    return make


def ratings_from_database(study: Study, treatments: list[str], readers: list[str]):
    """(ratings with NaN for reads that do not exist, truth, case labels) straight from the Read table."""
    cases = sorted(study.cases.values_list("label", "truth"))
    ratings = np.full((len(treatments), len(readers), len(cases)), np.nan)
    column = {label: c for c, (label, _) in enumerate(cases)}
    for arm, reader, case, rating in Read.objects.filter(case__study=study).values_list(
            "arm__name", "reader__code", "case__label", "rating"):
        ratings[treatments.index(arm), readers.index(reader), column[case]] = rating
    return ratings, np.array([truth for _, truth in cases]), [label for label, _ in cases]


def expected_analysis(run: AnalysisRun, **options):
    primary = run.results["primary"]
    ratings, truth, cases = ratings_from_database(run.study, primary["treatments"], primary["readers"])
    return analyze(ratings, truth, treatments=primary["treatments"], readers=primary["readers"], cases=cases,
                   **options)


def report_text(run: AnalysisRun) -> str:
    return html.unescape(render_html(run))


def test_split_plot_run_with_a_missing_read_names_design_method_and_the_read(
        split_plot_study, statistician, run_analysis):
    study = split_plot_study(missing_read=True)
    run = run_analysis(actor=statistician, study=study)
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    design = run.results["design"]
    assert design["planned"]["design"] == "split_plot"
    assert [group["readers"] for group in design["planned"]["reader_groups"]] == [["R01", "R03"], ["R02", "R04"]]
    assert design["planned"]["case_blocks"] == [{"reading_group": 0, "n_normal": 10, "n_abnormal": 10},
                                                {"reading_group": 1, "n_normal": 10, "n_abnormal": 10}]
    assert design["found"]["kind"] == "partially_paired" and len(design["found"]["blocks"]) == 2
    reader, arm, case = MISSING
    assert design["missing_reads"] == {"count": 1, "listed": [{"reader": reader, "arm": arm, "case": case}],
                                       "not_listed": 0}
    assert design["planned"]["unread_scheduled"]["listed"] == [{"reader": reader, "arm": arm, "case": case}]
    assert design["summary"].startswith("planned: split-plot, 2 reader groups; found: partially paired")
    assert f"{reader} × {arm} × case {case}" in design["summary"]
    assert (design["method"], design["convention"]) == ("or", "mrmcaov")
    assert run.results["options"]["convention"] == "mrmcaov"
    assert run.results["study"]["n_cases"] == N_CASES and run.results["study"]["n_reads"] == 4 * 2 * 20 - 1

    expected = expected_analysis(run)
    primary = run.results["primary"]
    assert expected.design.kind == "partially_paired" and expected.convention == "mrmcaov"
    for t, treatment in enumerate(expected.treatments):
        assert primary["treatment_means"][treatment] == pytest.approx(expected.treatment_means[t], rel=1e-12)
    difference = primary["rrrc"]["differences"][0]
    assert difference["estimate"] == pytest.approx(expected.analysis.rrrc.differences[0].estimate, rel=1e-12)
    assert difference["se"] == pytest.approx(expected.analysis.rrrc.differences[0].se, rel=1e-12)
    assert difference["p"] == pytest.approx(expected.analysis.rrrc.differences[0].p, rel=1e-10)

    text = report_text(run)
    assert "split-plot" in text and "partially paired" in text
    assert f"{reader} × {arm} × case {case}" in text
    assert "Obuchowski-Rockette" in text and "MRMCaov convention" in text


def test_split_plot_run_with_u_statistics(split_plot_study, statistician, run_analysis):
    study = split_plot_study(missing_read=True)
    run = run_analysis(actor=statistician, study=study, options={"method": "ustat"})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    assert run.options["method"] == "ustat" and run.results["options"]["method"] == "ustat"
    assert run.results["design"]["method"] == "ustat" and run.results["design"]["convention"] is None
    assert run.results["design"]["missing_reads"]["count"] == 1

    expected = expected_analysis(run, method="ustat")
    primary = run.results["primary"]
    assert primary["method"] == "ustat"
    for t, treatment in enumerate(expected.treatments):
        assert primary["treatment_means"][treatment] == pytest.approx(expected.treatment_means[t], rel=1e-12)
    assert primary["differences"][0]["estimate"] == pytest.approx(expected.differences[0].estimate, rel=1e-12)
    assert primary["differences"][0]["variance"] == pytest.approx(expected.differences[0].variance, rel=1e-12)
    assert primary["differences"][0]["p"] == pytest.approx(expected.differences[0].p, rel=1e-10)

    stored = json.loads(render_export(run=run, name="results.json"))["results"]
    assert stored["primary"]["method"] == "ustat" and stored["design"]["method"] == "ustat"
    section = design_report_section.build(run, run.results)
    text = " ".join(section.paragraphs)
    assert "U-statistics as iMRMC" in text and "R03 × aided × case C017" in text
    assert [["R03", "aided", "C017"]] in [table.rows for table in section.tables]
    assert "U-statistics as iMRMC" in report_text(run)  # the whole report renders a U-statistic run
    page = Client()
    page.force_login(statistician)
    assert page.get(reverse("analysis-run-page", kwargs={"run_id": run.pk})).status_code == 200


def test_balanced_split_plot_uses_mrmcaovs_unbiased_split_plot_covariance(
        split_plot_study, statistician, run_analysis):
    study = split_plot_study(missing_read=False)
    run = run_analysis(actor=statistician, study=study, options={"cov": "unbiased"})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    design = run.results["design"]
    assert design["found"]["kind"] == "split_plot" and design["missing_reads"]["count"] == 0
    assert design["planned"]["unread_scheduled"]["count"] == 0
    assert design["summary"] == ("planned: split-plot, 2 reader groups; found: split-plot (2 reader groups, "
                                 "each reading its own case block)")

    expected = expected_analysis(run, cov="unbiased")
    readers = list(expected.readers)
    group = {code: int(code[1:]) % 2 for code in readers}  # R01, R03: group 0 (enrolled first and third)
    n_readers = len(readers)
    for i in range(expected.covariance.shape[0]):
        for j in range(expected.covariance.shape[1]):
            if group[readers[i % n_readers]] != group[readers[j % n_readers]]:
                assert expected.covariance[i, j] == 0  # no case in common: MRMCaov's unbiased covariance is 0
    components = run.results["primary"]["var_components"]
    for name in ("var_R", "var_TR", "cov1", "cov2", "cov3", "var_error"):
        assert components[name] == pytest.approx(getattr(expected.analysis.var_components, name), rel=1e-12)
