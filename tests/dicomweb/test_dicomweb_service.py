"""QIDO-RS matching and paging, WADO-RS content (frames, metadata, rendered, bulk data), caching, PHI."""

import io
import json

import numpy as np
import pydicom
import pytest
import requests
from django.test import Client
from PIL import Image
from pydicom.data import get_testdata_file

from mrmc.dicom.frames import get_frames
from studies.models import DicomInstance, DicomStudy
from studies.services import ingest
from tests.dicomweb.images import case_datasets

OCTET = 'multipart/related; type="application/octet-stream"'


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def parts_of(response) -> list[bytes]:
    """The bodies of a multipart/related response (RFC 2387)."""
    boundary = response["Content-Type"].rsplit("boundary=", 1)[1].encode()
    chunks = body_of(response).split(b"--" + boundary)[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1][:-2] for chunk in chunks]


@pytest.fixture
def staff(coordinator):
    client = Client()
    client.force_login(coordinator)
    return client


@pytest.fixture
def archive(make_study, coordinator, tmp_path):
    """A draft study with: two DX cases (one keeps its identity and a study date), a multi-frame MR, a J2K NM."""
    study = make_study(n_readers=1, n_cases=0, status="draft", allow_identified_data=True)
    for seed in (21, 22):
        for ds in case_datasets(seed=seed):
            ds.save_as(tmp_path / f"dx{seed}.dcm", enforce_file_format=True)
    ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "dx21.dcm")])
    identified = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "dx22.dcm")],
                                     deidentify_files=False)
    extra = [get_testdata_file(name) for name in ("emri_small.dcm", "JPEG2000.dcm")]
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[p for p in extra if p])
    assert identified.stored == 1 and report.stored == 2, report.as_dict()
    return study


def instance_url(instance: DicomInstance) -> str:
    series = instance.series
    return (f"/dicomweb/studies/{series.dicom_study.study_instance_uid}/series/{series.series_instance_uid}"
            f"/instances/{instance.sop_instance_uid}")


def by_modality(modality: str) -> DicomInstance:
    return DicomInstance.objects.select_related("series__dicom_study").filter(series__modality=modality).first()


def uids(results, tag="0020000D") -> list[str]:
    return [result[tag]["Value"][0] for result in results]


# ---------------------------------------------------------------- QIDO-RS


def test_qido_study_matching_keys(archive, staff):
    all_studies = staff.get("/dicomweb/studies").json()
    assert len(all_studies) == 4
    identified = DicomStudy.objects.exclude(patient_id="").get()
    assert uids(staff.get("/dicomweb/studies", {"PatientID": identified.patient_id}).json()) == [
        identified.study_instance_uid]
    assert uids(staff.get("/dicomweb/studies", {"PatientID": identified.patient_id[:3] + "*"}).json()) == [
        identified.study_instance_uid]
    day = identified.study_date
    assert uids(staff.get("/dicomweb/studies", {"StudyDate": f"{day}-{day}"}).json()) == [
        identified.study_instance_uid]
    assert staff.get("/dicomweb/studies", {"StudyDate": "19000101-19000102"}).json() == []
    assert len(staff.get("/dicomweb/studies", {"ModalitiesInStudy": "DX"}).json()) == 2
    mr = by_modality("MR").series.dicom_study.study_instance_uid
    assert uids(staff.get("/dicomweb/studies", {"ModalitiesInStudy": "MR"}).json()) == [mr]
    two = ",".join(uids(all_studies)[:2])
    assert uids(staff.get("/dicomweb/studies", {"StudyInstanceUID": two}).json()) == uids(all_studies)[:2]
    assert staff.get("/dicomweb/studies", {"AccessionNumber": "nothing"}).json() == []


