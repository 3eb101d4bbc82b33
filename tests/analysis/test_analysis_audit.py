"""Analysis runs and their downloads in the audit trail; the simulated reads chained like any other."""

import json

from studies.models import AuditEvent, Read
from studies.services.audit_verify import verify


def test_a_run_its_downloads_and_an_anchor_are_recorded(read_study, statistician, api, audit_anchor_file,
                                                         django_capture_on_commit_callbacks):
    study = read_study(n_cases=20)
    client = api(statistician)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/studies/{study.pk}/analysis-runs/", {"options": {"seed": 2}}, format="json")
    run_id = response.json()["id"]
    for name in ("mrmcaov.csv", "report.html"):
        assert client.get(f"/api/v1/analysis-runs/{run_id}/{name}").status_code == 200

    events = list(AuditEvent.objects.filter(entity="studies.AnalysisRun", entity_id=str(run_id))
                  .values_list("action", "actor_username", "after"))
    assert [(action, actor) for action, actor, _ in events] == [
        ("analysis_started", "stat"), ("analysis_finished", "stat"), ("download", "stat"), ("download", "stat")]
    assert events[1][2] == {"status": "succeeded", "error": ""}
    assert [after["file"] for *_, after in events[2:]] == [f"study-{study.pk}-run-{run_id}-mrmcaov.csv", "report.html"]

    anchor = json.loads(audit_anchor_file.read_text().splitlines()[-1])
    finished = AuditEvent.objects.get(entity_id=str(run_id), action="analysis_finished")
    assert anchor["seq"] >= finished.seq


def test_simulated_reads_have_one_chained_event_each(read_study, audit_anchor_file):
    study = read_study(n_cases=20)
    reads = Read.objects.filter(case__study=study).count()
    assert AuditEvent.objects.filter(entity="studies.Read", action="create", study_id=study.pk).count() == reads == 200
    assert verify(anchor_file=audit_anchor_file).problems == []
