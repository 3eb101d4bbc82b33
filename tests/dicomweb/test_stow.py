"""STOW-RS into a reader study (studies/dicomweb/stow.py): the ingest of import_dicom, an answer per
instance, who may store, and the requests refused as a whole.

Failure and warning codes are PS3.18's (Tables I.2-1, I.2-2) and the service's own as its
docstring declares them, written out here rather than taken from the module under test.
"""

import importlib
import io
import shutil
from pathlib import Path

import pydicom
import pytest
import requests
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken
from pydicom.data import get_testdata_file

from mrmc.dicom.deid import check_identified
from studies.models import AuditEvent, DicomInstance, DicomSeries, DicomStudy, Role, Study
from studies.services import studies as study_services
from tests.conftest import create_user
from tests.dicomweb.images import case_datasets

STOW_ROUTES = {"dicomweb-stow", "dicomweb-stow-study"}  # every role of them is tried here
BOUNDARY = "stow-test-boundary"
DICOM_PARTS = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
STORED, FAILED, RETRIEVE_URL = "00081199", "00081198", "00081190"
SOP_CLASS, SOP_INSTANCE, FAILURE_REASON, WARNING_REASON = "00081150", "00081155", "00081197", "00081196"
COERCION = 0xB000
OUT_OF_RESOURCES, CANNOT_UNDERSTAND, DUPLICATE_SOP_INSTANCE, OTHER_STUDY = 0xA700, 0xC000, 0x0111, 0xC409
PHI = ("Doe^Jane", "MRN-4711", "19600102", "Hospital of Jane", "OTHER-ID-9", "SECRET-PRIVATE")
# What tests/dicom/test_dicom_deid.py plants in CT_small (its PLANTED_BY_VR and planted_item), as text.
PLANTED_TEXT = ("Doe^Jane", "Nested^Name", "PHI long", "PHI text", "private PHI", "overlay comment PHI",
                "http://phi.example", "PHI-SH", "PHIAE", "private bytes", "1.2.826.0.1.9999.")


# ------------------------------------------------------------------ helpers


