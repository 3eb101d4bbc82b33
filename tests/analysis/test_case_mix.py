"""The results' case-mix table on a seeded study, against counts, proportions and Wilson intervals computed
here (statsmodels), and the report's table and forest plot."""

from html import unescape

import pytest
from statsmodels.stats.proportion import proportion_confint

from studies.models import Case, Study
from studies.reports import render_html
from studies.reports.figures import report_figure_objects
from studies.reports.forest_plot import forest_rows
from studies.reports.sections import case_mix as section

POPULATION = {
    "variables": {
        "age_band": {"source": "acquisition", "targets": {"40-49": 0.25, "50-59": 0.35, "60-69": 0.3, "70-79": 0.1}},
        "manufacturer": {"source": "acquisition", "targets": {"GE": 0.5, "Hologic": 0.5}},
        "site": {"source": "metadata", "targets": {"site-1": 0.5, "site-2": 0.5}},
    },
    "rule": {"min_ratio": 0.5, "alpha": 0.05},
}


def age_of(index: int) -> str:
    """4 cases 40-49, 16 50-59, 16 60-69, 2 80+, 2 without an age."""
    return "40-49" if index < 4 else "50-59" if index < 20 else "60-69" if index < 36 else "80+" if index < 38 else ""


@pytest.fixture
def seeded_run(read_study, run_analysis, statistician):
    study = read_study(n_cases=40)
    # the acquisition attributes as ingest would have recorded them; the study is locked, so set here directly
    Study.objects.filter(pk=study.pk).update(population=POPULATION)
    for index, case in enumerate(study.cases.order_by("label")):
        acquisition = {"manufacturer": "GE" if index % 4 == 0 else "Hologic"}
        if age_of(index):
            acquisition["age_band"] = age_of(index)
        Case.objects.filter(pk=case.pk).update(acquisition=acquisition)
    run = run_analysis(actor=statistician, study=study, options={"seed": 1})
    assert run.status == "succeeded", run.error
    return run


def expected_group(cases: list[Case], in_group, target, n: int = 40) -> dict:
    members = [case for case in cases if in_group(case)]
    low, high = proportion_confint(len(members), n, alpha=0.05, method="wilson")
    return {"count": len(members), "n_diseased": sum(case.truth for case in members),
            "n_non_diseased": sum(1 - case.truth for case in members), "proportion": len(members) / n,
            "ci": [low, high], "target": target}


def test_the_case_mix_table_matches_hand_computed_values(seeded_run):
    case_mix = seeded_run.results["case_mix"]
    cases = list(seeded_run.study.cases.order_by("label"))
    assert case_mix["available"] and case_mix["n_cases"] == 40 and case_mix["n_diseased"] == 20
    tables = {variable["name"]: {group["group"]: group for group in variable["groups"]}
              for variable in case_mix["variables"]}
    ages = tables["age_band"]
    assert list(ages) == ["40-49", "50-59", "60-69", "70-79", "80+", ""]
    age_bands = {case.label: age_of(index) for index, case in enumerate(cases)}
    for group, target in [("40-49", 0.25), ("50-59", 0.35), ("60-69", 0.3), ("70-79", 0.1), ("80+", None),
                          ("", None)]:
        expected = expected_group(cases, lambda case, group=group: age_bands[case.label] == group, target)
        row = ages[group]
        assert {key: row[key] for key in ("count", "n_diseased", "n_non_diseased", "target")} == {
            key: expected[key] for key in ("count", "n_diseased", "n_non_diseased", "target")}
        assert row["proportion"] == pytest.approx(expected["proportion"])
        assert row["ci"] == pytest.approx(expected["ci"], abs=1e-10)
    # 40-49: 4/40 = 0.10 < 0.5 x 0.25, and the Wilson upper limit 0.2305 < 0.25: flagged for both reasons
    assert ages["40-49"]["ci"][1] == pytest.approx(0.2305, abs=1e-4)
    assert ages["40-49"]["reasons"] == ["below_ratio", "ci_below_target"]
    # 50-59: 16/40 = 0.4 and 60-69 likewise: above target; 70-79: none, 0 < 0.05, upper limit 0.0876 < 0.1
    assert not ages["50-59"]["under_represented"] and not ages["60-69"]["under_represented"]
    assert ages["70-79"]["ci"][1] == pytest.approx(0.0876, abs=1e-4)
    assert ages["70-79"]["reasons"] == ["below_ratio", "ci_below_target"]
    assert ages["80+"]["reasons"] == [] and ages[""]["count"] == 2
    # GE 10/40 = 0.25: not below 0.25 (the ratio), but the upper limit 0.4019 < 0.5: flagged by the interval
    ge = tables["manufacturer"]["GE"]
    assert ge["count"] == 10 and ge["ci"] == pytest.approx(proportion_confint(10, 40, method="wilson"))
    assert ge["ci"][1] == pytest.approx(0.4019, abs=1e-4) and ge["reasons"] == ["ci_below_target"]
    # site: the truth file's column as frozen in the reads snapshot
    sites = tables["site"]
    for site in ("site-1", "site-2"):
        expected = expected_group(cases, lambda case, site=site: case.metadata["site"] == site, 0.5)
        assert sites[site]["count"] == expected["count"] and sites[site]["n_diseased"] == expected["n_diseased"]
        assert sites[site]["ci"] == pytest.approx(expected["ci"], abs=1e-10)