def test_qido_limit_offset_and_bad_queries(archive, staff):
    everything = uids(staff.get("/dicomweb/studies").json())
    assert uids(staff.get("/dicomweb/studies", {"limit": 2}).json()) == everything[:2]
    assert uids(staff.get("/dicomweb/studies", {"limit": 2, "offset": 3}).json()) == everything[3:]
    assert staff.get("/dicomweb/studies", {"limit": "-1"}).status_code == 400
    # Unsupported parameters are ignored and named in a Warning (PS3.18 8.3); the tests are in test_qido.py.
    for unsupported in ({"NotAnAttribute": "x"}, {"SOPInstanceUID": "1.2"}):  # the second: not a study key
        ignored = staff.get("/dicomweb/studies", unsupported)
        assert uids(ignored.json()) == everything and ignored["Warning"].startswith("299 ")


def test_qido_result_attributes_and_includefield(archive, staff):
    mr = by_modality("MR")
    study = staff.get("/dicomweb/studies", {"ModalitiesInStudy": "MR"}).json()[0]
    assert study["00201208"]["Value"] == [1] and study["00201206"]["Value"] == [1]
    assert study["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{mr.series.dicom_study.study_instance_uid}")
    assert "00280010" not in study
    series_url = f"/dicomweb/studies/{mr.series.dicom_study.study_instance_uid}/series"
    series = staff.get(series_url, {"Modality": "MR"}).json()
    assert uids(series, "0020000E") == [mr.series.series_instance_uid]
    assert staff.get(series_url, {"Modality": "CT"}).json() == []
    instances_url = f"{series_url}/{mr.series.series_instance_uid}/instances"
    plain = staff.get(instances_url).json()[0]
    assert plain["00280008"]["Value"] == [10] and "00180087" not in plain  # MagneticFieldStrength
    extended = staff.get(instances_url, {"includefield": "MagneticFieldStrength,00180088"}).json()[0]
    assert "00180087" in extended and "00180088" in extended  # SpacingBetweenSlices by tag
    everything = staff.get(instances_url, {"includefield": "all"}).json()[0]
    assert len(everything) > len(extended) and "7FE00010" not in everything
    assert uids(staff.get(instances_url, {"SOPInstanceUID": mr.sop_instance_uid}).json(), "00080018") == [
        mr.sop_instance_uid]


# ---------------------------------------------------------------- WADO-RS


def test_native_frames_are_byte_identical_to_the_pixel_data(archive, staff):
    mr = by_modality("MR")
    source = pydicom.dcmread(get_testdata_file("emri_small.dcm"))
    frame_bytes = len(source.PixelData) // 10
    response = staff.get(instance_url(mr) + "/frames/1,3,10")
    assert response.status_code == 200 and response["Content-Type"].startswith(OCTET)
    assert "transfer-syntax=1.2.840.10008.1.2.1" in response["Content-Type"]
    assert parts_of(response) == [source.PixelData[(n - 1) * frame_bytes:n * frame_bytes] for n in (1, 3, 10)]
    assert staff.get(instance_url(mr) + "/frames/11").status_code == 404
    assert staff.get(instance_url(mr) + "/frames/0").status_code == 400


def test_dx_frame_matches_the_source_pixels(archive, staff):
    dx = by_modality("DX")
    expected = {ds.PixelData for seed in (21, 22) for ds in case_datasets(seed=seed)}
    response = staff.get(instance_url(dx) + "/frames/1", HTTP_ACCEPT=f"{OCTET}; transfer-syntax=*")
    assert parts_of(response)[0] in expected


def test_compressed_frames_as_stored_or_decoded_and_406_otherwise(archive, staff):
    ct = by_modality("NM")
    source = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    stored = staff.get(instance_url(ct) + "/frames/1", HTTP_ACCEPT=f"{OCTET}; transfer-syntax=*")
    assert stored.status_code == 200 and "transfer-syntax=1.2.840.10008.1.2.4.91" in stored["Content-Type"]
    assert 'type="image/jp2"' in stored["Content-Type"]
    assert parts_of(stored) == get_frames(source, [1], keep_encoding=True)
    decoded = staff.get(instance_url(ct) + "/frames/1", HTTP_ACCEPT=OCTET)
    pixels = source.pixel_array
    assert parts_of(decoded) == [pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()]
    for accept in (f"{OCTET}; transfer-syntax=1.2.840.10008.1.2.4.50", 'multipart/related; type="image/jpeg"'):
        assert staff.get(instance_url(ct) + "/frames/1", HTTP_ACCEPT=accept).status_code == 406


