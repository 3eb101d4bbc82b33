"""HTTP around the DICOMweb resources: the service's own URL in RetrieveURL and BulkDataURI (port,
proxy), ETag and Last-Modified with conditional GET, single part payloads and byte ranges."""

import pydicom
import pytest
import requests
from django.test import Client
from django.utils.http import http_date
from pydicom.data import get_testdata_file

from studies.models import DicomInstance
from studies.services import ingest
from tests.dicomweb.archives import body_of, orthanc_for_module, parts_of  # noqa: F401 - a fixture used here

OCTET = "application/octet-stream"


@pytest.fixture
def mr(make_study, coordinator) -> dict:
    """The 10-frame MR (native, 64 x 64 x 16 bits), and a coordinator's client."""
    study = make_study(n_readers=1, n_cases=0, status="draft")
    assert ingest.ingest_paths(actor=coordinator, study=study, paths=[get_testdata_file("emri_small.dcm")]).stored == 1
    instance = DicomInstance.objects.select_related("series__dicom_study").get()
    study_uid = instance.series.dicom_study.study_instance_uid
    client = Client()
    client.force_login(coordinator)
    pixel_data = pydicom.dcmread(get_testdata_file("emri_small.dcm")).PixelData
    return {"instance": instance, "study": study_uid, "client": client, "frame_bytes": len(pixel_data) // 10,
            "pixel_data": pixel_data,
            "url": f"/dicomweb/studies/{study_uid}/series/{instance.series.series_instance_uid}"
                   f"/instances/{instance.sop_instance_uid}"}


# ------------------------------------------------------------ the service's own URL


def retrieve_url_of_study(client: Client, **headers) -> str:
    response = client.get("/dicomweb/studies", **headers)
    assert response.status_code == 200, response.content
    return response.json()[0]["00081190"]["Value"][0]


def test_urls_keep_the_port_the_client_came_in_on(mr, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    client, study = mr["client"], mr["study"]
    with_port = retrieve_url_of_study(client, HTTP_HOST="127.0.0.1:8000")
    assert with_port == f"http://127.0.0.1:8000/dicomweb/studies/{study}"
    # dicomweb-client sends Host without the port: the port the request arrived on stands for it.
    assert retrieve_url_of_study(client, HTTP_HOST="127.0.0.1", SERVER_PORT="8000") == with_port
    assert retrieve_url_of_study(client, HTTP_HOST="127.0.0.1", SERVER_PORT="80").startswith("http://127.0.0.1/")
    # Behind a proxy the port it arrived on is the proxy's to the application, not the client's.
    settings.BEHIND_PROXY = True
    assert retrieve_url_of_study(client, HTTP_HOST="127.0.0.1", SERVER_PORT="8000").startswith("http://127.0.0.1/")
    metadata = client.get(f"{mr['url']}/metadata", HTTP_HOST="127.0.0.1:8000")
    assert parts_uri(metadata).startswith(f"http://127.0.0.1:8000/dicomweb/studies/{study}/series/")


def parts_uri(metadata_response) -> str:
    import json

    return json.loads(body_of(metadata_response))[0]["7FE00010"]["BulkDataURI"]


PROXY_HEADERS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "images.example.org",
                 "HTTP_X_FORWARDED_PORT": "8443"}


def test_a_configured_proxy_names_scheme_host_and_port(mr, settings):
    settings.ALLOWED_HOSTS = ["images.example.org", "testserver"]
    settings.USE_X_FORWARDED_HOST = settings.USE_X_FORWARDED_PORT = settings.BEHIND_PROXY = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    expected = f"https://images.example.org:8443/dicomweb/studies/{mr['study']}"
    assert retrieve_url_of_study(mr["client"], **PROXY_HEADERS) == expected
    assert parts_uri(mr["client"].get(f"{mr['url']}/metadata", **PROXY_HEADERS)).startswith(
        "https://images.example.org:8443/dicomweb/")
    on_443 = {**PROXY_HEADERS, "HTTP_X_FORWARDED_PORT": "443"}
    assert retrieve_url_of_study(mr["client"], **on_443).startswith("https://images.example.org/dicomweb/")
    refused = mr["client"].get("/dicomweb/studies", HTTP_X_FORWARDED_HOST="evil.example.org")
    assert refused.status_code == 400  # not in ALLOWED_HOSTS


def test_forwarded_headers_count_for_nothing_unless_configured(mr, settings):
    settings.USE_X_FORWARDED_HOST = settings.USE_X_FORWARDED_PORT = False
    settings.SECURE_PROXY_SSL_HEADER = None
    assert retrieve_url_of_study(mr["client"], **PROXY_HEADERS) == f"http://testserver/dicomweb/studies/{mr['study']}"


