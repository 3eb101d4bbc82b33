"""Malformed protocol, truth and AI-output files: clear errors naming line and field, nothing stored."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from studies.errors import InvalidInput, RuleViolation
from studies.models import AIOutput, Case, Study, User
from studies.services.imports import import_ai_outputs, import_truth
from studies.services.protocol import create_study_from_protocol

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "protocol.example.yaml"


def test_example_protocol_creates_the_study(make_user):
    coordinator = make_user("coordinator", "coordinator")
    study = create_study_from_protocol(actor=coordinator, text=EXAMPLE.read_text())
    assert study.design == "fully_crossed" and study.washout_days == 28 and study.marks_enabled
    assert list(study.arms.values_list("name", "shows_ai")) == [("unaided", False), ("aided", True)]
    assert list(study.readers.values_list("code", flat=True)) == ["R01", "R02", "R03"]
    assert User.objects.get(username="dr_chen").years_experience == 20
    assert study.pixel_cleaning == [
        {"match": {"Modality": "US", "Manufacturer": "ACME Ultrasound", "Rows": 480, "Columns": 640},
         "regions": [[0, 0, 640, 48]]}
    ]


@pytest.mark.parametrize(
    "text,line,field,message",
    [
        ("title: x\narms:\n  - {name: a}\nwashout_days: soon\n", 4, "washout_days", "must be int"),
        ("title: x\narms:\n  - {name: a}\ndesign: crossover\n", 4, "design", "not one of"),
        ("title: x\narms:\n  - {name: a}\ncolour: red\n", 4, "colour", "unknown field"),
        ("title: x\narms:\n  - {name: a, shows_ai: maybe}\n", 3, "arms[0].shows_ai", "must be bool"),
        ("title: x\narms:\n  - {name: a}\n  - {name: a}\n", 4, "arms[1].name", "already exists"),
        ("title: x\n", 1, "arms", "at least one arm"),
        ("title: x\narms: [{name: a}]\nrating_scale: {type: ordinal, labels: [only]}\n", 3, "rating_scale.labels", "2"),
        ("title: x\narms:\n  - {name: a}\nmembers:\n  - {username: ghost}\n", 5, "members[0].username", "ghost"),
        ("title: [unclosed\n", 2, None, "YAML"),
        (
            "title: x\narms: [{name: a}]\npixel_cleaning:\n  - {match: {Modality: US}, regions: [[0, 0, 0, 5]]}\n",
            4,
            "pixel_cleaning",
            "rule 1: region [0, 0, 0, 5] is not",
        ),
    ],
)
def test_bad_protocols_name_line_and_field_and_store_nothing(coordinator, text, line, field, message):
    with pytest.raises(InvalidInput) as error:
        create_study_from_protocol(actor=coordinator, text=text)
    assert error.value.line == line
    assert error.value.field == field
    assert message in str(error.value)
    assert not Study.objects.exists() and not User.objects.filter(role="reader").exists()


def billion_laughs() -> str:
    """A protocol of 11 lines whose aliases, nested 9 deep, expand into 9**9 (387 million) copies of "x"."""
    return "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)) + "title: *i\narms: [{name: a}]\n"


@pytest.mark.parametrize("text,line", [
    ("title: &t x\nprotocol_version: *t\narms: [{name: a}]\n", 2),
    ("arm: &arm {name: a}\ntitle: x\narms:\n  - <<: *arm\n    label: A\n", 4),  # a merge key is an alias too
    (billion_laughs(), 2),
])
def test_yaml_aliases_are_refused_before_anything_is_built(coordinator, text, line):
    with pytest.raises(InvalidInput, match=r"YAML aliases \(\*name\) are not allowed in a protocol") as error:
        create_study_from_protocol(actor=coordinator, text=text)
    assert error.value.line == line
    assert not Study.objects.exists()


def test_the_create_study_command_refuses_a_billion_laughs(coordinator, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    with pytest.raises(CommandError, match=r"^line 2: YAML aliases \(\*name\) are not allowed in a protocol$"):
        call_command("create_study", str(bomb), user="coord")
    assert not Study.objects.exists()


def test_create_study_command_reports_errors(coordinator, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("title: x\narms:\n  - {name: a}\nwashout_days: -3\n")
    with pytest.raises(CommandError, match="line 4, field 'washout_days': must not be negative"):
        call_command("create_study", str(bad), user="coord")
    assert not Study.objects.exists()


@pytest.fixture
def draft(make_study):
    return make_study(status="draft", n_cases=0)


TRUTH_OK = "case,truth,truth_method,study_instance_uid,age_band\nA,1,pathology,1.2.3,50-59\nB,0,follow-up,1.2.4,60-69\n"


def test_truth_import_creates_cases_with_metadata(draft, coordinator):
    assert import_truth(actor=coordinator, study=draft, data=TRUTH_OK.encode()) == {"created": 2, "updated": 0, "linked_to_images": 0}
    a = Case.objects.get(study=draft, label="A")
    assert (a.truth, a.truth_method, a.metadata) == (1, "pathology", {"age_band": "50-59"})
    updated = import_truth(actor=coordinator, study=draft, data=b"case,truth\nA,0\n")
    assert updated == {"created": 0, "updated": 1, "linked_to_images": 0}


@pytest.mark.parametrize(
    "csv_text,expected",
    [
        ("label,truth\nA,1\n", "missing column(s) case"),
        ("case,truth\nA,1\nB,yes\n", "line 3, field 'truth': 'yes' must be 1 (diseased) or 0"),
        ("case,truth\nA,1\nA,0\n", "line 3, field 'case': 'A' repeats line 2"),
        ("case,truth_method\nA,guess\n", "line 2, field 'truth_method'"),
        ("case,lesions\nA,[{\n", "line 2, field 'lesions': not valid JSON"),
        ("case,truth\nA,1,extra\n", "line 2: more values than columns"),
        ("case,truth\n", "no data rows"),
    ],
)
def test_bad_truth_files_rejected_whole(draft, coordinator, csv_text, expected):
    with pytest.raises(InvalidInput) as error:
        import_truth(actor=coordinator, study=draft, data=csv_text.encode())
    assert expected in str(error.value)
    assert not Case.objects.filter(study=draft).exists()


def test_truth_file_reports_every_problem(draft, coordinator):
    with pytest.raises(InvalidInput) as error:
        import_truth(actor=coordinator, study=draft, data=b"case,truth\nA,2\nB,x\nC,1\n")
    assert [e.split(":")[0] for e in error.value.errors] == ["line 2, field 'truth'", "line 3, field 'truth'"]


@pytest.fixture
def with_cases(draft, coordinator):
    import_truth(actor=coordinator, study=draft, data=TRUTH_OK.encode())
    return draft


def test_ai_json_import_with_findings_and_checksum(with_cases, coordinator):
    document = {
        "model": {"name": "net", "version": "2.1", "operating_point": 0.4},
        "outputs": [
            {"case": "A", "score": 0.9, "findings": [{"type": "box", "x": 1, "y": 2, "width": 3, "height": 4}]},
            {"case": "B", "score": 0.2},
        ],
    }
    data = json.dumps(document).encode()
    result = import_ai_outputs(actor=coordinator, study=with_cases, data=data, filename="ai.json")
    assert result["stored"] == 2 and len(result["checksum"]) == 64
    a = AIOutput.objects.get(case__label="A")
    assert (a.model_name, a.model_version, a.operating_point) == ("net", "2.1", 0.4)
    output_set = a.output_set
    assert (output_set.source, output_set.source_name, output_set.source_checksum, output_set.shown) == (
        "imported", "ai.json", result["checksum"], True)
    assert result["sets"] == [output_set.pk]


@pytest.mark.parametrize(
    "data,expected",
    [
        ('{"outputs": [{"case": "Z", "score": 1, "model_name": "m", "model_version": "1"}]}',
         "field 'case': case 'Z' is not in this study"),
        ('{"model": {"name": "m", "version": "1"}, "outputs": [{"case": "A", "score": "high"}]}',
         "field 'outputs[0].score': 'high' is not a number"),
        ('{"model": {"name": "m", "version": "1"}, "outputs": [{"case": "A", "score": 1, "findings": [{"type": "blob"}]}]}',
         "field 'outputs[0].findings[0]': type must be one of"),
        ('{"model": {"name": "m"}, "outputs": [{"case": "A", "score": 1}]}', "field 'outputs[0].model_version'"),
        ('{"outputs": [', "not valid JSON"),
        ("case,model_name,model_version,score\nA,m,1,0.5\nB,m,1,\n", "line 3, field 'score': a number is required"),
        ("case,model,score\nA,m,1\n", "missing column(s) model_name, model_version"),
    ],
)
def test_bad_ai_files_rejected_whole(with_cases, coordinator, data, expected):
    with pytest.raises(InvalidInput) as error:
        import_ai_outputs(actor=coordinator, study=with_cases, data=data.encode(), filename="x")
    assert expected in str(error.value)
    assert not AIOutput.objects.exists()


def test_ai_outputs_immutable_after_draft(make_study, coordinator):
    study = make_study(status="enrolling")
    with pytest.raises(RuleViolation, match="fixed once the study leaves draft"):
        import_ai_outputs(actor=coordinator, study=study, data=b"case,model_name,model_version,score\nC000,m,1,1\n")


def test_import_api_returns_errors_as_json(api, draft, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("truth.csv", b"case,truth\nA,7\n", content_type="text/csv")
    response = api(coordinator).post(f"/api/v1/studies/{draft.pk}/cases/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"] == ["line 2, field 'truth': '7' must be 1 (diseased) or 0 (non-diseased)"]
