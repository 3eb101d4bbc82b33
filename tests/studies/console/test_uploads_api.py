"""The resumable upload API as a browser uses it (session, CSRF token, raw chunks), and the console's Images page."""

import io
import json
import zipfile

import pytest
from django.test import Client
from rest_framework.test import APIClient

from studies.models import AuditEvent, DicomInstance, Role, Upload
from studies.services import uploads
from tests.dicomweb.images import case_datasets

pytestmark = pytest.mark.django_db
CHUNK = "application/offset+octet-stream"


@pytest.fixture(autouse=True)
def store(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    settings.UPLOAD_MIN_FREE_BYTES = 0


@pytest.fixture
def study(make_study):
    return make_study(n_readers=1, n_cases=2)


@pytest.fixture
def browser(coordinator, study):
    """The coordinator's browser: logged in, with the CSRF token the Images page hands out."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(coordinator)
    page = client.get(f"/console/studies/{study.pk}/images/")
    assert page.status_code == 200
    client.credentials(HTTP_X_CSRFTOKEN=page.cookies["csrftoken"].value)
    return client


def batch() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for seed in (1, 2):
            image = io.BytesIO()
            case_datasets(seed=seed)[0].save_as(image, enforce_file_format=True)
            archive.writestr(f"case/{seed}.dcm", image.getvalue())
        archive.writestr("case/notes.txt", b"not an image")
    return buffer.getvalue()


def chunk(client, url: str, data: bytes, offset: int):
    return client.patch(url, data=data, content_type=CHUNK, HTTP_UPLOAD_OFFSET=str(offset))


def test_a_browser_sends_a_zip_in_chunks_and_gets_each_files_outcome(browser, study,
                                                                     django_capture_on_commit_callbacks):
    data = batch()
    base = f"/api/v1/studies/{study.pk}/uploads/"
    created = browser.post(base, {"file_name": "batch.zip", "size": len(data), "fingerprint": "batch.zip:1"},
                           format="json")
    assert created.status_code == 201 and created["Upload-Offset"] == "0"
    url = f"{base}{created.json()['id']}/"
    first = chunk(browser, url, data[:1000], 0)
    assert first.status_code == 200 and first.json()["offset"] == 1000 and first["Upload-Offset"] == "1000"
    wrong = chunk(browser, url, data[2000:3000], 2000)
    assert wrong.status_code == 409 and wrong.json()["offset"] == 1000 and wrong["Upload-Offset"] == "1000"
    assert browser.get(url).json()["offset"] == 1000
    resent = chunk(browser, url, data[:1000], 0)  # its answer was lost
    assert resent.status_code == 200 and resent.json()["offset"] == 1000
    last = chunk(browser, url, data[1000:], 1000)
    assert last.json()["status"] == "complete"
    with django_capture_on_commit_callbacks(execute=True):
        completed = browser.post(f"{url}complete/")
    assert completed.status_code == 202
    upload = browser.get(url).json()
    assert upload["status"] == "imported"
    report = upload["job"]["result"]
    assert (report["stored"], report["duplicates"]) == (2, 0)
    assert [(p["file"], p["kind"]) for p in report["rejected"]] == [("batch.zip:case/notes.txt", "not-dicom")]
    assert DicomInstance.objects.filter(series__dicom_study__study=study).count() == 2


def test_the_same_file_again_finds_its_unfinished_upload(browser, study):
    base = f"/api/v1/studies/{study.pk}/uploads/"
    body = {"file_name": "batch.zip", "size": 5000, "fingerprint": "batch.zip:5000:1"}
    first = browser.post(base, body, format="json").json()
    chunk(browser, f"{base}{first['id']}/", b"x" * 1200, 0)
    again = browser.post(base, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"] and again.json()["offset"] == 1200


def test_writes_without_the_csrf_token_are_refused(coordinator, study):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(coordinator)
    upload, _ = uploads.create_upload(actor=coordinator, study=study, file_name="a.dcm", size=10)
    response = chunk(client, f"/api/v1/studies/{study.pk}/uploads/{upload.pk}/", b"x" * 10, 0)
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert client.post(f"/api/v1/studies/{study.pk}/uploads/", {"file_name": "b.dcm", "size": 1},
                       format="json").status_code == 403
    upload.refresh_from_db()
    assert upload.received == 0 and Upload.objects.count() == 1


@pytest.mark.parametrize("send,status,named", [
    (lambda c, url: c.patch(url, {"offset": 0}, format="json"), 400, "offset"),  # a key, not a chunk
    (lambda c, url: c.patch(url, {}, format="json"), 415, "application/offset+octet-stream"),
    (lambda c, url: c.patch(url, data=b"x" * 10, content_type=CHUNK), 400, "Upload-Offset"),
    (lambda c, url: c.patch(url, data=b"x" * 10, content_type=CHUNK, HTTP_UPLOAD_OFFSET="-1"), 400, "Upload-Offset"),
    (lambda c, url: chunk(c, url, b"x" * 2001, 0), 413, "at most 2000 bytes"),
    (lambda c, url: chunk(c, url, b"x" * 10, 4995), 400, "outside the file"),
    (lambda c, url: c.post(f"{url}complete/"), 409, "0 of the file's 5000 bytes"),
])
def test_malformed_chunks_are_refused_naming_the_problem(browser, study, coordinator, settings, send, status, named):
    settings.UPLOAD_CHUNK_MAX_BYTES = 2000
    upload, _ = uploads.create_upload(actor=coordinator, study=study, file_name="a.zip", size=5000)
    response = send(browser, f"/api/v1/studies/{study.pk}/uploads/{upload.pk}/")
    assert response.status_code == status
    assert named in json.dumps(response.json())
    assert uploads.part_path(upload).stat().st_size == 0


def test_a_chunk_while_another_is_written_gets_423(browser, study, coordinator):
    import fcntl

    upload, _ = uploads.create_upload(actor=coordinator, study=study, file_name="a.zip", size=10)
    with uploads.part_path(upload).open("r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        response = chunk(browser, f"/api/v1/studies/{study.pk}/uploads/{upload.pk}/", b"x" * 10, 0)
    assert response.status_code == 423


def test_cancel_answers_204_and_the_upload_is_gone_for_chunks(browser, study, coordinator):
    upload, _ = uploads.create_upload(actor=coordinator, study=study, file_name="a.zip", size=10)
    url = f"/api/v1/studies/{study.pk}/uploads/{upload.pk}/"
    assert browser.delete(url).status_code == 204
    assert browser.get(url).json()["status"] == "cancelled"
    assert chunk(browser, url, b"x" * 10, 0).status_code == 409
    assert AuditEvent.objects.filter(action="upload_cancelled", entity_id=str(upload.pk)).exists()


def test_another_studys_upload_is_not_found(browser, study, coordinator, make_study):
    other = make_study(n_readers=1, n_cases=1)
    upload, _ = uploads.create_upload(actor=coordinator, study=other, file_name="a.zip", size=10)
    assert browser.get(f"/api/v1/studies/{study.pk}/uploads/{upload.pk}/").status_code == 404


# ------------------------------------------------------------------------------------------ the page


def test_the_images_page_offers_the_uploader_and_lists_uploads_with_their_outcome(coordinator, study,
                                                                                  django_capture_on_commit_callbacks):
    data = batch()
    done, _ = uploads.create_upload(actor=coordinator, study=study, file_name="batch.zip", size=len(data))
    uploads.receive_chunk(actor=coordinator, study=study, upload_id=done.pk, offset=0, length=len(data),
                          stream=io.BytesIO(data))
    with django_capture_on_commit_callbacks(execute=True):
        uploads.complete_upload(actor=coordinator, study=study, upload_id=done.pk)
    unfinished, _ = uploads.create_upload(actor=coordinator, study=study, file_name="big/scan.zip", size=10_000)
    client = Client()
    client.force_login(coordinator)
    body = client.get(f"/console/studies/{study.pk}/images/").content.decode()
    config = json.loads(body.split('id="upload-config" type="application/json">')[1].split("</script>")[0])
    assert config["uploads"] == f"/api/v1/studies/{study.pk}/uploads/" and config["chunkBytes"] == 8 << 20
    assert '<script type="module" src="/static/studies/uploader.js">' in body
    assert 'id="pick-folder" webkitdirectory' in body
    unfinished_section = body.split('id="unfinished"')[1].split("</section>")[0]
    assert "big/scan.zip" in unfinished_section and f'data-cancel-upload="{unfinished.pk}"' in unfinished_section
    earlier = body.split('id="earlier"')[1]
    assert "2 stored · 0 already stored · 1 refused" in earlier
    assert "batch.zip:case/notes.txt" in earlier and "not-dicom" in earlier


@pytest.mark.parametrize("role,status", [("statistician", 403), ("reader", 403), ("other_coordinator", 404)])
def test_only_those_who_may_change_the_study_open_the_images_page(study, make_user, role, status):
    user = {"statistician": lambda: make_user("stat", Role.STATISTICIAN),
            "reader": lambda: study.readers.first().user,
            "other_coordinator": lambda: make_user("other", Role.COORDINATOR)}[role]()
    if role == "statistician":
        study.memberships.create(user=user)
    client = Client()
    client.force_login(user)
    assert client.get(f"/console/studies/{study.pk}/images/").status_code == status
