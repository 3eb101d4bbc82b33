"""The run options method and convention: accepted values, refused values named by option, and their defaults."""

import pytest

from studies.errors import InvalidInput
from studies.models import AnalysisRun
from studies.services import analysis


@pytest.mark.parametrize("options, option", [
    ({"method": "bayes"}, "method"),
    ({"method": "USTAT"}, "method"),
    ({"convention": "sas"}, "convention"),
    ({"method": "ustat", "fom": "pauc"}, "method"),
    ({"method": "ustat", "convention": "iowa"}, "convention"),
])
def test_bad_method_or_convention_is_refused_by_the_api_naming_the_option(read_study, statistician, api, options,
                                                                        option):
    study = read_study(n_cases=30)
    response = api(statistician).post(f"/api/v1/studies/{study.pk}/analysis-runs/", {"options": options},
                                      format="json")
    assert response.status_code == 400, response.content
    assert option in str(response.json())
    assert not AnalysisRun.objects.exists()


@pytest.mark.parametrize("options, option", [
    ({"method": "bayes"}, "method"),
    ({"convention": "sas"}, "convention"),
    ({"method": "ustat", "fom": "sens", "threshold": 50}, "method"),
    ({"method": "ustat", "convention": "mrmcaov"}, "convention"),
])
def test_the_service_refuses_the_same_values(options, option):
    with pytest.raises(InvalidInput) as refused:
        analysis.validate_options(options)
    assert refused.value.field == option


def test_defaults_are_or_and_the_convention_by_design():
    options = analysis.validate_options({})
    assert (options["method"], options["convention"]) == ("or", None)
    assert analysis.validate_options({"method": "ustat"})["method"] == "ustat"
    assert analysis.validate_options({"convention": "mrmcaov"})["convention"] == "mrmcaov"


def test_a_fully_crossed_run_records_the_iowa_convention_it_used(read_study, statistician, run_analysis):
    run = run_analysis(actor=statistician, study=read_study(n_cases=30))
    assert run.options["convention"] is None  # as asked: by design
    assert run.results["options"]["convention"] == "iowa" == run.results["primary"]["convention"]
    design = run.results["design"]
    assert design["found"]["kind"] == "fully_crossed" and design["missing_reads"]["count"] == 0
    assert (design["method"], design["convention"]) == ("or", "iowa")
    assert design["summary"].startswith("planned: fully crossed, independent reading, 1 reader group; found: fully")


def test_a_convention_asked_for_is_used(read_study, statistician, run_analysis):
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"convention": "mrmcaov"})
    assert run.results["primary"]["convention"] == "mrmcaov" == run.results["design"]["convention"]


def test_the_start_form_leaves_the_convention_to_the_design_unless_one_is_chosen(make_study):
    from studies.analysis_pages import StartRunForm

    study = make_study(n_readers=2, n_cases=4)
    fields = {"fom": "auc", "cov": "jackknife", "alpha": "0.05", "min_subgroup_cases": "10", "power_effect": "0.05"}
    blank = StartRunForm(data={**fields, "convention": ""}, study=study)
    assert blank.is_valid(), blank.errors
    assert (blank.options()["convention"], blank.options()["method"]) == (None, "or")
    chosen = StartRunForm(data={**fields, "convention": "mrmcaov", "method": "ustat"}, study=study)
    assert chosen.is_valid(), chosen.errors
    assert (chosen.options()["convention"], chosen.options()["method"]) == ("mrmcaov", "ustat")
