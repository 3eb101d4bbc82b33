"""Against a real Orthanc: the same answers for the same instances, upstream mode, pulling studies."""

import io
import time

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken
from pydicom.data import get_testdata_file

from mrmc.dicom.deid import deidentify
from mrmc.dicom.deid_profile import DeidOptions
from mrmc.dicom.parse import write_instance
from studies.models import Assignment, DicomInstance, DicomStudy, Job
from studies.services import ingest
from tests.dicomweb.images import case_datasets

pytestmark = pytest.mark.integration
UNCOMPRESSED = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
# Attributes that a server adds about itself rather than the instance.
SERVER_SPECIFIC = {"00081190", "00080056", "00020010"}


@pytest.fixture(autouse=True)
def dicom_storage(settings, tmp_path, monkeypatch):
    """A store of this test's own, also for a Celery worker process started after this fixture."""
    from django.core.cache import cache

    settings.DICOM_STORAGE = tmp_path / "store"
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "local", ""
    monkeypatch.setenv("DICOM_STORAGE", str(settings.DICOM_STORAGE))
    cache.clear()


def ours_client(live_server, user) -> DICOMwebClient:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {AuthToken.objects.create(user=user)[1]}"
    return DICOMwebClient(f"{live_server.url}/dicomweb", session=session)


def value(result: dict, tag: str):
    return result.get(tag, {}).get("Value")


def test_our_qido_and_wado_answers_equal_orthancs(transactional_db, orthanc, live_server, make_study, coordinator,
                                                  tmp_path):
    study = make_study(n_readers=1, n_cases=0, status="draft")
    for seed in (41, 42):
        case_datasets(seed=seed)[0].save_as(tmp_path / f"{seed}.dcm", enforce_file_format=True)
    paths = [str(tmp_path / "41.dcm"), str(tmp_path / "42.dcm"), get_testdata_file("emri_small.dcm")]
    assert ingest.ingest_paths(actor=coordinator, study=study, paths=paths).stored == 3
    for instance in DicomInstance.objects.all():  # the very files we serve, de-identified
        orthanc.upload(ingest.content_store().path_for(instance.sha256).read_bytes())
    ours, theirs = ours_client(live_server, coordinator), DICOMwebClient(orthanc.dicomweb)

    study_keys = ("0020000D", "00080061", "00201206", "00201208", "00100020", "00080020", "00080050")
    assert _by_uid(ours.search_for_studies(), "0020000D", study_keys) == _by_uid(
        theirs.search_for_studies(), "0020000D", study_keys)
    for dicom_study in DicomStudy.objects.all():
        uid = dicom_study.study_instance_uid
        series_keys = ("0020000E", "00080060", "00200011")
        assert _by_uid(ours.search_for_series(uid), "0020000E", series_keys) == _by_uid(
            theirs.search_for_series(uid), "0020000E", series_keys)
    for instance in DicomInstance.objects.select_related("series__dicom_study"):
        uids = (instance.series.dicom_study.study_instance_uid, instance.series.series_instance_uid,
                instance.sop_instance_uid)
        instance_keys = ("00080018", "00080016", "00200013", "00280010", "00280011")
        assert _by_uid(ours.search_for_instances(*uids[:2]), "00080018", instance_keys) == _by_uid(
            theirs.search_for_instances(*uids[:2]), "00080018", instance_keys)
        _assert_same_metadata(ours.retrieve_instance_metadata(*uids), theirs.retrieve_instance_metadata(*uids))
        frames = list(range(1, instance.number_of_frames + 1))
        ours_frames = ours.retrieve_instance_frames(*uids, frame_numbers=frames, media_types=UNCOMPRESSED)
        assert ours_frames == theirs.retrieve_instance_frames(*uids, frame_numbers=frames, media_types=UNCOMPRESSED)
        ours_file, theirs_file = ours.retrieve_instance(*uids), theirs.retrieve_instance(*uids)
        assert ours_file.PixelData == theirs_file.PixelData and ours_file.SOPInstanceUID == theirs_file.SOPInstanceUID


def _by_uid(results: list[dict], uid_tag: str, keys: tuple[str, ...]) -> dict:
    return {value(result, uid_tag)[0]: {key: value(result, key) for key in keys} for result in results}


def _assert_same_metadata(ours: dict, theirs: dict) -> None:
    ours_tags = {tag for tag in ours if tag not in SERVER_SPECIFIC}
    theirs_tags = {tag for tag in theirs if tag not in SERVER_SPECIFIC}
    assert ours_tags == theirs_tags
    for tag in ours_tags:
        if "BulkDataURI" in ours[tag] or "BulkDataURI" in theirs[tag]:
            assert ("BulkDataURI" in ours[tag]) == ("BulkDataURI" in theirs[tag]) or "InlineBinary" in ours[tag], tag
            continue
        ours_ds = pydicom.Dataset.from_json({tag: ours[tag]})
        theirs_ds = pydicom.Dataset.from_json({tag: theirs[tag]})
        assert ours_ds == theirs_ds, tag


