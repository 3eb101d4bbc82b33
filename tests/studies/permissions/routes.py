"""The API's role × route table: who may call each route, what they get, and how to call it well.

A denied role is told 401 when anonymous, 404 where it may not learn that the object exists
(``hidden_from``), else 403. An allowed role gets exactly ``status``: a 400 or 409 means the
request was refused, and fails the test like a 403 would.
"""

import io
import uuid
from dataclasses import dataclass

import onnx
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, get_resolver, reverse

from mrmc.inference.demo_detector import SHIPPED_CARD, SHIPPED_MODEL
from studies.models import AuditEvent, Role, Study, TruthingMember, User
from tests.dicomweb.images import case_datasets

ROLES = ["anonymous", "reader", "other_reader", "coordinator", "other_coordinator", "statistician", "admin"]
STAFF = frozenset({"coordinator", "statistician", "admin"})
CHANGE = frozenset({"coordinator", "admin"})
READER = frozenset({"reader"})
ANY_READER = frozenset({"reader", "other_reader"})
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
# Not on the study (nor on the run's study): told the object does not exist. "reader" is
# enrolled in every study of the tests, so staff routes refuse them with 403.
OUTSIDERS = frozenset({"other_reader", "other_coordinator"})
NOBODY = frozenset()
ADMIN = frozenset({"admin"})
MONITORING_HIDDEN = frozenset({"coordinator", "other_coordinator", "statistician"})  # may see deployments, not this
DRAFT, ENROLLING, READING = Study.Status.DRAFT, Study.Status.ENROLLING, Study.Status.READING
ANALYZED = Study.Status.ANALYZED  # the finished run's study


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    status: int = 200
    state: str = READING  # the status the study must be in for the request to succeed
    hidden_from: frozenset[str] = OUTSIDERS

    def expected_status(self, role: str) -> int:
        if role == "anonymous":
            return 401
        if role in self.allowed:
            return self.status
        return 404 if role in self.hidden_from else 403