def test_a_live_server_names_its_own_port(transactional_db, mr, live_server):
    from knox.models import AuthToken

    token = AuthToken.objects.create(user=mr["instance"].series.dicom_study.study.memberships.first().user)[1]
    response = requests.get(f"{live_server.url}/dicomweb/studies", headers={"Authorization": f"Token {token}"},
                            timeout=30)
    assert response.json()[0]["00081190"]["Value"] == [f"{live_server.url}/dicomweb/studies/{mr['study']}"]


# ------------------------------------------------------------ ETag, Last-Modified, 304


@pytest.mark.parametrize("suffix", ["/metadata", "/frames/2", "/bulk/7FE00010", "/rendered", "/frames/2/rendered",
                                    "/thumbnail"])
def test_conditional_get(mr, suffix):
    client, url = mr["client"], mr["url"] + suffix
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"].startswith('"')
    stored = mr["instance"].created_at
    assert first["Last-Modified"] == http_date(stored.timestamp())
    for headers in ({"HTTP_IF_NONE_MATCH": first["ETag"]}, {"HTTP_IF_NONE_MATCH": f'"x", W/{first["ETag"]}'},
                    {"HTTP_IF_NONE_MATCH": "*"}, {"HTTP_IF_MODIFIED_SINCE": first["Last-Modified"]},
                    {"HTTP_IF_MODIFIED_SINCE": http_date(stored.timestamp() + 3600)}):
        again = client.get(url, **headers)
        assert again.status_code == 304 and body_of(again) == b"", headers
        assert again["ETag"] == first["ETag"] and again["Last-Modified"] == first["Last-Modified"]
    for headers in ({"HTTP_IF_NONE_MATCH": '"other"'}, {"HTTP_IF_MODIFIED_SINCE": http_date(stored.timestamp() - 1)},
                    # If-None-Match decides when both are sent (RFC 9110 13.2.2)
                    {"HTTP_IF_NONE_MATCH": '"other"', "HTTP_IF_MODIFIED_SINCE": first["Last-Modified"]}):
        assert client.get(url, **headers).status_code == 200, headers


def test_a_study_changes_when_an_instance_is_added(mr, coordinator, tmp_path):
    from tests.dicomweb.images import case_datasets

    DicomInstance.objects.update(created_at=mr["instance"].created_at.replace(year=2020))
    url = f"/dicomweb/studies/{mr['study']}/metadata"
    before = mr["client"].get(url)
    original_uid = pydicom.dcmread(get_testdata_file("emri_small.dcm")).StudyInstanceUID
    case_datasets(seed=3, study_instance_uid=original_uid)[0].save_as(tmp_path / "more.dcm", enforce_file_format=True)
    study = mr["instance"].series.dicom_study.study
    assert ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "more.dcm")]).stored == 1
    assert DicomInstance.objects.filter(series__dicom_study__study_instance_uid=mr["study"]).count() == 2
    after = mr["client"].get(url, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert after["Last-Modified"] != before["Last-Modified"]
    assert mr["client"].get(url, HTTP_IF_MODIFIED_SINCE=before["Last-Modified"]).status_code == 200


# ------------------------------------------------------------ single part and byte ranges


def test_one_frame_as_a_single_part(mr):
    client, url, length = mr["client"], mr["url"] + "/frames/3", mr["frame_bytes"]
    frame = mr["pixel_data"][2 * length:3 * length]
    single = client.get(url, HTTP_ACCEPT=OCTET)
    assert single.status_code == 200 and single["Content-Type"].startswith(OCTET)
    assert "transfer-syntax=1.2.840.10008.1.2.1" in single["Content-Type"]
    assert single.content == frame and single["Accept-Ranges"] == "bytes"
    assert single["Content-Length"] == str(length)
    multipart = client.get(url)  # the default stays multipart/related (PS3.18 Table 10.4.4-1)
    assert multipart["Content-Type"].startswith("multipart/related") and parts_of(multipart) == [frame]
    assert multipart["ETag"] != single["ETag"]
    several = client.get(mr["url"] + "/frames/1,2", HTTP_ACCEPT=OCTET)  # more than one item: multipart
    assert several["Content-Type"].startswith("multipart/related") and len(parts_of(several)) == 2


@pytest.mark.parametrize(("header", "first", "last"), [
    ("bytes=0-9", 0, 9), ("bytes=10-", 10, None), ("bytes=-5", -5, None), ("bytes=100-99999999", 100, None),
    ("bytes= 3 - 7", 3, 7),
])
def test_a_byte_range_of_a_frame(mr, header, first, last):
    frame = mr["pixel_data"][:mr["frame_bytes"]]
    response = mr["client"].get(mr["url"] + "/frames/1", HTTP_ACCEPT=OCTET, HTTP_RANGE=header)
    expected = frame[first:] if last is None else frame[first:last + 1]
    start = len(frame) + first if first < 0 else first
    assert response.status_code == 206 and response.content == expected
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(frame)}"
    assert response["Content-Length"] == str(len(expected))