def test_retrieve_instance_is_the_stored_file(archive, staff, settings):
    dx = by_modality("DX")
    response = staff.get(instance_url(dx))
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"')
    stored = ingest.content_store().path_for(dx.sha256).read_bytes()
    assert parts_of(response) == [stored]
    study = staff.get(f"/dicomweb/studies/{dx.series.dicom_study.study_instance_uid}")
    assert parts_of(study) == [stored]
    bad = staff.get(instance_url(dx), HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=1.2.3')
    assert bad.status_code == 406


def test_metadata_with_bulk_data_uri_that_resolves(archive, staff):
    mr = by_modality("MR")
    response = staff.get(instance_url(mr) + "/metadata")
    assert response["Content-Type"] == "application/dicom+json"
    document = json.loads(body_of(response))[0]
    assert document["00020010"]["Value"] == ["1.2.840.10008.1.2.1"]
    uri = document["7FE00010"]["BulkDataURI"]
    assert uri.startswith("http://testserver/dicomweb/studies/")
    bulk = staff.get(uri.removeprefix("http://testserver"))
    assert parts_of(bulk) == [pydicom.dcmread(get_testdata_file("emri_small.dcm")).PixelData]
    assert staff.get(instance_url(mr) + "/bulk/00100010").status_code == 404
    assert staff.get(instance_url(mr) + "/metadata", HTTP_ACCEPT="text/html").status_code == 406


def test_rendered_png_and_jpeg_with_a_window(archive, staff):
    dx = by_modality("DX")
    png = staff.get(instance_url(dx) + "/rendered", {"window": "2048,4096,linear", "viewport": "32,32"},
                    HTTP_ACCEPT="image/png")
    image = Image.open(io.BytesIO(body_of(png)))
    assert png["Content-Type"] == "image/png" and image.format == "PNG" and max(image.size) == 32
    narrow = staff.get(instance_url(dx) + "/rendered", {"window": "0,1"}, HTTP_ACCEPT="image/png")
    assert np.asarray(Image.open(io.BytesIO(body_of(narrow)))).min() == 255  # every pixel above the window
    jpeg = staff.get(instance_url(dx) + "/rendered")
    assert jpeg["Content-Type"] == "image/jpeg" and body_of(jpeg)[:2] == b"\xff\xd8"
    assert staff.get(instance_url(dx) + "/rendered", HTTP_ACCEPT="image/gif").status_code == 406
    assert staff.get(instance_url(dx) + "/rendered", {"window": "1,0"}).status_code == 400


def test_etag_conditional_get_and_private_immutable_caching(archive, staff):
    url = instance_url(by_modality("MR")) + "/frames/1"
    first = staff.get(url)
    assert first["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "Authorization" in first["Vary"] and "Cookie" in first["Vary"]
    again = staff.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and body_of(again) == b""
    assert staff.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    search = staff.get("/dicomweb/studies")
    assert search["Cache-Control"] == "private, no-cache"


# ------------------------------------------------------------ privacy


PHI = ("Doe^Jane", "MRN-4711", "19600102", "Hospital of Jane", "OTHER-ID-9", "SECRET-PRIVATE")


@pytest.fixture
def planted(make_study, coordinator, tmp_path):
    study = make_study(n_readers=1, n_cases=1, status="draft")
    ds = case_datasets(seed=31, study_instance_uid=study.cases.get().study_instance_uid)[0]
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PHI[0], PHI[1], PHI[2]
    ds.InstitutionName, ds.OtherPatientIDs = PHI[3], PHI[4]
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", PHI[5])
    ds.save_as(tmp_path / "phi.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "phi.dcm")])
    assert report.stored == 1 and report.linked
    return study


def test_phi_and_case_data_never_served(planted, staff):
    instance = DicomInstance.objects.select_related("series__dicom_study").get()
    study_uid = instance.series.dicom_study.study_instance_uid
    urls = ["/dicomweb/studies?includefield=all", f"/dicomweb/studies/{study_uid}/series?includefield=all",
            f"/dicomweb/studies/{study_uid}/metadata", instance_url(instance),
            f"/dicomweb/studies/{study_uid}/series/{instance.series.series_instance_uid}/instances?includefield=all"]
    case = planted.cases.get()
    served = b"".join(body_of(staff.get(url)) for url in urls)
    for secret in (*PHI, case.label, "truth"):
        assert secret.encode() not in served, secret


# ------------------------------------------------------------ interoperability


def test_dicomweb_client_reads_our_service(transactional_db, archive, coordinator, live_server):
    """Search, metadata, frames and retrieval through dicomweb-client, authenticated by token."""
    from dicomweb_client.api import DICOMwebClient
    from knox.models import AuthToken

    session = requests.Session()
    session.headers["Authorization"] = f"Token {AuthToken.objects.create(user=coordinator)[1]}"
    client = DICOMwebClient(f"{live_server.url}/dicomweb", session=session)
    mr = by_modality("MR")
    study_uid, series_uid = mr.series.dicom_study.study_instance_uid, mr.series.series_instance_uid
    assert study_uid in uids(client.search_for_studies())
    stored = pydicom.dcmread(ingest.content_store().path_for(mr.sha256))
    def bulk(tag, vr, uri) -> bytes:
        # dicomweb-client sends "Host: localhost" without the port (web.py: headers['Host'] = self.host):
        # the URI still names the port the request came in on.
        assert uri.startswith(f"http://localhost:{live_server.url.rsplit(':', 1)[1]}/dicomweb/studies/")
        # dicomweb-client yields a buffer, which pydicom would read as a list of ints
        return bytes(client.retrieve_bulkdata(uri, media_types=("application/octet-stream",))[0])

    metadata = pydicom.Dataset.from_json(
        client.retrieve_instance_metadata(study_uid, series_uid, mr.sop_instance_uid), bulk_data_uri_handler=bulk)
    for element in stored:
        if element.keyword != "PixelData":
            assert metadata[element.tag].value == element.value, element.keyword
    assert metadata["PixelData"].value == stored.PixelData  # through its BulkDataURI
    frames = client.retrieve_instance_frames(study_uid, series_uid, mr.sop_instance_uid, frame_numbers=[2, 5],
                                             media_types=(("application/octet-stream", "*"),))
    assert frames == get_frames(stored, [2, 5])
    retrieved = client.retrieve_instance(study_uid, series_uid, mr.sop_instance_uid)
    assert retrieved.PixelData == stored.PixelData and retrieved.SOPInstanceUID == mr.sop_instance_uid
    assert len(list(client.iter_study(study_uid))) == 1


# ------------------------------------------------------------ upstream mode, no server needed


def test_upstream_mode_authorizes_before_asking_the_archive(make_study, make_user, staff, settings):
    """Unreachable archive: members get 502 (the proxy tried), outsiders 404 and anonymous 401 (it did not)."""
    study = make_study(n_readers=1, n_cases=1)
    uid = study.cases.get().study_instance_uid
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "upstream", "http://127.0.0.1:9/dicom-web"  # refused: port 9
    assert staff.get(f"/dicomweb/studies/{uid}/metadata").status_code == 502
    outsider = Client()
    outsider.force_login(make_user("other_coord", "coordinator"))
    assert outsider.get(f"/dicomweb/studies/{uid}/metadata").status_code == 404
    assert Client().get(f"/dicomweb/studies/{uid}/metadata").status_code == 401
