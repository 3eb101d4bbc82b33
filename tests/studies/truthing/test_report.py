"""The reference standard in the results and the report: how each case's truth was established, and the panel's
agreement against its thresholds, as a run freezes them."""

import json
from types import SimpleNamespace

import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from studies.models import Study
from studies.reports.sections import reference_standard as report_section
from studies.services import truthing
from studies.services.analysis_reference_standard import reference_standard_section
from studies.services.analysis_snapshot import marks_snapshot
from tests.conftest import create_study

from .conftest import label_all

TABLE = {"E1": [1, 1, 0, 0, 1, 0], "E2": [1, 1, 0, 0, 1, 1], "E3": [1, 1, 0, 1, 1, 0]}


def results_of(study: Study) -> dict:
    run = SimpleNamespace(marks_snapshot=marks_snapshot(study))  # what a run freezes
    return {"reference_standard": reference_standard_section(SimpleNamespace(run=run))}


def test_panel_truth_counts_and_agreement(panel_study, coordinator):
    Study.objects.filter(pk=panel_study.pk).update(truthing=truthing.validate_rule(
        {"rounds": 1, "final": "majority", "thresholds": {"kappa": 0.9}}))
    panel_study.refresh_from_db()
    label_all(panel_study, 1, TABLE)
    truthing.finalize(actor=coordinator, study=panel_study)
    part = results_of(panel_study)["reference_standard"]
    # cases 3 and 5: two of three say 0; the rest unanimous
    assert part["counts"] == {"imported": 0, "consensus": 4, "majority": 2, "adjudicated": 0}
    assert part["established_by"] == ["Panel E1, E2, E3"]
    [figure] = part["panel"]["label_by_round"]
    expected = sm_fleiss_kappa(aggregate_raters(list(zip(*TABLE.values(), strict=True)))[0])
    assert figure["kappa"] == pytest.approx(expected, rel=1e-12) and figure["passed"] is False
    section = report_section.build(None, results_of(panel_study))
    rows = {table.caption: table.rows for table in section.tables}
    assert rows["Cases by how their truth was established"] == [["Panel consensus (unanimous)", "4"],
                                                                ["Panel majority", "2"]]
    [agreement] = rows["Panel agreement (95% intervals; lesion intervals by bootstrap over cases)"]
    assert agreement[:3] == ["Label, round 1", "Fleiss' kappa", f"{expected:.3f}"]
    assert agreement[-1] == "0.9: NOT met"


def test_imported_truth_is_counted_by_its_method(db, coordinator):
    study = create_study(coordinator, n_readers=0, n_cases=4, arms=(("unaided", False),), status=Study.Status.DRAFT)
    study.cases.filter(label__in=["C000", "C001"]).update(truth_method="pathology")
    part = results_of(study)["reference_standard"]
    assert part["counts"] == {"imported": 4, "consensus": 0, "majority": 0, "adjudicated": 0}
    assert part["imported_methods"] == {"pathology": 2, "unspecified": 2}
    assert part["panel"] is None
    section = report_section.build(None, results_of(study))
    assert section.tables[0].rows == [["Imported from a truth file", "4"]]


def test_a_run_reads_what_it_froze(panel_study, coordinator):
    label_all(panel_study, 1, TABLE)
    frozen = marks_snapshot(panel_study)
    label_all(panel_study, 2, TABLE)  # after the run: not in its results
    part = reference_standard_section(SimpleNamespace(run=SimpleNamespace(marks_snapshot=frozen)))
    assert [f["n_cases"] for f in part["panel"]["label_by_round"]] == [6, 0]
    assert json.loads(frozen)["reference_standard"]["panel"]["final"] is False


def test_a_run_from_before_has_no_part():
    part = reference_standard_section(SimpleNamespace(run=SimpleNamespace(marks_snapshot=None)))
    assert part["available"] is False
    assert report_section.build(None, {"reference_standard": part}) is None