def part10(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def body(*parts: bytes, part_type: str = "application/dicom") -> bytes:
    """A multipart/related body as RFC 2046 5.1.1 writes it."""
    return b"".join(f"--{BOUNDARY}\r\nContent-Type: {part_type}\r\n\r\n".encode() + part + b"\r\n"
                    for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def token_client(user) -> Client:
    """A client that authenticates like a DICOMweb client: ``Authorization: Token``, no session."""
    return Client(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}") if user else Client()


def stow(client: Client, study: Study, data: bytes, *, target: str | None = None,
         content_type: str = DICOM_PARTS, **headers):
    url = f"/dicomweb/studies-of/{study.pk}/studies" + (f"/{target}" if target else "")
    return client.post(url, data=data, content_type=content_type, **headers)


def sequence(answer: dict, tag: str) -> list[dict]:
    return (answer.get(tag) or {}).get("Value", [])


def value(item: dict, tag: str):
    return ((item.get(tag) or {}).get("Value") or [None])[0]


def images_of(study: Study, seed: int = 1) -> list[pydicom.Dataset]:
    """One DX image per case of ``study``, carrying the case's StudyInstanceUID as sent by a modality."""
    return [case_datasets(study_instance_uid=case.study_instance_uid, seed=seed + index)[0]
            for index, case in enumerate(study.cases.order_by("label"))]


def phi_image(seed: int) -> pydicom.Dataset:
    ds = case_datasets(seed=seed)[0]
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PHI[0], PHI[1], PHI[2]
    ds.InstitutionName, ds.OtherPatientIDs = PHI[3], PHI[4]
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", PHI[5])
    return ds


def stored_state(study: Study, store: Path) -> dict:
    """What an ingest left for ``study``: index rows (less ids and times), the cases' UIDs, the stored files."""

    def rows(queryset, key: str, *relations: str) -> dict:
        fields = [field.name for field in queryset.model._meta.concrete_fields
                  if not field.is_relation and field.name not in ("id", "created_at")]
        return {row[key]: row for row in queryset.values(*fields, *relations)}

    return {
        "studies": rows(DicomStudy.objects.filter(study=study), "study_instance_uid", "case__label"),
        "series": rows(DicomSeries.objects.filter(dicom_study__study=study), "series_instance_uid",
                       "dicom_study__study_instance_uid"),
        "instances": rows(DicomInstance.objects.filter(series__dicom_study__study=study), "sop_instance_uid",
                          "series__series_instance_uid"),
        "cases": dict(study.cases.values_list("label", "study_instance_uid")),
        "files": {path.name: path.read_bytes() for path in store.rglob("*.dcm")},
    }


def stored_datasets(store: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path) for path in sorted(store.rglob("*.dcm"))]


@pytest.fixture
def study(make_study, coordinator, statistician) -> Study:
    """A draft study of 3 cases whose StudyInstanceUIDs no image has yet; its statistician a member."""
    study = make_study(n_readers=1, n_cases=3, status="draft")
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    return study


@pytest.fixture
def planted_ct(monkeypatch) -> pydicom.Dataset:
    """CT_small with PHI planted in every attribute of PS3.15 Table E.1-1, planted by the de-identification
    tests themselves (tests/dicom is no package: its folder is where they import from)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "dicom"))
    return importlib.import_module("test_dicom_deid").plant(pydicom.dcmread(get_testdata_file("CT_small.dcm")))


# ------------------------------------------------------ the ingest of import_dicom


def test_dicomweb_client_stores_as_import_dicom_does(transactional_db, live_server, study, coordinator, planted_ct,
                                                     dicom_storage, tmp_path):
    """The same files, imported then stored over STOW-RS into the same study emptied in between (so the
    per-study de-identification key is the same): identical index rows, links and stored bytes."""
    from dicomweb_client.api import DICOMwebClient

    folder = tmp_path / "incoming"
    folder.mkdir()
    datasets = [*images_of(study), planted_ct, phi_image(seed=31)]
    for number, ds in enumerate(datasets):
        ds.save_as(folder / f"{number:02d}.dcm", enforce_file_format=True)
    sent_case_uids = dict(study.cases.values_list("label", "study_instance_uid"))
    call_command("import_dicom", "--study", str(study.pk), "--user", coordinator.username, str(folder),
                 stdout=io.StringIO(), stderr=io.StringIO())
    imported = stored_state(study, dicom_storage)
    assert len(imported["files"]) == len(datasets) and set(imported["studies"]) != set()
    assert {row["case__label"] for row in imported["studies"].values()} == {"C000", "C001", "C002", None}

    DicomStudy.objects.filter(study=study).delete()  # series and instances go with them
    for label, uid in sent_case_uids.items():
        study.cases.filter(label=label).update(study_instance_uid=uid)
    shutil.rmtree(dicom_storage)

    session = requests.Session()
    session.headers["Authorization"] = f"Token {AuthToken.objects.create(user=coordinator)[1]}"
    client = DICOMwebClient(f"{live_server.url}/dicomweb/studies-of/{study.pk}", session=session)
    answer = client.store_instances([pydicom.dcmread(path) for path in sorted(folder.iterdir())])

    assert stored_state(study, dicom_storage) == imported
    assert "FailedSOPSequence" not in answer
    rows = DicomInstance.objects.select_related("series__dicom_study")
    expected = {(row.sop_class_uid, row.sop_instance_uid,
                 f"/dicomweb/studies/{row.series.dicom_study.study_instance_uid}/series/"
                 f"{row.series.series_instance_uid}/instances/{row.sop_instance_uid}") for row in rows}
    answered = {(item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID, "/dicomweb/" + item.RetrieveURL.split(
        "/dicomweb/", 1)[1]) for item in answer.ReferencedSOPSequence}
    assert answered == expected
    assert {item.WarningReason for item in answer.ReferencedSOPSequence} == {COERCION}
    assert not {ds.SOPInstanceUID for ds in datasets} & {item.ReferencedSOPInstanceUID
                                                         for item in answer.ReferencedSOPSequence}


def test_phi_planted_files_come_out_deidentified(study, coordinator, planted_ct, dicom_storage):
    response = stow(token_client(coordinator), study, body(part10(planted_ct), part10(phi_image(seed=31))))

    assert response.status_code == 200, response.content
    assert len(sequence(response.json(), STORED)) == 2
    for ds in stored_datasets(dicom_storage):
        assert check_identified(ds) == [] and ds.PatientIdentityRemoved == "YES"
        assert not any(element.tag.is_private for element in ds.iterall())
        assert not any(0x5000 <= element.tag.group <= 0x60FF for element in ds)  # curves and overlays
    stored_bytes = b"".join(path.read_bytes() for path in dicom_storage.rglob("*.dcm"))
    for secret in (*PHI, *PLANTED_TEXT):
        assert secret.encode() not in stored_bytes, secret


def test_a_case_is_linked_by_its_study_instance_uid_and_the_target_study_is_enforced(study, coordinator,
                                                                                       dicom_storage):
    """/studies/{uid} takes only that DICOM study (PS3.18 10.5.1), named as sent or as stored."""
    first, second, _ = images_of(study)
    case = study.cases.get(label="C000")
    client = token_client(coordinator)

    response = stow(client, study, body(part10(first), part10(second)), target=first.StudyInstanceUID)

    assert response.status_code == 202, response.content
    answer = response.json()
    [stored], [failed] = sequence(answer, STORED), sequence(answer, FAILED)
    assert (value(failed, SOP_CLASS), value(failed, SOP_INSTANCE)) == (second.SOPClassUID, second.SOPInstanceUID)
    assert value(failed, FAILURE_REASON) == OTHER_STUDY
    assert "part 2" in response["Warning"] and response["Warning"].startswith("C409 ")
    dicom_study = DicomStudy.objects.get()
    case.refresh_from_db()
    assert dicom_study.case == case and case.study_instance_uid == dicom_study.study_instance_uid
    assert dicom_study.study_instance_uid != first.StudyInstanceUID  # de-identified, and the case follows
    assert value(answer, RETRIEVE_URL).endswith(f"/dicomweb/studies/{dicom_study.study_instance_uid}")
    assert value(stored, SOP_INSTANCE) == DicomInstance.objects.get().sop_instance_uid

    another = case_datasets(study_instance_uid=first.StudyInstanceUID, seed=40)[0]
    again = stow(client, study, body(part10(another)), target=dicom_study.study_instance_uid)
    assert again.status_code == 200, again.content
    assert DicomInstance.objects.filter(series__dicom_study=dicom_study).count() == 2


def test_the_same_instance_again_is_stored_already_and_other_content_is_a_conflict(study, coordinator,
                                                                                    dicom_storage):
    image = images_of(study)[0]
    client = token_client(coordinator)
    first = stow(client, study, body(part10(image)))
    again = stow(client, study, body(part10(image)))
    image.PixelData = bytes(len(image.PixelData))
    changed = stow(client, study, body(part10(image)))

    assert (first.status_code, again.status_code) == (200, 200)
    assert sequence(first.json(), STORED) == sequence(again.json(), STORED)
    assert changed.status_code == 409, changed.content
    [failed] = sequence(changed.json(), FAILED)
    assert value(failed, FAILURE_REASON) == DUPLICATE_SOP_INSTANCE and value(failed, SOP_INSTANCE) == image.SOPInstanceUID
    assert DicomInstance.objects.count() == 1 and len(list(dicom_storage.rglob("*.dcm"))) == 1


def test_good_parts_are_stored_around_failed_ones(study, coordinator, dicom_storage, settings):
    settings.INGEST_MAX_FILE_BYTES = 1 << 20
    good = images_of(study)
    huge = part10(good[2])[:132] + bytes(3 << 20)  # a DICM prefix, then more than the limit
    parts = [part10(good[0]), part10(good[1])[:2000], huge, b"%PDF-1.4 not an instance", part10(good[1])]

    response = stow(token_client(coordinator), study, body(*parts))

    assert response.status_code == 202, response.content
    answer = response.json()
    assert [value(item, FAILURE_REASON) for item in sequence(answer, FAILED)] == [
        CANNOT_UNDERSTAND, OUT_OF_RESOURCES, CANNOT_UNDERSTAND]
    assert [value(item, SOP_INSTANCE) for item in sequence(answer, FAILED)] == [None, None, None]  # never parsed
    assert len(sequence(answer, STORED)) == 2
    assert DicomInstance.objects.count() == 2 and len(list(dicom_storage.rglob("*.dcm"))) == 2
    assert {ds.InstanceNumber for ds in stored_datasets(dicom_storage)} == {good[0].InstanceNumber}
    warning = response["Warning"]
    assert "part 2 [truncated]" in warning and "part 3 [too-large]" in warning and "part 4 [not-dicom]" in warning


def test_a_part_of_another_media_type_fails_alone(study, coordinator):
    image = part10(images_of(study)[0])
    mixed = body(image).replace(b"--\r\n", b"\r\nContent-Type: application/dicom+json\r\n\r\n{}\r\n--" +
                                BOUNDARY.encode() + b"--\r\n", 1)

    response = stow(token_client(coordinator), study, mixed)

    assert response.status_code == 202, response.content
    assert [value(item, FAILURE_REASON) for item in sequence(response.json(), FAILED)] == [CANNOT_UNDERSTAND]
    assert DicomInstance.objects.count() == 1


def test_the_request_is_audited_as_the_token_s_user(study, coordinator):
    response = stow(token_client(coordinator), study, body(part10(images_of(study)[0]), b"junk"))

    assert response.status_code == 202
    event = AuditEvent.objects.get(action="dicomweb_store")
    assert (event.actor_username, event.study_id) == ("coord", study.pk)
    assert (event.after["stored"], event.after["rejected_count"]) == (1, 1)
    created = AuditEvent.objects.get(entity="studies.DicomStudy", action="create")
    assert created.actor_username == "coord"


# ------------------------------------------------------------ who may store


ROLES = {"anonymous": 401, "reader": 403, "statistician": 403, "other_coordinator": 404, "other_reader": 404,
         "coordinator": 200, "admin": 200}


@pytest.mark.parametrize("role,expected", ROLES.items(), ids=ROLES)
def test_who_may_store(study, coordinator, statistician, role, expected, dicom_storage):
    users = {"anonymous": None, "reader": study.readers.get().user, "statistician": statistician,
             "other_coordinator": create_user("other_coord", Role.COORDINATOR),
             "other_reader": create_user("outsider", Role.READER), "coordinator": coordinator,
             "admin": create_user("boss", Role.ADMIN)}
    image = images_of(study)[0]

    for target in (None, image.StudyInstanceUID):
        response = stow(token_client(users[role]), study, body(part10(image)), target=target)
        assert response.status_code == expected, response.content
    if expected != 200:
        assert not DicomInstance.objects.exists() and not dicom_storage.exists()
    if role == "anonymous":
        assert response["WWW-Authenticate"].startswith("Token")
        forged = Client(HTTP_AUTHORIZATION="Token not-a-token")
        assert stow(forged, study, body(part10(image))).status_code == 401


def test_a_session_needs_the_csrf_token(study, coordinator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    data = body(part10(images_of(study)[0]))

    assert stow(client, study, data).status_code == 403
    assert not DicomInstance.objects.exists()
    client.get("/accounts/login/")  # a page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    assert stow(client, study, data, HTTP_X_CSRFTOKEN=csrf).status_code == 200


# ------------------------------------------------------- refused as a whole


@pytest.mark.parametrize("content_type,status", [
    ('multipart/related; type="application/dicom+json"; boundary=b', 415),
    ('multipart/related; type="application/dicom+xml"; boundary=b', 415),
    ("application/dicom", 415),
    ('multipart/related; type="application/dicom"', 400),  # no boundary
    ('multipart/related; type="application/dicom"; boundary=other', 400),  # not in the body
])
def test_bodies_that_are_not_dicom_parts_are_refused(study, coordinator, content_type, status):
    response = stow(token_client(coordinator), study, body(part10(images_of(study)[0])), content_type=content_type)
    assert response.status_code == status, response.content
    assert not DicomInstance.objects.exists()


def test_requests_refused_before_their_body_is_read(study, coordinator, settings):
    client = token_client(coordinator)
    data = body(part10(images_of(study)[0]))
    settings.INGEST_MAX_UPLOAD_BYTES = len(data) - 1

    assert stow(client, study, data).status_code == 413
    assert stow(client, study, data, CONTENT_LENGTH="").status_code == 411
    assert stow(client, study, data, HTTP_ACCEPT="application/dicom+xml").status_code == 406
    assert stow(client, study, data, target="1.2.x").status_code == 400
    assert client.get(f"/dicomweb/studies-of/{study.pk}/studies").status_code == 405
    assert not DicomInstance.objects.exists()


def test_a_body_without_instances_is_a_bad_request(study, coordinator):
    assert stow(token_client(coordinator), study, body()).status_code == 400


def test_a_study_that_takes_no_more_images_refuses(study, coordinator):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    response = stow(token_client(coordinator), study, body(part10(images_of(study)[0])))
    assert response.status_code == 409 and "locked" in response.json()["detail"]
    assert not DicomInstance.objects.exists()


def test_a_chunked_request_without_length_is_refused(transactional_db, live_server, study, coordinator):
    """Django reads a body by its Content-Length: without one (chunked, no proxy buffering it) nothing is read."""
    token = AuthToken.objects.create(user=coordinator)[1]
    response = requests.post(f"{live_server.url}/dicomweb/studies-of/{study.pk}/studies",
                             data=iter([body(part10(images_of(study)[0]))]),
                             headers={"Authorization": f"Token {token}", "Content-Type": DICOM_PARTS}, timeout=30)
    assert response.status_code == 411, response.text
    assert not DicomInstance.objects.exists()