def test_byte_ranges_that_cannot_be_served(mr):
    client, url, length = mr["client"], mr["url"] + "/frames/1", mr["frame_bytes"]
    for header in (f"bytes={length}-", f"bytes={length + 10}-{length + 20}", "bytes=-0"):
        response = client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE=header)
        assert response.status_code == 416 and response["Content-Range"] == f"bytes */{length}", header
    # Ignored, the whole frame: several ranges, another unit, nonsense, a range of a multipart payload.
    for header, accept in (("bytes=0-1,4-5", OCTET), ("items=0-1", OCTET), ("bytes=5-2", OCTET), ("bytes=-", OCTET),
                           ("bytes=0-9", "*/*")):
        response = client.get(url, HTTP_ACCEPT=accept, HTTP_RANGE=header)
        assert response.status_code == 200, header


def test_if_range(mr):
    client, url = mr["client"], mr["url"] + "/frames/1"
    etag = client.get(url, HTTP_ACCEPT=OCTET)["ETag"]
    assert client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=etag).status_code == 206
    assert client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"stale"').status_code == 200
    stored = http_date(mr["instance"].created_at.timestamp())
    assert client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=stored).status_code == 206
    assert client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=0-1", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_bulk_data_as_a_single_part_and_its_ranges(mr):
    client, url, pixel_data = mr["client"], mr["url"] + "/bulk/7FE00010", mr["pixel_data"]
    whole = client.get(url, HTTP_ACCEPT=OCTET)
    assert whole["Content-Type"] == OCTET and whole.content == pixel_data
    part = client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206 and part.content == pixel_data[1000:2000]
    assert part["Content-Range"] == f"bytes 1000-1999/{len(pixel_data)}"
    assert client.get(url, HTTP_ACCEPT=OCTET, HTTP_RANGE=f"bytes={len(pixel_data)}-").status_code == 416
    assert parts_of(client.get(url)) == [pixel_data]  # multipart by default


# ------------------------------------------------------------ the platform's archive (Orthanc)


@pytest.mark.integration
def test_an_archives_answers_have_etags_single_parts_and_ranges(orthanc_for_module, settings, make_study,  # noqa: F811
                                                                 coordinator):
    settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", orthanc_for_module.dicomweb
    study = make_study(n_readers=1, n_cases=0, status="draft")
    assert ingest.ingest_paths(actor=coordinator, study=study, paths=[get_testdata_file("emri_small.dcm")]).stored == 1
    instance = DicomInstance.objects.select_related("series__dicom_study").get()
    url = (f"/dicomweb/studies/{instance.series.dicom_study.study_instance_uid}/series/"
           f"{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}")
    client = Client()
    client.force_login(coordinator)
    pixel_data = pydicom.dcmread(get_testdata_file("emri_small.dcm")).PixelData
    frame = pixel_data[len(pixel_data) // 10:2 * len(pixel_data) // 10]
    for suffix in ("/metadata", "/frames/2", "/bulk/7FE00010", "/frames/2/rendered", "/thumbnail"):
        first = client.get(url + suffix)
        assert first.status_code == 200 and first["ETag"] and "Last-Modified" not in first, suffix
        assert client.get(url + suffix, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304, suffix
    single = client.get(url + "/frames/2", HTTP_ACCEPT=OCTET)
    assert single["Content-Type"].startswith(OCTET) and single.content == frame
    part = client.get(url + "/frames/2", HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=-100")
    assert part.status_code == 206 and part.content == frame[-100:]
    assert part["Content-Range"] == f"bytes {len(frame) - 100}-{len(frame) - 1}/{len(frame)}"
    bulk = client.get(url + "/bulk/7FE00010", HTTP_ACCEPT=OCTET, HTTP_RANGE="bytes=0-99")
    assert bulk.status_code == 206 and bulk.content == pixel_data[:100]
