"""Staff endpoints: each rule answered by its service, the same through the API and the pages;
the composed payloads (schedule, progress, imports, jobs, results) keep their keys and types."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from studies.api.analysis import ResultsDocumentSerializer
from studies.errors import NotAllowed
from studies.models import AIOutputSet, AnalysisRun, AuditEvent, Job, Role, Study
from studies.services import analysis, analysis_exports
from studies.services import studies as study_services
from studies.services.demo_analysis import simulate_reads


@pytest.fixture
def admin_client(coordinator):
    """The coordinator, signed in to the admin (their own study's pages)."""
    coordinator.is_staff = True
    coordinator.save()
    client = Client()
    client.force_login(coordinator)
    return client


# ------------------------------------------------------------------------ deleting a study


def test_a_draft_study_is_deleted_with_what_belongs_to_it(make_study, coordinator, api):
    study = make_study(status="draft")
    assert study.cases.exists() and study.readers.exists()
    assert api(coordinator).delete(f"/api/v1/studies/{study.pk}/").status_code == 204
    assert not Study.objects.filter(pk=study.pk).exists()
    removed = set(AuditEvent.objects.filter(study_id=study.pk, action="delete").values_list("entity", flat=True))
    assert {"studies.Study", "studies.Arm", "studies.Case", "studies.Reader"} <= removed


@pytest.mark.parametrize("status", ["enrolling", "reading"])
def test_only_a_draft_can_be_deleted_through_the_api_and_the_admin(make_study, coordinator, api, admin_client,
                                                                    status):
    study = make_study(status=status, arms=(("first", False), ("second", False)))  # no AI outputs to protect
    response = api(coordinator).delete(f"/api/v1/studies/{study.pk}/")
    assert response.status_code == 409 and response.json()["detail"] == "only a draft study can be deleted"
    assert admin_client.post(f"/admin/studies/study/{study.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Study.objects.filter(pk=study.pk).exists()


def test_the_admin_deletes_a_draft_through_the_service(make_study, admin_client):
    study = make_study(status="draft")
    assert admin_client.post(f"/admin/studies/study/{study.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Study.objects.filter(pk=study.pk).exists()
    assert AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action="delete",
                                     actor_username="coord").exists()


def test_the_admins_bulk_delete_refuses_a_study_past_draft(make_study, admin_client):
    draft, enrolling = make_study(status="draft"), make_study(status="enrolling", reader_prefix="r")
    response = admin_client.post("/admin/studies/study/", {"action": "delete_selected", "post": "yes",
                                                           "_selected_action": [draft.pk, enrolling.pk]})
    assert response.status_code == 403
    assert Study.objects.filter(pk__in=[draft.pk, enrolling.pk]).count() == 2


def test_a_member_who_may_not_change_the_study_cannot_delete_it(make_study, coordinator, make_user):
    study = make_study(status="draft")
    statistician = make_user("stat9", Role.STATISTICIAN)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    with pytest.raises(NotAllowed):
        study_services.delete_study(actor=statistician, study=study)
    assert Study.objects.filter(pk=study.pk).exists()


# ------------------------------------------------------------------------ schedule and progress


def test_the_schedule_is_refused_at_once_after_reading_started(make_study, coordinator, api):
    study = make_study(status="reading")
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/schedule/", {"seed": 5}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "the schedule can only be generated before reading starts"
    assert not Job.objects.filter(kind="generate_schedule").exists()


def test_schedule_payload(make_study, coordinator, api):
    study = make_study(status="reading", seed=7)  # 3 readers x 2 arms x 8 cases, one arm per session
    body = api(coordinator).get(f"/api/v1/studies/{study.pk}/schedule/").json()
    assert set(body) == {"seed", "generated_at", "sessions"} and body["seed"] == 7
    assert isinstance(body["generated_at"], str)
    assert len(body["sessions"]) == 6
    for session in body["sessions"]:
        assert set(session) == {"reader", "number", "arm", "opens_at", "completed_at", "assignments"}
        assert session["arm"] in {"unaided", "aided"} and session["assignments"] == 8
        assert session["completed_at"] is None and isinstance(session["opens_at"], str)
    assert [(s["reader"], s["number"]) for s in body["sessions"]] == [
        (f"R0{reader}", number) for reader in (1, 2, 3) for number in (1, 2)
    ]


def test_schedule_of_a_study_without_one(make_study, coordinator, api):
    study = make_study(status="draft")
    body = api(coordinator).get(f"/api/v1/studies/{study.pk}/schedule/").json()
    assert body == {"seed": None, "generated_at": None, "sessions": []}


def test_progress_payload(make_study, coordinator, api):
    study = make_study(status="reading")
    body = api(coordinator).get(f"/api/v1/studies/{study.pk}/progress/").json()
    assert {key: body[key] for key in ("status", "read", "assigned")} == {"status": "reading", "read": 0,
                                                                          "assigned": 48}
    assert len(body["by_reader_arm"]) == 6
    assert body["by_reader_arm"][0] == {"reader": "R01", "arm": "aided", "assigned": 8, "read": 0}


def test_import_results_keep_their_keys(make_study, coordinator, api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    study = make_study(status="draft", n_cases=0)
    truth = SimpleUploadedFile("t.csv", b"case,truth\nK1,1\nK2,0\n", content_type="text/csv")
    body = api(coordinator).post(f"/api/v1/studies/{study.pk}/cases/import/", {"file": truth}).json()
    assert body == {"created": 2, "updated": 0, "linked_to_images": 0}
    ai = SimpleUploadedFile("a.csv", b"case,model_name,model_version,score\nK1,m,1,0.5\n", content_type="text/csv")
    body = api(coordinator).post(f"/api/v1/studies/{study.pk}/ai-outputs/import/", {"file": ai}).json()
    assert set(body) == {"stored", "checksum", "sets"} and body["stored"] == 1 and len(body["checksum"]) == 64
    assert body["sets"] == list(AIOutputSet.objects.filter(study_id=study.pk).values_list("pk", flat=True))


def test_enrolling_an_unknown_user_names_the_field(make_study, coordinator, api):
    study = make_study(status="draft")
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/readers/", {"username": "nobody"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "username"


# ------------------------------------------------------------------------ jobs


def test_a_job_is_seen_by_its_author_and_the_studys_members_only(make_study, coordinator, api, make_user):
    study = make_study(status="enrolling")
    job = Job.objects.create(kind="generate_schedule", study=study, created_by=coordinator)
    member, outsider = make_user("coord2", Role.COORDINATOR), make_user("coord3", Role.COORDINATOR)
    study_services.add_member(actor=coordinator, study=study, user=member)
    assert api(coordinator).get(f"/api/v1/jobs/{job.pk}/").json()["kind"] == "generate_schedule"
    assert api(member).get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    assert api(outsider).get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    own = Job.objects.create(kind="generate_schedule", study=None, created_by=outsider)
    assert api(outsider).get(f"/api/v1/jobs/{own.pk}/").status_code == 200
    assert api(coordinator).get(f"/api/v1/jobs/{own.pk}/").status_code == 404


# ------------------------------------------------------------------------ analysis downloads


@pytest.fixture
def pending_run(make_study, coordinator, statistician):
    """A run whose job has not run (its task is queued when the test's transaction would commit)."""
    study = make_study(status="reading")
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    simulate_reads(study=study, seed=1)
    return analysis.start_run(actor=statistician, study=study, options={})


@pytest.mark.parametrize("name", ["report.html", "report.pdf", "results.json", "mrmcaov.csv"])
def test_a_run_without_results_offers_only_its_frozen_reads(pending_run, statistician, api, name):
    client = api(statistician)
    detail = client.get(f"/api/v1/analysis-runs/{pending_run.pk}/").json()
    assert list(detail["downloads"]) == ["reads.csv"]
    response = client.get(f"/api/v1/analysis-runs/{pending_run.pk}/{name}")
    assert response.status_code == 409
    assert response.json()["detail"] == f"analysis run {pending_run.pk} has no results (pending)"
    assert client.get(f"/api/v1/analysis-runs/{pending_run.pk}/reads.csv").status_code == 200
    assert not AuditEvent.objects.filter(action="download", after__file=name).exists()


def test_the_run_page_lists_the_downloads_the_api_offers(pending_run, statistician):
    pending_run.status = AnalysisRun.Status.SUCCEEDED  # in memory only: what the page would list
    assert analysis_exports.downloads(pending_run) == [  # no FROC analysis: no FROC workbook
        "report.html", "report.pdf", *(name for name in analysis_exports.EXPORTS
                                       if name not in analysis_exports.FROC_EXPORTS)]
    pending_run.status = AnalysisRun.Status.FAILED
    assert analysis_exports.downloads(pending_run) == ["reads.csv"]
    client = Client()
    client.force_login(statistician)
    AnalysisRun.objects.filter(pk=pending_run.pk).update(status=AnalysisRun.Status.FAILED, error="boom",
                                                          finished_at=timezone.now())
    page = client.get(f"/analysis/runs/{pending_run.pk}/").content.decode()
    assert "reads.csv" in page and "mrmcaov.csv" not in page and "report.pdf" not in page


def test_results_json_has_the_declared_shape(pending_run):
    document = json.loads(analysis_exports.results_document(pending_run))
    checked = ResultsDocumentSerializer(data=document)
    assert checked.is_valid(), checked.errors
    assert set(document) == set(ResultsDocumentSerializer().fields)
    assert set(document["run"]) == set(ResultsDocumentSerializer().fields["run"].fields)