# url name -> {method: rule}. Every route under /api/v1/ must be listed (tests check it).
MATRIX = {
    "study-list": {"get": Rule(STAFF | {"other_coordinator"}, hidden_from=NOBODY),
                   "post": Rule(CHANGE | {"other_coordinator"}, 201, hidden_from=NOBODY)},
    "study-detail": {"get": Rule(STAFF), "patch": Rule(CHANGE), "delete": Rule(CHANGE, 204, DRAFT)},
    "study-transition": {"post": Rule(CHANGE)},
    "arm-list": {"get": Rule(STAFF), "post": Rule(CHANGE, 201, DRAFT)},
    "case-list": {"get": Rule(STAFF)},
    "case-import": {"post": Rule(CHANGE)},
    "ai-output-list": {"get": Rule(STAFF)},
    "ai-output-import": {"post": Rule(CHANGE, state=DRAFT)},
    "ai-output-set-list": {"get": Rule(STAFF)},
    "ai-output-set-detail": {"get": Rule(STAFF), "delete": Rule(CHANGE, 204, DRAFT)},
    "ai-output-set-show": {"post": Rule(CHANGE, state=DRAFT)},
    "ai-output-set-json": {"get": Rule(STAFF)},
    "ai-output-set-csv": {"get": Rule(STAFF)},
    "ai-model-list": {"get": Rule(STAFF), "post": Rule(CHANGE, 201, DRAFT)},
    "ai-model-precompute": {"post": Rule(CHANGE, 202, DRAFT)},
    "dicom-upload": {"post": Rule(CHANGE, 202)},
    # Resumable uploads, on an upload the study's coordinator started (url_for): those who may add images.
    "upload-list": {"post": Rule(CHANGE, 201)},
    "upload-detail": {"get": Rule(CHANGE), "patch": Rule(CHANGE), "delete": Rule(CHANGE, 204)},
    "upload-complete": {"post": Rule(CHANGE, 202)},
    "reader-list": {"get": Rule(STAFF), "post": Rule(CHANGE, 201, ENROLLING)},
    "schedule": {"get": Rule(STAFF), "post": Rule(CHANGE, 202, ENROLLING)},
    "schedule-csv": {"get": Rule(STAFF)},
    "progress": {"get": Rule(STAFF)},
    "readiness": {"get": Rule(STAFF)},
    "population": {"get": Rule(STAFF), "put": Rule(CHANGE, state=ENROLLING)},
    "monitoring": {"get": Rule(STAFF)},
    "study-reads": {"get": Rule(STAFF)},
    "study-reads-csv": {"get": Rule(STAFF)},
    "audit": {"get": Rule(STAFF)},
    "accountability": {"get": Rule(STAFF)},
    "case-exclusions": {"get": Rule(STAFF), "post": Rule(CHANGE)},
    "case-exclusion-withdraw": {"post": Rule(CHANGE)},
    "deviation-list": {"get": Rule(STAFF), "post": Rule(CHANGE, 201)},
    "deviation-detect": {"post": Rule(CHANGE)},
    "deviation-review": {"post": Rule(CHANGE)},
    # A job is shown to its creator and the members of its study; to everyone else it does not exist.
    "job-detail": {"get": Rule(STAFF, hidden_from=SIGNED_IN - STAFF)},
    "analysis-run-list": {"get": Rule(STAFF), "post": Rule(STAFF, 202)},
    "analysis-run-detail": {"get": Rule(STAFF)},
    "power-simulation": {"post": Rule(STAFF, 202)},
    "analysis-run-report-html": {"get": Rule(STAFF)},
    "analysis-run-report-pdf": {"get": Rule(STAFF)},
    "analysis-run-reads-csv": {"get": Rule(STAFF)},
    "analysis-run-mrmcaov-csv": {"get": Rule(STAFF)},
    "analysis-run-imrmc-imrmc": {"get": Rule(STAFF)},
    "analysis-run-rjafroc-xlsx": {"get": Rule(STAFF)},
    # The run here has no FROC analysis: those who may see it are told so (409), the others refused.
    "analysis-run-rjafroc_froc-xlsx": {"get": Rule(STAFF, 409)},
    "analysis-run-results-json": {"get": Rule(STAFF)},
    "worklist": {"get": Rule(ANY_READER, hidden_from=NOBODY)},
    "session-detail": {"get": Rule(READER, hidden_from=frozenset({"other_reader"}))},
    "assignment-detail": {"get": Rule(READER, hidden_from=frozenset({"other_reader"}))},
    "read-list": {"get": Rule(ANY_READER, hidden_from=NOBODY),
                  "post": Rule(READER, 201, hidden_from=frozenset({"other_reader"}))},
    # Revising looks up the caller's own read first: to anyone else it does not exist.
    "read-detail": {"patch": Rule(READER, hidden_from=SIGNED_IN - READER)},
    # A reader's training in a study they are enrolled in; to readers of other studies it does not exist.
    "training": {"get": Rule(READER, hidden_from=frozenset({"other_reader"}))},
    "training-case": {"get": Rule(READER, hidden_from=frozenset({"other_reader"}))},
    "training-read-list": {"post": Rule(READER, 201, hidden_from=frozenset({"other_reader"}))},
    # A truthing panel's own routes: no role here is a truther (tests/studies/truthing covers the panel).
    "truthing-panels": {"get": Rule(NOBODY, hidden_from=NOBODY)},
    "truthing-cases": {"get": Rule(NOBODY, hidden_from=NOBODY)},
    "truthing-case": {"get": Rule(NOBODY, hidden_from=NOBODY)},
    "truthing-labels": {"post": Rule(NOBODY, 201, hidden_from=NOBODY)},
    "truthing-adjudications": {"post": Rule(NOBODY, 201, hidden_from=NOBODY)},
    "truthing-disputes": {"get": Rule(CHANGE)},
    "truthing-agreement": {"get": Rule(STAFF)},
    # The study here has no truthing panel: those who may finalize one are told so (409), the others refused.
    "truthing-finalize": {"post": Rule(CHANGE, 409)},
    "truthing-rule": {"get": Rule(STAFF), "put": Rule(CHANGE)},
    "truthing-members": {"get": Rule(STAFF), "post": Rule(CHANGE, 201)},
    "truthing-member": {"delete": Rule(CHANGE, 204)},
    # Locked evaluations of the analysed study (a monitor member may too: tests/studies/model_updates)
    "study-evaluations": {"get": Rule(STAFF, state=ANALYZED), "post": Rule(STAFF, 201, state=ANALYZED)},
    "evaluation-detail": {"get": Rule(STAFF, state=ANALYZED)},
    "evaluation-looks": {"post": Rule(STAFF, 201, state=ANALYZED)},
    "evaluation-look-report-html": {"get": Rule(STAFF, state=ANALYZED)},
    "evaluation-look-report-pdf": {"get": Rule(STAFF, state=ANALYZED)},
    # Field monitoring: the deployment here (admin's) has no members; staff who may see deployments are told it
    # does not exist, readers that they may not (tests/studies/field_monitoring covers the monitor role).
    "monitoring-deployment-list": {"get": Rule(STAFF | {"other_coordinator"}, hidden_from=NOBODY),
                                   "post": Rule(ADMIN, 201, hidden_from=NOBODY)},
    "monitoring-deployment-detail": {"get": Rule(ADMIN, hidden_from=MONITORING_HIDDEN),
                                     "patch": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-records": {"get": Rule(ADMIN, hidden_from=MONITORING_HIDDEN),
                           "post": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-records-import": {"post": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-windows": {"get": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-compute": {"post": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-alarms": {"get": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "monitoring-alarm-acknowledge": {"post": Rule(ADMIN, hidden_from=MONITORING_HIDDEN)},
    "api-logout": {"post": Rule(SIGNED_IN, 204)},
    "api-logout-all": {"post": Rule(SIGNED_IN, 204)},
}
POPULATION = {"variables": {"sex": {"source": "acquisition", "targets": {"F": 0.5, "M": 0.5}}}}
TRUTHING_RULE = {"rounds": 2, "marks": ["box"], "matching": {"iou": 0.5, "point_radius": 10.0}, "thresholds": {},
                 "final": "adjudicated"}
EVALUATION_CRITERIA = {"auc_noninferiority": {"margin": 0.05}, "sensitivity_floor": 0.2}
# A value of the right type for each route parameter that is not a number, to build any route's URL.
SAMPLE_VALUES = {"upload_id": uuid.UUID(int=1)}
PUBLIC = {"api-token"}  # obtaining a token is how one authenticates
# Writes a role here makes, and makes successfully in the world of these tests: a truthing panel's labels and
# adjudications, and finalizing a panel's truth, are checked in tests/studies/truthing.
WRITES = [(name, method) for name, methods in MATRIX.items() for method, rule in methods.items()
          if method != "get" and rule.allowed and rule.status < 400]


def api_url_names() -> set[str]:
    resolver = get_resolver()
    return {name for name in resolver.reverse_dict if isinstance(name, str) and _is_api(name)}


def _is_api(name: str) -> bool:
    try:
        return reverse(name, kwargs={param: SAMPLE_VALUES.get(param, 1) for param in route_params(name)}
                       ).startswith("/api/v1/")
    except NoReverseMatch:
        return False


def route_params(name: str) -> list[str]:
    (possibility, _pattern, _defaults, _converters), *_ = get_resolver().reverse_dict.getlist(name)
    return possibility[0][1]


def last_event_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def dicom_file(seed: int = 7) -> bytes:
    """A small valid DX instance, as a coordinator would upload it."""
    buffer = io.BytesIO()
    case_datasets(seed=seed)[0].save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _truth_change(study: Study) -> dict:
    """C000 (truth 0) becomes positive: truth may still be corrected while reading."""
    case = study.cases.get(label="C000")
    row = f"C000,1,{case.study_instance_uid},{case.reading_group}"
    return {"file": SimpleUploadedFile("truth.csv", f"case,truth,study_instance_uid,reading_group\n{row}\n".encode())}


# (name, method) -> body of a request that succeeds, given the world and the study it addresses.
BODIES = {
    ("study-list", "post"): lambda world, study: {"title": "new"},
    ("study-detail", "patch"): lambda world, study: {"title": "renamed"},
    ("study-transition", "post"): lambda world, study: {"status": "locked"},
    ("arm-list", "post"): lambda world, study: {"name": "third", "label": "Third"},
    ("case-import", "post"): lambda world, study: _truth_change(study),
    ("ai-output-import", "post"): lambda world, study: {
        "file": SimpleUploadedFile("ai.csv", b"case,model_name,model_version,score\nC000,model,2,0.5\n")},
    ("dicom-upload", "post"): lambda world, study: {"files": [SimpleUploadedFile("image.dcm", dicom_file())]},
    ("upload-list", "post"): lambda world, study: {"file_name": "image.dcm", "size": len(dicom_file()),
                                                   "fingerprint": "image.dcm:1"},
    ("ai-model-list", "post"): lambda world, study: {
        "model": SimpleUploadedFile("next.onnx", next_model_version()),
        "card": SimpleUploadedFile("next.card.yaml", SHIPPED_CARD.read_text().replace("1.0.0", "1.0.1").encode())},
    ("ai-model-precompute", "post"): lambda world, study: {"device": "cpu"},
    ("reader-list", "post"): lambda world, study: {"username": "outsider_reader"},
    ("schedule", "post"): lambda world, study: {"seed": 1},
    ("population", "put"): lambda world, study: {"population": POPULATION},
    ("truthing-rule", "put"): lambda world, study: {"rule": TRUTHING_RULE},
    ("truthing-members", "post"): lambda world, study: {"username": panel_truther("truther_new").username},
    ("truthing-finalize", "post"): lambda world, study: {},
    ("case-exclusions", "post"): lambda world, study: {"case": "C001", "reason": "wrong patient"},
    ("case-exclusion-withdraw", "post"): lambda world, study: _excluded(study, "C001"),
    ("deviation-list", "post"): lambda world, study: {"kind": "other", "description": "read at home"},
    ("deviation-review", "post"): lambda world, study: {"note": "reader retrained", "severity": "major"},
    ("monitoring-deployment-list", "post"): lambda world, study: {"name": "Detector, second region",
                                                                  "device": "Detector 1.0"},
    ("monitoring-deployment-detail", "patch"): lambda world, study: {"description": "EU sites"},
    ("monitoring-records", "post"): lambda world, study: {"records": [FIELD_RECORD]},
    ("monitoring-records-import", "post"): lambda world, study: {"file": SimpleUploadedFile(
        "records.csv", ",".join(FIELD_RECORD).encode() + b"\n" + ",".join(map(str, FIELD_RECORD.values())).encode())},
    ("monitoring-alarm-acknowledge", "post"): lambda world, study: {"note": "site C's software rolled back"},
    ("analysis-run-list", "post"): lambda world, study: {"options": {}},
    ("study-evaluations", "post"): lambda world, study: {"name": "plan", "criteria": EVALUATION_CRITERIA},
    ("evaluation-looks", "post"): lambda world, study: {
        "model_name": "next", "model_version": "2", "operating_point": 0.5,
        "scores": {case["case"]: 0.5 for case in study.locked_evaluations.latest("pk").cases}},  # url_for's
    ("power-simulation", "post"): lambda world, study: {
        "plan": {"design": "fully_crossed", "effect": 0.05, "readers": [4], "cases": [40]}, "studies": 100},
    ("read-list", "post"): lambda world, study: {"assignment": world.assignment.pk,
                                                 "idempotency_key": str(uuid.uuid4()), "rating": 50},
    ("read-detail", "patch"): lambda world, study: {"idempotency_key": str(uuid.uuid4()), "rating": 55},
    ("training-read-list", "post"): lambda world, study: {"case": world.training_case.pk, "arm": "unaided",
                                                          "idempotency_key": str(uuid.uuid4()), "rating": 50},
}
MULTIPART = {("case-import", "post"), ("ai-output-import", "post"), ("dicom-upload", "post"), ("ai-model-list", "post"),
             ("monitoring-records-import", "post")}
FIELD_RECORD = {"case_key": "K1", "site": "site-A", "model_version": "1.0.0", "score": 0.8,
                "acquired_at": "2026-01-05T10:00:00+00:00"}
# Requests whose body is bytes, not keys: (body, content type, headers) of one that succeeds.
RAW = {("upload-detail", "patch"): lambda: (dicom_file(), "application/offset+octet-stream", {"HTTP_UPLOAD_OFFSET": "0"})}


def next_model_version() -> bytes:
    """The demo detector as another file (a model the draft study has not registered)."""
    model = onnx.load_from_string(SHIPPED_MODEL.read_bytes())
    model.producer_version = "1.0.1"
    return model.SerializeToString()


def url_for(world, name: str, method: str) -> str:
    """The route's URL on the study in the status its rule needs (built here, before the request)."""
    study = world.study_in(MATRIX[name][method].state)
    values = {
        "study_id": lambda: study.pk,
        "session_id": lambda: world.session.pk,
        "assignment_id": lambda: world.assignment.pk,
        "read_id": lambda: world.read.pk,
        "job_id": lambda: world.job.pk,
        "run_id": lambda: world.finished_run.pk,
        "set_id": lambda: study.ai_output_sets.order_by("-pk").first().pk,  # the draft's is not the one shown
        "model_id": lambda: study.ai_models.order_by("pk").first().pk,
        "upload_id": lambda: upload_of_dicom_file(world, study, received=name == "upload-complete").pk,
        "case_id": lambda: world.training_case.pk,
        "member_id": lambda: TruthingMember.objects.create(study=study, user=panel_truther("truther_on_panel"),
                                                           code="E1").pk,
        "arm": lambda: "unaided",
        "deviation_id": lambda: recorded_deviation(study).pk,
        "deployment_id": lambda: monitored_deployment().pk,
        "alarm_id": lambda: monitoring_alarm().pk,
        "evaluation_id": lambda: locked_evaluation(world, study).pk,
        "look": lambda: 1,
    }
    return reverse(name, kwargs={param: values[param]() for param in route_params(name)})


def locked_evaluation(world, study: Study):
    """An evaluation of the analysed study with one look (the report's), locked by its statistician."""
    from studies.services import model_updates

    actor = world.users["statistician"]
    evaluation = model_updates.lock_evaluation(actor=actor, study=study, name="plan", criteria=EVALUATION_CRITERIA)
    model_updates.evaluate_update(actor=actor, evaluation=evaluation, model_name="next", model_version="1",
                                  scores=evaluation.reference["scores"], operating_point=0.5, source="imported")
    return evaluation


def panel_truther(username: str) -> User:
    """A user with the truther role, created without an audit event (it is the request's premise, not its effect)."""
    user = User.objects.filter(username=username).first()
    return user or User.objects.bulk_create([User(username=username, role=Role.TRUTHER)])[0]


def _excluded(study: Study, label: str) -> dict:
    """The body that takes case ``label`` back into the analysis, excluded here (unaudited: the request's event
    is the one looked for)."""
    study.cases.filter(label=label).update(excluded_reason="wrong patient", excluded_at=study.created_at)
    return {"case": label, "reason": "the right patient after all"}


def recorded_deviation(study: Study):
    from studies.models import ProtocolDeviation

    return ProtocolDeviation.objects.create(study=study, kind="other", severity="minor", source="recorded",
                                            description="read at home", occurred_at=study.created_at)


def monitored_deployment():
    """A deployment without members (an admin's)."""
    from studies.models import MonitoredDeployment

    return MonitoredDeployment.objects.get_or_create(name="Detector in the field", defaults={"device": "Detector 1.0"})[0]


def monitoring_alarm():
    from studies.models import MonitoringAlarm

    return MonitoringAlarm.objects.create(deployment=monitored_deployment(), rule="cusum", kind="cusum",
                                          raised_at="2026-07-20T00:00:00Z",
                                          details={"group": "site=site-C", "case_key": "K1", "statistic": 210,
                                                   "threshold": 209})


def upload_of_dicom_file(world, study: Study, *, received: bool):
    """An upload of :func:`dicom_file` to ``study`` by its coordinator, with every byte received or none."""
    from studies.services import uploads

    data = dicom_file()
    coordinator = world.users["coordinator"]
    upload, _ = uploads.create_upload(actor=coordinator, study=study, file_name="image.dcm", size=len(data))
    if received:
        uploads.receive_chunk(actor=coordinator, study=study, upload_id=upload.pk, offset=0, length=len(data),
                              stream=io.BytesIO(data))
    return upload


def call(api, world, role: str, name: str, method: str, url: str):
    """``role`` calls ``url`` (of route ``name``) with ``method`` and a body that succeeds for the allowed."""
    if (name, method) in RAW:
        body, content_type, headers = RAW[(name, method)]()
        return getattr(api(world.users[role]), method)(url, body, content_type=content_type, **headers)
    body = BODIES.get((name, method), lambda world, study: {})(world, world.study_in(MATRIX[name][method].state))
    data_format = "multipart" if (name, method) in MULTIPART else "json"
    return getattr(api(world.users[role]), method)(url, body, format=data_format)
