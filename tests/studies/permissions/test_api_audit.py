"""Every write that succeeds leaves its audit event: the right action, object, study and actor.

Writes answered 202 (schedule, DICOM upload) do their work in a job: the job runs here when the
request's transaction commits, and its events are attributed to the one who asked.
"""

from dataclasses import dataclass, field

import pytest

from studies.models import AuditEvent

from .routes import MATRIX, POPULATION, TRUTHING_RULE, WRITES, call, last_event_seq, url_for

pytestmark = pytest.mark.usefixtures("route_targets")  # the studies in other statuses and the finished run


@dataclass(frozen=True)
class Expected:
    action: str
    entity: str
    entity_ids: set  # the event is about one of these
    study_id: int | None
    after: dict = field(default_factory=dict)  # values the event's "after" must hold


def url_id(url: str, collection: str) -> int:
    """The id after ``collection`` in ``url``."""
    parts = url.strip("/").split("/")
    return int(parts[parts.index(collection) + 1])


def _expected(name, method, world, study, body, user, url) -> Expected:
    on_study = {
        ("study-list", "post"): lambda: Expected("create", "studies.Study", {body.get("id")}, body.get("id"),
                                                 {"title": "new"}),
        ("study-detail", "patch"): lambda: Expected("update", "studies.Study", {study.pk}, study.pk,
                                                    {"title": "renamed"}),
        ("study-detail", "delete"): lambda: Expected("delete", "studies.Study", {study.pk}, study.pk),
        ("study-transition", "post"): lambda: Expected("update", "studies.Study", {study.pk}, study.pk,
                                                       {"status": "locked"}),
        ("arm-list", "post"): lambda: Expected("create", "studies.Arm", {body.get("id")}, study.pk, {"name": "third"}),
        ("case-import", "post"): lambda: Expected("update", "studies.Case", {study.cases.get(label="C000").pk},
                                                  study.pk, {"truth": True}),
        ("ai-output-import", "post"): lambda: Expected(
            "create", "studies.AIOutput", {study.ai_outputs.get(case__label="C000", model_version="2").pk}, study.pk),
        ("ai-output-set-detail", "delete"): lambda: Expected(
            "delete", "studies.AIOutputSet", {url_id(url, "ai-output-sets")}, study.pk),
        ("ai-output-set-show", "post"): lambda: Expected(
            "update", "studies.AIOutputSet", {url_id(url, "ai-output-sets")}, study.pk, {"shown": True}),
        ("ai-model-list", "post"): lambda: Expected("create", "studies.AIModel", {body.get("id")}, study.pk,
                                                    {"name": "MRMC Demo Blob Detector"}),
        ("ai-model-precompute", "post"): lambda: Expected("ai_precompute_started", "studies.Job", {body.get("id")},
                                                          study.pk, {"device": "cpu"}),
        ("dicom-upload", "post"): lambda: Expected(
            "create", "studies.DicomStudy", set(study.dicom_studies.values_list("pk", flat=True)), study.pk),
        ("upload-list", "post"): lambda: Expected("upload_started", "studies.Upload", {body.get("id")}, study.pk,
                                                  {"file_name": "image.dcm"}),
        ("upload-detail", "patch"): lambda: Expected("upload_received", "studies.Upload", {body.get("id")}, study.pk),
        ("upload-detail", "delete"): lambda: Expected("upload_cancelled", "studies.Upload",
                                                      {url.rstrip("/").rsplit("/", 1)[1]}, study.pk,
                                                      {"status": "cancelled"}),
        ("upload-complete", "post"): lambda: Expected("upload_imported", "studies.Upload", {body.get("id")}, study.pk,
                                                      {"job": body.get("job", {}).get("id")}),
        ("reader-list", "post"): lambda: Expected("create", "studies.Reader", {body.get("id")}, study.pk,
                                                  {"user_id": world.users["other_reader"].pk}),
        ("population", "put"): lambda: Expected("update", "studies.Study", {study.pk}, study.pk,
                                                {"population": POPULATION}),
        ("schedule", "post"): lambda: Expected("generate_schedule", "studies.Study", {study.pk}, study.pk,
                                               {"seed": 1, "sessions": study.sessions.count()}),
        ("truthing-rule", "put"): lambda: Expected("update", "studies.Study", {study.pk}, study.pk,
                                                   {"truthing": TRUTHING_RULE}),
        ("truthing-members", "post"): lambda: Expected("create", "studies.TruthingMember", {body.get("id")}, study.pk,
                                                       {"code": "E1"}),
        ("truthing-member", "delete"): lambda: Expected("delete", "studies.TruthingMember", {url_id(url, "members")},
                                                        study.pk),
        ("case-exclusions", "post"): lambda: Expected("update", "studies.Case", {study.cases.get(label="C001").pk},
                                                      study.pk, {"excluded_reason": "wrong patient"}),
        ("case-exclusion-withdraw", "post"): lambda: Expected(
            "update", "studies.Case", {study.cases.get(label="C001").pk}, study.pk, {"excluded_reason": ""}),
        ("deviation-list", "post"): lambda: Expected("create", "studies.ProtocolDeviation", {body.get("id")},
                                                     study.pk, {"description": "read at home"}),
        ("deviation-detect", "post"): lambda: Expected("deviations_detected", "studies.Study", {study.pk}, study.pk),
        ("deviation-review", "post"): lambda: Expected("update", "studies.ProtocolDeviation",
                                                       {url_id(url, "deviations")}, study.pk,
                                                       {"review_note": "reader retrained", "severity": "major"}),
        ("study-evaluations", "post"): lambda: Expected("create", "studies.LockedEvaluation", {body.get("id")},
                                                        study.pk, {"name": "plan"}),
        ("evaluation-looks", "post"): lambda: Expected("create", "studies.ModelUpdateEvaluation", {body.get("id")},
                                                       study.pk, {"look": 2, "model_version": "2"}),
        ("analysis-run-list", "post"): lambda: Expected("analysis_started", "studies.AnalysisRun", {body.get("id")},
                                                        study.pk),
        ("power-simulation", "post"): lambda: Expected("power_simulation_started", "studies.Job", {body.get("id")},
                                                       world.finished_run.study_id, {"n_studies": 100}),
        ("read-list", "post"): lambda: Expected("create", "studies.Read", {body.get("id")}, study.pk, {"rating": 50}),
        ("read-detail", "patch"): lambda: Expected("update", "studies.Read", {world.read.pk}, study.pk,
                                                   {"rating": 55, "revision": 1}),
        ("training-read-list", "post"): lambda: Expected("create", "studies.TrainingRead",
                                                         {body.get("read", {}).get("id")}, study.pk, {"rating": 50}),
        ("monitoring-deployment-list", "post"): lambda: Expected(
            "create", "studies.MonitoredDeployment", {body.get("id")}, None, {"name": "Detector, second region"}),
        ("monitoring-deployment-detail", "patch"): lambda: Expected(
            "update", "studies.MonitoredDeployment", {url_id(url, "deployments")}, None, {"description": "EU sites"}),
        ("monitoring-records", "post"): lambda: Expected(
            "field_records_imported", "studies.MonitoredDeployment", {url_id(url, "deployments")}, None,
            {"count": 1, "created": 1, "source": "api"}),
        ("monitoring-records-import", "post"): lambda: Expected(
            "field_records_imported", "studies.MonitoredDeployment", {url_id(url, "deployments")}, None,
            {"count": 1, "source": "csv:records.csv"}),
        ("monitoring-compute", "post"): lambda: Expected(
            "field_monitoring_computed", "studies.MonitoredDeployment", {url_id(url, "deployments")}, None),
        ("monitoring-alarm-acknowledge", "post"): lambda: Expected(
            "update", "studies.MonitoringAlarm", {url_id(url, "alarms")}, None, {"note": "site C's software rolled back"}),
        ("api-logout", "post"): lambda: Expected("auth.logout", "auth.User", {user.pk}, None),
        ("api-logout-all", "post"): lambda: Expected("auth.token_revoked", "auth.User", {user.pk}, None),
    }
    return on_study[(name, method)]()


