"""Hypothesis over the DICOMweb routes (QIDO query parameters, UIDs, frame lists, rendered-image
parameters, Accept and Range headers) as a reader and as staff: never a 5xx, and a reader never
gets anything of a case outside their open sessions."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studies.models import DicomInstance
from tests.dicomweb.conftest import dicom_storage, imaged_world  # noqa: F401 - fixtures used here

UID_CHARS = st.text("0123456789.", min_size=1, max_size=70)
JUNK = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
ROUTES = [
    "studies", "studies/{study}", "studies/{study}/metadata", "studies/{study}/series", "studies/{study}/series/{series}",
    "studies/{study}/series/{series}/metadata", "studies/{study}/series/{series}/instances",
    "studies/{study}/series/{series}/instances/{instance}", "studies/{study}/series/{series}/instances/{instance}/metadata",
    "studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    "studies/{study}/series/{series}/instances/{instance}/rendered",
    "studies/{study}/series/{series}/instances/{instance}/bulk/{attribute}",
]
QUERY_KEYS = ["StudyInstanceUID", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy", "SeriesInstanceUID",
              "Modality", "SeriesNumber", "SOPInstanceUID", "0020000D", "00100010", "limit", "offset", "includefield", "fuzzymatching", "frame", "window", "viewport", "quality", "Nonsense"]
ACCEPT = ["*/*", "application/dicom+json", "application/json", "multipart/related; type=\"application/dicom\"",
          "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
          "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1",
          "multipart/related; type=\"image/jls\"", "image/jpeg", "image/png, image/*;q=0.5", "text/html",
          "multipart/related; type=\"application/dicom\"; transfer-syntax=\"1.2.3, 4\"", "multipart/related; type="]
NUMBERS = st.one_of(st.sampled_from(["", "²", "١٢", "1" * 5000, "9" * 30, "1,2", "0x10", " 3 ", "-1"]),
                    st.integers(-3, 2**70).map(str))


def requests(targets: list[tuple[str, str, str]], routes: list[str], keys: list[str]):
    """One DICOMweb request: a route to an instance that exists (the reader's or another's) or to
    made-up UIDs, with odd frame lists, query parameters and headers."""
    return st.fixed_dictionaries({
        "route": st.sampled_from(routes),
        "target": st.one_of(st.sampled_from(targets), st.sampled_from(targets), st.tuples(UID_CHARS, UID_CHARS, UID_CHARS)),
        "frames": st.one_of(st.lists(NUMBERS, min_size=1, max_size=4).map(",".join), JUNK),
        "attribute": st.sampled_from(["7FE00010", "00420011", "00080016", "zz", "7FE00010/0"]),
        "query": st.dictionaries(st.sampled_from(keys), st.one_of(NUMBERS, NUMBERS, JUNK, UID_CHARS,
                                 st.sampled_from(["20200101-", "-20261231", "20260101-20251231", "all", "*"])),
                                 max_size=2),
        "accept": st.one_of(st.sampled_from(ACCEPT), JUNK),
        "range": st.one_of(st.none(), st.sampled_from(["bytes=0-10", "bytes=-5", "bytes=10-2", "items=1"])),
    })


def send(client: Client, request: dict):
    study, series, instance = request["target"]
    path = "/dicomweb/" + request["route"].format(study=study, series=series, instance=instance, **request)
    headers = {"HTTP_ACCEPT": request["accept"]}
    if request["range"]:
        headers["HTTP_RANGE"] = request["range"]
    response = client.get(path, request["query"], **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def instances_of(cases):
    return DicomInstance.objects.filter(series__dicom_study__case__in=cases).select_related("series__dicom_study")


def targets_of(cases) -> list[tuple[str, str, str]]:
    return sorted((i.series.dicom_study.study_instance_uid, i.series.series_instance_uid, i.sop_instance_uid)
                  for i in instances_of(cases))


QIDO = [route for route in ROUTES if route.endswith(("studies", "series", "instances"))]
# Paging and the numeric matching keys: what a number parser meets.
QIDO_KEYS = ["limit", "offset", "SeriesNumber", "InstanceNumber", "StudyDate", "includefield"]


@pytest.mark.parametrize("routes", [ROUTES, QIDO], ids=["all-routes", "qido"])
@pytest.mark.parametrize("role", ["reader", "coordinator", "admin"])
def test_dicomweb_never_fails_and_keeps_other_cases_from_readers(imaged_world, role, routes):  # noqa: F811
    cases = imaged_world["study"].cases.all()
    reader_cases = cases.filter(assignments__reader__user=imaged_world["users"]["reader"]).distinct()
    foreign = {uid for target in targets_of(cases.exclude(pk__in=reader_cases)) for uid in target}
    visible_studies = {study for study, _, _ in targets_of(reader_cases)}
    client = Client(raise_request_exception=True)
    client.force_login(imaged_world["users"][role])
    keys = QUERY_KEYS if routes is ROUTES else QIDO_KEYS

    @settings(max_examples=120, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(request=requests(targets_of(cases), routes, keys))
    def probe(request):
        response, body = send(client, request)
        assert response.status_code < 500, (request, response.status_code, body[:300])
        if role == "reader" and response.status_code < 300:
            leaked = [uid for uid in foreign if uid.encode() in body]
            assert not leaked, (request, leaked)
            if request["target"][0] not in visible_studies and "{study}" in request["route"]:
                pytest.fail(f"reader got {response.status_code} for a study outside their sessions: {request}")

    probe()
