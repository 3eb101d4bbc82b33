"""A study with a qualification rule keeps its readers' sessions closed, in the API, the pages and DICOMweb, until
they qualify; meanwhile they may open the images of its training cases, and only those."""

import uuid

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from studies import rules
from studies.models import Assignment, DicomStudy, ReadingSession, Study
from studies.pages.viewer import ViewerAssets
from studies.permissions import case_study_uids_visible_to
from studies.services import ingest, schedule
from tests.dicomweb.images import write_case_images

from .training_world import train, train_well, training_study


@pytest.fixture
def study(coordinator) -> Study:
    return training_study(coordinator, status=Study.Status.READING)


def first_assignment(study, code="R01") -> Assignment:
    return Assignment.objects.filter(session__study=study, reader__code=code, session__number=1).order_by("order")[0]


def training_uids(study) -> set[str]:
    return set(study.cases.filter(is_training=True).values_list("study_instance_uid", flat=True))


def test_the_sessions_stay_closed_with_the_reason_until_the_reader_qualifies(api, study):
    assignment = first_assignment(study)
    client = api(assignment.reader.user)
    sessions = client.get("/api/v1/worklist/").json()["sessions"]
    assert {(s["is_open"], s["reason_closed"]) for s in sessions} == {(False, rules.NOT_QUALIFIED)}
    detail = client.get(f"/api/v1/assignments/{assignment.pk}/").json()
    assert (detail["is_open"], detail["study_instance_uid"], detail["ai"]) == (False, None, None)
    body = {"assignment": assignment.pk, "idempotency_key": str(uuid.uuid4()), "rating": 50}
    refused = client.post("/api/v1/reads/", body, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == rules.NOT_QUALIFIED
    train_well(assignment.reader)
    assert client.post("/api/v1/reads/", body, format="json").status_code == 201
    assert client.get("/api/v1/worklist/").json()["sessions"][0]["is_open"] is True


def test_open_sessions_agrees_with_session_state_for_every_reader(study):
    train_well(study.readers.get(code="R02"))
    now = timezone.now()
    for session in ReadingSession.objects.filter(study=study).select_related("study", "reader"):
        assert rules.open_sessions(now).filter(pk=session.pk).exists() == rules.session_state(session, now)[0]
    assert set(rules.open_sessions(now).values_list("reader__code", flat=True)) == {"R02"}


def test_a_study_without_a_rule_asks_no_qualification(coordinator):
    study = training_study(coordinator, rule={}, status=Study.Status.READING)
    assert rules.open_sessions().filter(study=study).count() == 2  # each reader's first session


def test_a_reader_in_training_sees_the_training_images_only(study, settings):
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "upstream", "https://archive.invalid/dicomweb"  # scope: the cases
    reader = first_assignment(study).reader
    assert set(case_study_uids_visible_to(reader.user)) == training_uids(study)
    train_well(reader)
    session_cases = set(Assignment.objects.filter(session=first_assignment(study).session)
                        .values_list("case__study_instance_uid", flat=True))
    assert set(case_study_uids_visible_to(reader.user)) == training_uids(study) | session_cases


@pytest.mark.parametrize("status,visible", [(Study.Status.DRAFT, False), (Study.Status.ENROLLING, True),
                                            (Study.Status.READING, True), (Study.Status.LOCKED, False)])
def test_training_images_are_open_while_enrolling_or_reading(study, settings, status, visible):
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "upstream", "https://archive.invalid/dicomweb"
    Study.objects.filter(pk=study.pk).update(status=status)
    uids = set(case_study_uids_visible_to(study.readers.get(code="R01").user))
    assert (uids == training_uids(study)) if visible else not uids


@pytest.fixture
def imaged(coordinator, settings, tmp_path) -> Study:
    """The enrolling study with images for its training case T00 and its case C000, stored locally."""
    settings.DICOM_STORAGE, settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = tmp_path / "store", "local", ""
    cache.clear()
    study = training_study(coordinator)
    for label in ("T00", "C000"):
        case = study.cases.get(label=label)
        write_case_images(tmp_path / "incoming" / label, study_instance_uid=case.study_instance_uid, seed=case.pk)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")])
    assert report.stored == 2 and len(report.linked) == 2, report.as_dict()
    return study


def metadata_status(client, study, label) -> int:
    uid = DicomStudy.objects.get(case__study=study, case__label=label).study_instance_uid
    return client.get(reverse("dicomweb-study-metadata", kwargs={"study": uid})).status_code


def test_dicomweb_serves_a_training_case_to_the_readers_of_its_study_only(client, imaged, make_user):
    client.force_login(imaged.readers.get(code="R01").user)
    assert metadata_status(client, imaged, "T00") == 200
    assert metadata_status(client, imaged, "C000") == 404  # a case of the study: never before reading
    client.force_login(make_user("outsider", "reader"))
    assert metadata_status(client, imaged, "T00") == 404


def test_dicomweb_refuses_the_session_cases_until_the_reader_qualifies(client, imaged):
    schedule.generate_schedule(actor=imaged.created_by, study=imaged, seed=1)
    Study.objects.filter(pk=imaged.pk).update(status=Study.Status.READING)
    reader = imaged.readers.get(code="R01")
    client.force_login(reader.user)
    assert metadata_status(client, imaged, "C000") == 404
    train_well(reader)
    assert metadata_status(client, imaged, "C000") == 200
    assert metadata_status(client, imaged, "T00") == 200  # training images stay open for review


@pytest.fixture
def viewer_built(monkeypatch):
    monkeypatch.setattr("studies.pages.views.viewer_assets", lambda: ViewerAssets("/static/viewer/app.js", ()))


def test_the_worklist_shows_the_training_with_its_progress_and_link(client, study):
    reader = study.readers.get(code="R01")
    client.force_login(reader.user)
    train(reader, study.cases.get(label="T00"), "unaided", 90)
    page = client.get(reverse("reader-worklist")).content.decode()
    assert "Training required: your reading sessions open once you qualify" in page
    assert "1 of 8 training reads" in page
    assert f'href="{reverse("reader-training", kwargs={"study_id": study.pk})}"' in page
    assert "0 of 4 training cases read" in page
    assert "Qualify on the study&#x27;s training cases first" in page  # the sessions' reason
    train_well(reader)
    page = client.get(reverse("reader-worklist")).content.decode()
    assert f"Qualified on {timezone.now():%Y-%m-%d}" in page and "Start reading" in page


def test_the_training_page_hosts_the_workstation_for_enrolled_readers(client, study, make_user, viewer_built):
    url = reverse("reader-training", kwargs={"study_id": study.pk})
    client.force_login(study.readers.get(code="R01").user)
    response = client.get(url)
    assert response.status_code == 200
    assert f'"trainingStudyId": {study.pk}' in response.content.decode()
    client.force_login(make_user("outsider", "reader"))
    assert client.get(url).status_code == 404
    client.force_login(study.created_by)
    assert client.get(url).status_code == 403