CASES = [(name, method, role) for name, method in WRITES for role in sorted(MATRIX[name][method].allowed)]


def test_every_write_has_an_expected_event():
    assert {(name, method) for name, method, _ in CASES} == set(WRITES)


@pytest.fixture(autouse=True)
def dicom_storage(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"


@pytest.mark.parametrize("name,method,role", CASES, ids=[f"{n}-{m}-{r}" for n, m, r in CASES])
def test_every_write_is_audited(api, world, name, method, role, django_capture_on_commit_callbacks):
    rule = MATRIX[name][method]
    url = url_for(world, name, method)
    study, user = world.study_in(rule.state), world.users[role]
    last_event = last_event_seq()
    with django_capture_on_commit_callbacks(execute=True):
        response = call(api, world, role, name, method, url)
    assert response.status_code == rule.status, response.content[:500]
    body = response.json() if response.content else {}
    expected = _expected(name, method, world, study, body, user, url)
    events = AuditEvent.objects.filter(seq__gt=last_event, action=expected.action, entity=expected.entity)
    matching = [event for event in events if event.entity_id in {str(pk) for pk in expected.entity_ids}]
    assert matching, f"no {expected.action} event of {expected.entity} {expected.entity_ids}"
    for event in matching:
        assert (event.actor_id, event.actor_username) == (user.pk, user.username)
        assert event.study_id == expected.study_id
        assert expected.after.items() <= (event.after or {}).items(), event.after
