"""Previews of truth and AI-output files: what storing would do and every problem, nothing stored;
the import stores exactly what the preview showed. The truth file's ``training`` column."""

import json

import pytest

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AIOutput, AIOutputSet, AuditEvent, Case
from studies.services.imports import import_ai_outputs, import_truth, preview_ai_outputs, preview_truth

pytestmark = pytest.mark.django_db

TRUTH = ("case,truth,truth_method,training,site\n"
         "A,1,pathology,no,north\n"
         "B,0,follow-up,,south\n"
         "T1,1,consensus,yes,north\n")


@pytest.fixture
def draft(make_study):
    return make_study(status="draft", n_cases=0)


def _stored_nothing(study):
    return not Case.objects.filter(study=study).exists() and not AuditEvent.objects.filter(
        study_id=study.pk, entity="studies.Case").exists()


def test_truth_preview_lists_the_cases_to_create_and_stores_nothing(draft, coordinator):
    plan = preview_truth(actor=coordinator, study=draft, data=TRUTH.encode())
    assert plan.problems == []
    assert [(row.line, row.label, row.is_new) for row in plan.rows] == [(2, "A", True), (3, "B", True), (4, "T1", True)]
    assert plan.rows[0].values == {"label": "A", "truth": 1, "truth_method": "pathology", "is_training": False,
                                   "metadata": {"site": "north"}}
    assert plan.rows[1].values["truth_method"] == "follow_up" and plan.rows[1].values["is_training"] is False
    assert plan.rows[2].values["is_training"] is True
    assert plan.metadata_columns == ["site"]
    assert (plan.created, plan.changed, plan.unchanged) == (3, 0, 0)
    assert _stored_nothing(draft)


def test_truth_import_stores_what_the_preview_showed_training_flag_included(draft, coordinator):
    plan = preview_truth(actor=coordinator, study=draft, data=TRUTH.encode())
    assert import_truth(actor=coordinator, study=draft, data=TRUTH.encode())["created"] == 3
    stored = {c.label: (c.truth, c.truth_method, c.is_training, c.metadata) for c in draft.cases.all()}
    assert stored == {row.label: (row.values["truth"], row.values["truth_method"], row.values["is_training"],
                                  row.values["metadata"]) for row in plan.rows}
    assert stored["T1"][2] is True and stored["A"][2] is False


def test_truth_preview_names_the_changes_to_existing_cases(draft, coordinator):
    import_truth(actor=coordinator, study=draft, data=TRUTH.encode())
    plan = preview_truth(actor=coordinator, study=draft,
                         data=b"case,truth,training,site\nA,0,no,north\nB,0,1,south\nC,1,no,east\n")
    changes = {row.label: row.changes for row in plan.rows}
    assert changes == {"A": {"truth": (1, 0)}, "B": {"is_training": (False, True)}, "C": {}}
    assert [row.is_new for row in plan.rows] == [False, False, True]
    assert (plan.created, plan.changed, plan.unchanged) == (1, 2, 0)
    assert Case.objects.get(study=draft, label="A").truth == 1  # still


def test_truth_preview_names_every_problem_with_line_and_column(draft, coordinator):
    data = b"case,truth,training,reading_group\nA,2,no,0\nB,1,maybe,0\nA,0,no,x\nC,1,2,3,4\n"
    plan = preview_truth(actor=coordinator, study=draft, data=data)
    assert [(p.line, p.field) for p in plan.problems] == [
        (5, None), (2, "truth"), (3, "training"), (4, "reading_group"), (4, "case")]
    assert "'maybe' must be yes or no (1 or 0)" in plan.problems[2].message
    assert plan.problems[0].message == "more values than columns"
    with pytest.raises(InvalidInput) as refused:
        import_truth(actor=coordinator, study=draft, data=data)
    assert refused.value.errors == [str(p) for p in plan.problems]
    assert _stored_nothing(draft)


@pytest.mark.parametrize("data,message", [
    (b"label,truth\nA,1\n", "missing column(s) case"),
    (b"case,truth\n", "no data rows"),
    (b"case\n\xff\xfe\n", "not UTF-8"),
])
def test_a_file_refused_whole_is_one_problem_in_the_preview(draft, coordinator, data, message):
    plan = preview_truth(actor=coordinator, study=draft, data=data)
    assert plan.rows == [] and len(plan.problems) == 1 and message in plan.problems[0].message