# ------------------------------------------------------------------ upstream mode


def test_upstream_mode_serves_orthancs_studies_with_our_authorization(orthanc, make_study, settings):
    study = make_study(n_readers=2, n_cases=4, design="split_plot")
    for case in study.cases.all():  # images only upstream, de-identified there, under the UIDs the cases name
        for ds in case_datasets(seed=case.pk, study_instance_uid=case.study_instance_uid):
            deidentify(ds, key=b"the hospital's key", options=DeidOptions(retain_uids=True))
            orthanc.upload(write_instance(ds))
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM, settings.DICOMWEB_UPSTREAM_DEIDENTIFIED = (
        "upstream", orthanc.dicomweb, True)
    r01 = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1).first()
    own, foreign = r01.case, study.cases.exclude(assignments__reader__code="R01").first()
    reader = Client()
    reader.force_login(r01.reader.user)

    listed = reader.get("/dicomweb/studies").json()
    assert {value(result, "0020000D")[0] for result in listed} == set(
        study.cases.filter(assignments__reader=r01.reader).values_list("study_instance_uid", flat=True))
    series = reader.get(f"/dicomweb/studies/{own.study_instance_uid}/series").json()[0]
    series_uid = value(series, "0020000E")[0]
    instance = reader.get(f"/dicomweb/studies/{own.study_instance_uid}/series/{series_uid}/instances").json()[0]
    base = f"/dicomweb/studies/{own.study_instance_uid}/series/{series_uid}/instances/{value(instance, '00080018')[0]}"
    metadata = reader.get(base + "/metadata")
    document = _json(metadata)[0]
    assert document["7FE00010"]["BulkDataURI"].startswith("http://testserver/dicomweb/studies/")
    expected = case_datasets(seed=own.pk, study_instance_uid=own.study_instance_uid)[0].PixelData
    frame = reader.get(base + "/frames/1")
    assert frame.status_code == 200 and expected in _body(frame)
    assert reader.get(base + "/rendered").status_code == 200
    assert expected in _body(reader.get(document["7FE00010"]["BulkDataURI"].removeprefix("http://testserver")))
    assert expected in _body(reader.get(f"/dicomweb/studies/{own.study_instance_uid}"))

    for url in (f"/dicomweb/studies/{foreign.study_instance_uid}/metadata",
                f"/dicomweb/studies/{foreign.study_instance_uid}/series",
                f"/dicomweb/studies/{foreign.study_instance_uid}"):
        assert reader.get(url).status_code == 404
    assert Client().get(base + "/metadata").status_code == 401
    staff = Client()
    staff.force_login(study.memberships.first().user)
    assert len(staff.get("/dicomweb/studies").json()) == 4


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _json(response):
    import json

    return json.loads(_body(response))


# ------------------------------------------------------------------ import_dicomweb


def test_import_dicomweb_pulls_a_study_from_orthanc(orthanc, make_study, coordinator):
    study = make_study(n_readers=1, n_cases=2, status="draft")
    case = study.cases.first()
    source = case_datasets(seed=51, study_instance_uid=case.study_instance_uid)
    for ds in source:
        orthanc.upload(write_instance(ds))
    out = io.StringIO()
    call_command("import_dicomweb", url=orthanc.dicomweb, study=study.pk, uids=[case.study_instance_uid],
                 user="coord", stdout=out)
    assert "1 instances stored" in out.getvalue() and "1 cases linked" in out.getvalue()
    case.refresh_from_db()
    stored = DicomInstance.objects.get(series__dicom_study__case=case)
    assert pydicom.dcmread(ingest.content_store().path_for(stored.sha256)).PixelData == source[0].PixelData
    assert case.study_instance_uid == stored.series.dicom_study.study_instance_uid != source[0].StudyInstanceUID


# ------------------------------------------------------------------ Celery


def test_upload_ingested_by_the_celery_worker(dicom_storage, celery_worker, make_study, coordinator, api, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    study = make_study(n_readers=1, n_cases=1, status="draft")
    case = study.cases.get()
    data = write_instance(case_datasets(seed=61, study_instance_uid=case.study_instance_uid)[0])
    files = [SimpleUploadedFile("a.dcm", data), SimpleUploadedFile("b.txt", b"nope")]
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/dicom/", {"files": files}, format="multipart")
    assert response.status_code == 202
    deadline = time.monotonic() + 60
    while (job := Job.objects.get(pk=response.json()["id"])).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.2)
    assert job.status == "succeeded", job.message
    assert job.result["stored"] == 1 and job.result["rejected"][0]["file"].endswith("b.txt")
    case.refresh_from_db()
    assert DicomStudy.objects.get(case=case).study_instance_uid == case.study_instance_uid
