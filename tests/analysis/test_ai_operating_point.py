"""The AI's standalone sensitivity and specificity at its stored operating point, with Wilson intervals."""

import pytest
from statsmodels.stats.proportion import proportion_confint

from studies.models import AIOutput


def test_ai_sensitivity_and_specificity_at_the_stored_operating_point(read_study, statistician, run_analysis):
    study = read_study(n_cases=40)
    run = run_analysis(actor=statistician, study=study)
    section = run.results["ai_standalone"]["operating_point"]
    outputs = list(AIOutput.objects.filter(study=study).select_related("case"))
    threshold = outputs[0].operating_point
    assert threshold is not None and section["available"] and section["threshold"] == threshold
    for name, truth, positive_is_correct in (("sensitivity", 1, True), ("specificity", 0, False)):
        calls = [(o.score >= threshold) == positive_is_correct for o in outputs if o.case.truth == truth]
        low, high = proportion_confint(sum(calls), len(calls), alpha=0.05, method="wilson")
        assert (section[name]["count"], section[name]["n"]) == (sum(calls), len(calls))
        assert section[name]["estimate"] == pytest.approx(sum(calls) / len(calls))
        assert section[name]["ci"] == pytest.approx([low, high], rel=1e-12)


def test_without_an_operating_point_the_section_says_why(make_study, coordinator, statistician, run_analysis):
    from studies.services import studies as study_services
    from studies.services.demo_analysis import simulate_reads

    study = make_study(n_readers=3, n_cases=12)  # its AI outputs carry no operating point
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=3)
    section = run_analysis(actor=statistician, study=study).results["ai_standalone"]["operating_point"]
    assert not section["available"] and "operating point" in section["reason"]


def test_the_results_and_report_say_which_outputs_the_ai_arm_showed(read_study, statistician, run_analysis):
    from studies.models import AIOutputSet
    from studies.reports import render_html

    study = read_study(n_cases=40)
    run = run_analysis(actor=statistician, study=study)
    shown = AIOutputSet.objects.get(study=study, shown=True)
    model = run.results["ai_standalone"]["model"]
    assert (model["source"], model["source_name"], model["source_sha256"], model["outputs_sha256"]) == (
        "imported", shown.source_name, shown.source_checksum, shown.outputs_sha256)
    assert len(shown.outputs_sha256) == 64
    html = render_html(run)
    assert f"Imported from {shown.source_name} (SHA-256 {shown.source_checksum})" in html
    assert f"SHA-256 of the outputs: {shown.outputs_sha256}" in html
