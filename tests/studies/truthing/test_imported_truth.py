"""A study whose truth its truthing panel establishes takes case metadata from a truth file, never truth."""

import pytest

from studies.errors import InvalidInput
from studies.models import Study
from studies.services import imports, truthing
from tests.conftest import create_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def panel_study(coordinator):
    study = create_study(coordinator, n_readers=0, n_cases=2, status=Study.Status.DRAFT)
    truthing.set_rule(actor=coordinator, study=study, rule={"rounds": 1, "final": "majority"})
    study.refresh_from_db()
    return study


def test_truth_columns_are_refused_naming_line_and_column_and_nothing_changes(panel_study, coordinator):
    before = list(panel_study.cases.order_by("label").values_list("label", "truth", "metadata"))
    labels = [label for label, _, _ in before]
    data = (f"case,truth,site\n{labels[0]},{1 - (before[0][1] or 0)},north\nC999,0,south\n").encode()
    with pytest.raises(InvalidInput) as refused:
        imports.import_truth(actor=coordinator, study=panel_study, data=data)
    assert refused.value.errors == [
        "line 2, field 'truth': the study's truth is established by its truthing panel: leave this column out or empty",
        "line 3, field 'truth': the study's truth is established by its truthing panel: leave this column out or empty",
    ]
    assert list(panel_study.cases.order_by("label").values_list("label", "truth", "metadata")) == before


def test_metadata_and_unchanged_truth_still_come_from_a_file(panel_study, coordinator):
    case = panel_study.cases.order_by("label").first()
    data = f"case,truth,site\n{case.label},{'' if case.truth is None else case.truth},east\nC999,,south\n".encode()
    imports.import_truth(actor=coordinator, study=panel_study, data=data)
    case.refresh_from_db()
    assert case.metadata["site"] == "east"
    assert panel_study.cases.get(label="C999").truth is None