def test_the_run_reads_the_values_it_froze(seeded_run, run_analysis, statistician):
    study = seeded_run.study
    Case.objects.filter(study=study).update(acquisition={"manufacturer": "GE", "age_band": "40-49"})
    Study.objects.filter(pk=study.pk).update(population={})
    seeded_run.refresh_from_db()
    assert seeded_run.results["case_mix"]["variables"][1]["groups"][0]["count"] == 10
    later = run_analysis(actor=statistician, study=study, options={"seed": 1})
    assert later.results["case_mix"] == {"available": False,
                                         "reason": "the protocol declares no intended-use population"}


def test_the_report_shows_the_table_and_the_forest_plot(seeded_run):
    results = seeded_run.results
    html = unescape(render_html(seeded_run))
    assert "Case mix and subgroup performance" in html
    assert "age_band (from the images)" in html and "site (from the case metadata)" in html
    assert "under-represented" in html and "not recorded" in html
    rows = forest_rows(results)
    subgroups = [row for row in results["subgroups"]["rows"] if row.get("differences")]
    assert rows[0][0] == "All cases" and len(rows) == 1 + len(subgroups) > 1
    assert [estimate for _, estimate, _ in rows[1:]] == [row["differences"][0]["estimate"] for row in subgroups]
    figure = report_figure_objects(results)["subgroup_forest"]
    axes = figure.axes[0]
    top = max(zip(axes.get_yticks(), axes.get_yticklabels(), strict=True), key=lambda tick: tick[0])
    assert top[1].get_text() == "All cases"  # the whole study first, above the subgroups
    assert "Difference between arms per subgroup level" in html


def results_without_population(subgroup_rows: list[dict]) -> dict:
    difference = {"estimate": 0.05, "ci": [0.01, 0.09], "p": 0.02, "treatments": ["aided", "unaided"]}
    return {"case_mix": {"available": False, "reason": "the protocol declares no intended-use population"},
            "primary": {"fom": "auc", "fom_label": "AUC", "alpha": 0.05, "treatments": ["aided", "unaided"],
                        "rrrc": {"differences": [difference]}},
            "subgroups": {"rows": subgroup_rows}, "options": {}}


def test_without_a_population_the_section_keeps_the_forest_plot_and_says_why_there_is_no_table():
    level = {"variable": "site", "level": "A", "n_normal": 12, "n_abnormal": 11, "too_small": False, "error": None,
             "differences": [{"estimate": -0.02, "ci": [-0.1, 0.06], "p": 0.6, "treatments": ["aided", "unaided"]}]}
    built = section.build(None, results_without_population([level]))
    assert built.tables == [] and built.paragraphs == ["the protocol declares no intended-use population"]
    assert [name for name, _ in built.figures] == ["subgroup_forest"]
    assert forest_rows(results_without_population([level])) == [("All cases", 0.05, [0.01, 0.09]),
                                                                 ("site = A (12/11)", -0.02, [-0.1, 0.06])]
    too_small = {**level, "too_small": True, "differences": None}
    assert section.build(None, results_without_population([too_small])) is None  # nothing to show
