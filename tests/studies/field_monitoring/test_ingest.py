"""Field records: stored all or none, idempotent by case key, outcomes later, every bad row named, no PHI."""

import pytest
from django.core.management import call_command

from studies.errors import InvalidInput
from studies.models import AuditEvent, FieldRecord
from studies.services import field_monitoring

from .conftest import record


def test_a_record_first_without_outcome_then_its_outcome(monitor, deployment):
    first = field_monitoring.import_records(actor=monitor, deployment=deployment, rows=[record()], source="api")
    assert (first.created, first.completed, first.unchanged) == (1, 0, 0)
    stored = FieldRecord.objects.get(deployment=deployment, case_key="K1")
    assert stored.outcome is None
    later = field_monitoring.import_records(
        actor=monitor, deployment=deployment, source="api",
        rows=[{"case_key": "K1", "outcome": 1, "outcome_at": "2026-01-20T09:00:00Z"}])
    assert (later.created, later.completed) == (0, 1)
    stored.refresh_from_db()
    assert (stored.outcome, stored.outcome_at.isoformat()) == (1, "2026-01-20T09:00:00+00:00")


def test_sending_the_same_records_again_changes_nothing(monitor, deployment):
    rows = [record("K1"), record("K2", outcome=0, outcome_at="2026-01-19T00:00:00Z")]
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="api")
    again = field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="api")
    assert (again.created, again.completed, again.unchanged) == (0, 0, 2)
    assert deployment.records.count() == 2


def test_one_audit_event_per_import_with_its_count_and_source(monitor, deployment):
    before = AuditEvent.objects.count()
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=[record(f"K{i}") for i in range(50)],
                                    source="csv:site-a.csv")
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(event.action, event.after["count"], event.after["source"]) for event in events] == [
        ("field_records_imported", 50, "csv:site-a.csv")]


@pytest.mark.parametrize("bad,field,words", [
    ({"patient_name": "DOE^JOHN"}, "patient_name", "no patient data"),
    ({"score": "high"}, "score", "finite number"),
    ({"acquired_at": "yesterday"}, "acquired_at", "ISO 8601"),
    ({"outcome": 2}, "outcome", "1 (diseased) or 0"),
    ({"case_key": "name with spaces"}, "case_key", "pseudonymous key"),
    ({"attributes": {"PatientAge": 45}}, "attributes.PatientAge", "lower-case"),
    ({"attributes": {"protocol": "CHEST PA DOE"}}, "attributes.protocol", "a number"),
    ({"positive": True}, "positive", "contradicts the score"),  # 0.8 is below the operating point
])
def test_a_bad_row_is_named_by_line_and_field_and_nothing_is_stored(monitor, deployment, bad, field, words):
    rows = [record("K1"), record("K2"), {**record("K3"), **bad}]
    with pytest.raises(InvalidInput) as refused:
        field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="api")
    assert (refused.value.line, refused.value.field) == (3, field)
    assert words in refused.value.message
    assert not deployment.records.exists()
    assert not AuditEvent.objects.filter(action="field_records_imported").exists()


def test_every_bad_row_is_reported(monitor, deployment):
    rows = [record("K1", score="x"), record("K2"), {"case_key": "K9", "outcome": 1}]
    with pytest.raises(InvalidInput) as refused:
        field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="api")
    assert [error.split(":")[0] for error in refused.value.errors] == ["line 1, field 'score'", "line 3, field 'site'"]


def test_a_changed_record_or_outcome_is_refused(monitor, deployment):
    field_monitoring.import_records(actor=monitor, deployment=deployment, source="api",
                                    rows=[record("K1", outcome=1, outcome_at="2026-01-20T00:00:00Z")])
    for row, field in [(record("K1", score=0.2), "score"), ({"case_key": "K1", "outcome": 0}, "outcome")]:
        with pytest.raises(InvalidInput) as refused:
            field_monitoring.import_records(actor=monitor, deployment=deployment, rows=[row], source="api")
        assert refused.value.field == field


def test_csv_rows_name_their_file_line_and_attributes_become_numbers(monitor, deployment):
    text = ("case_key,site,manufacturer,device_model,software_version,model_version,score,acquired_at,attr_kvp,"
            "outcome,outcome_at\n"
            "K1,site-A,GE,Definium 656,28.1,1.0.0,0.8,2026-01-05T10:00:00Z,120,,\n"
            "K2,site-A,GE,Definium 656,28.1,1.0.0,0.3,2026-01-05T11:00:00Z,125,0,2026-01-19T00:00:00Z\n")
    rows = field_monitoring.parse_csv(text.encode())
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="csv", first_line=2)
    assert dict(deployment.records.values_list("case_key", "attributes")) == {"K1": {"kvp": 120.0},
                                                                              "K2": {"kvp": 125.0}}
    with pytest.raises(InvalidInput) as refused:
        field_monitoring.parse_csv(b"case_key,site,birth_date\nK3,site-A,1970-01-01\n")
    assert (refused.value.line, refused.value.field) == (1, "birth_date")
    bad = text.replace("0.3,2026-01-05T11", "abc,2026-01-05T11").replace("K1,", "K5,").replace("K2,", "K6,")
    with pytest.raises(InvalidInput) as refused:
        field_monitoring.import_records(actor=monitor, deployment=deployment, rows=field_monitoring.parse_csv(
            bad.encode()), source="csv", first_line=2)
    assert (refused.value.line, refused.value.field) == (3, "score")


def test_the_import_command(monitor, deployment, tmp_path, capsys):
    path = tmp_path / "records.csv"
    path.write_text("case_key,site,model_version,score,acquired_at\nK1,site-A,1.0.0,0.8,2026-01-05T10:00:00Z\n")
    call_command("import_monitoring_records", "--deployment", str(deployment.pk), str(path), "--user", monitor.username)
    assert deployment.records.get().site == "site-A"
    assert "1 created" in capsys.readouterr().out