def test_training_flag_is_fixed_once_a_schedule_exists(make_study, coordinator):
    study = make_study(status="reading", n_cases=4)
    plan = preview_truth(actor=coordinator, study=study, data=b"case,truth,training\nC000,0,yes\nC001,1,\n")
    assert [(p.line, p.field) for p in plan.problems] == [(2, "training")]
    with pytest.raises(InvalidInput, match="training case once a schedule exists"):
        import_truth(actor=coordinator, study=study, data=b"case,training\nC000,yes\n")
    assert not study.cases.filter(is_training=True).exists()


def test_preview_follows_the_same_rules_of_who_and_when(make_study, coordinator, statistician):
    study = make_study(status="reading", n_cases=2)
    with pytest.raises(NotAllowed):
        preview_truth(actor=statistician, study=study, data=b"case,truth\nC000,1\n")
    with pytest.raises(RuleViolation, match="fixed once the study leaves draft"):
        preview_ai_outputs(actor=coordinator, study=study, data=b"case,model_name,model_version,score\nC000,m,1,1\n")


AI_JSON = {"model": {"name": "net", "version": "2", "operating_point": 0.5},
           "outputs": [{"case": "A", "score": 0.9, "findings": [{"type": "point", "x": 1, "y": 2}]},
                       {"case": "B", "score": 0.1}]}


@pytest.fixture
def with_cases(draft, coordinator):
    import_truth(actor=coordinator, study=draft, data=TRUTH.encode())
    return draft


def test_ai_preview_lists_outputs_and_their_new_set_and_stores_nothing(with_cases, coordinator):
    plan = preview_ai_outputs(actor=coordinator, study=with_cases, data=json.dumps(AI_JSON).encode(), filename="ai.json")
    assert plan.all_problems == [] and plan.file_format == "JSON"
    assert [(r.where, r.case, r.model_name, r.model_version, r.score, r.operating_point, len(r.findings), r.stored)
            for r in plan.rows] == [("outputs[0]", "A", "net", "2", 0.9, 0.5, 1, False),
                                    ("outputs[1]", "B", "net", "2", 0.1, 0.5, 0, False)]
    assert [(s.model_name, s.model_version, s.existing, s.outputs) for s in plan.sets] == [("net", "2", None, 2)]
    assert plan.new_outputs == 2
    assert not AIOutputSet.objects.filter(study=with_cases).exists()


def test_ai_import_stores_the_previewed_outputs_and_a_second_preview_says_they_are_stored(with_cases, coordinator):
    data = json.dumps(AI_JSON).encode()
    result = import_ai_outputs(actor=coordinator, study=with_cases, data=data, filename="ai.json")
    assert result["stored"] == 2
    assert sorted(AIOutput.objects.filter(study=with_cases).values_list("case__label", "score", "operating_point")) == [
        ("A", 0.9, 0.5), ("B", 0.1, 0.5)]
    again = preview_ai_outputs(actor=coordinator, study=with_cases, data=data, filename="ai.json")
    assert [row.stored for row in again.rows] == [True, True] and again.new_outputs == 0
    assert again.sets[0].existing.pk == result["sets"][0] and again.all_problems == []


def test_ai_preview_names_every_problem_and_the_set_that_refuses_another_file(with_cases, coordinator):
    import_ai_outputs(actor=coordinator, study=with_cases, filename="first.csv",
                      data=b"case,model_name,model_version,score\nA,net,1,0.5\n")
    data = b"case,model_name,model_version,score,findings\nA,net,1,0.7,\nZ,net,1,x,\nB,net,1,0.2,[{\"type\":\"blob\"}]\n"
    plan = preview_ai_outputs(actor=coordinator, study=with_cases, data=data, filename="second.csv")
    assert [(p.line, p.field) for p in plan.problems] == [(3, "score"), (4, "findings[0]"), (3, "case")]
    assert [(p.field, "already has outputs" in p.message and "first.csv" in p.message)
            for p in plan.all_problems[3:]] == [("model_version", True)]
    with pytest.raises(InvalidInput):
        import_ai_outputs(actor=coordinator, study=with_cases, data=data, filename="second.csv")
    clean = b"case,model_name,model_version,score\nB,net,1,0.2\n"
    assert preview_ai_outputs(actor=coordinator, study=with_cases, data=clean, filename="second.csv").problems == []
    with pytest.raises(RuleViolation, match="already has outputs imported from first.csv"):
        import_ai_outputs(actor=coordinator, study=with_cases, data=clean, filename="second.csv")
    assert AIOutput.objects.filter(study=with_cases).count() == 1
