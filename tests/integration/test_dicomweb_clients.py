"""dicomweb-client's whole read and store API against our DICOMweb service and against Orthanc holding the
very files we serve: MR_small (signed 16-bit), CT_small, emri_small (10 frames) and two synthetic DX images,
ingested as they are (identified data allowed), so both servers know the same attributes.

Ours must answer every one of the 25 calls of :data:`CALLS`, rightly: which entities a query finds and the
pixels are checked against the source files. Where Orthanc answers too, its answer is checked the same way, and
the attribute values both servers return must be equal. Whether each server answered each call, and what went
wrong, is printed at the end of the module (``pytest -s``).

Compared: every attribute both return (QIDO-RS results and metadata), but :data:`NOT_COMPARED` (the Retrieve
URL names each server), private attributes (a server's own) and bulk data (compared through
``retrieve_bulkdata``). Returned by one server only, so not compared: InstanceAvailability and, in metadata,
Transfer Syntax UID (ours), SpecificCharacterSet (Orthanc's own), and defaults of a level beyond those PS3.18
Tables 10.6.3-3 to -5 require (Orthanc: the study's attributes in every series and instance result; ours:
StudyDescription).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.web import _Transaction
from django.core.cache import cache
from knox.models import AuthToken
from PIL import Image
from pydicom.data import get_testdata_file

from studies.models import DicomInstance
from studies.services.ingest import content_store
from tests.dicomweb.archives import ingest_as_is, orthanc_for_module  # noqa: F401 (a fixture)
from tests.dicomweb.images import case_datasets
from tests.dicomweb.test_transcoded_frames import decoded_parts

pytestmark = pytest.mark.integration

OURS, ORTHANC = "ours", "Orthanc"
NATIVE = "1.2.840.10008.1.2.1"
# Frames: row of the table -> (media type, transfer syntax) as dicomweb-client takes them; each row is asked
# with the syntax and, where it is the media type's default (PS3.18 Table 8.7.3-5), also without one.
FRAME_REQUESTS = {
    "retrieve_instance_frames native": ("application/octet-stream", NATIVE),
    "retrieve_instance_frames as stored": ("application/octet-stream", "*"),
    "retrieve_instance_frames JPEG-LS .4.80": ("image/jls", "1.2.840.10008.1.2.4.80"),
    "retrieve_instance_frames JPEG 2000 .4.90": ("image/jp2", "1.2.840.10008.1.2.4.90"),
    "retrieve_instance_frames HTJ2K .4.201": ("image/jphc", "1.2.840.10008.1.2.4.201"),
    "retrieve_instance_frames HTJ2K RPCL .4.202": ("image/jphc", "1.2.840.10008.1.2.4.202"),
}
DEFAULT_SYNTAXES = {NATIVE, "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201"}
# dicomweb-client 0.61 refuses media types it does not list (image/jphc came to PS3.18 Table 8.7.3-5 later):
# those are asked through its own session and multipart decoder.
UNKNOWN_TO_THE_CLIENT = {"image/jphc"}
# Instances: row of the table -> the transfer syntax of application/dicom they are asked in.
INSTANCE_REQUESTS = {"retrieve_instance JPEG-LS .4.80": "1.2.840.10008.1.2.4.80",
                     "retrieve_instance JPEG 2000 .4.90": "1.2.840.10008.1.2.4.90"}
CALLS = (
    "search_for_studies", "search_for_series", "search_for_series(study)", "search_for_instances",
    "search_for_instances(study)", "search_for_instances(study, series)",
    "retrieve_study", "retrieve_series", "retrieve_instance", *INSTANCE_REQUESTS,
    "retrieve_study_metadata", "retrieve_series_metadata", "retrieve_instance_metadata",
    *FRAME_REQUESTS,
    "retrieve_series_rendered", "retrieve_instance_rendered", "retrieve_instance_frames_rendered",
    "retrieve_bulkdata", "store_instances",
)
NOT_COMPARED = {"00081190": "Retrieve URL: each server's own URL"}
UID_KEYWORDS = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "instance": "SOPInstanceUID"}
UID_TAGS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}
DEPTH = {"study": 1, "series": 2, "instance": 3}  # UIDs that name an entity of the level


# ------------------------------------------------------------------ the table of calls


@dataclass
class CallTable:
    """For each call and server: whether it was asked, and each request it failed or answered wrongly."""

    asked: dict = field(default_factory=lambda: {call: set() for call in CALLS})
    problems: dict = field(default_factory=lambda: {call: {OURS: [], ORTHANC: []} for call in CALLS})

    def works(self, call: str, server: str) -> bool:
        return server in self.asked[call] and not self.problems[call][server]

    def cell(self, call: str, server: str) -> str:
        if server not in self.asked[call]:
            return "not run"
        problems = self.problems[call][server]
        return "yes" if not problems else f"NO: {'; '.join(dict.fromkeys(problems))}"

    def render(self) -> str:
        width = max(map(len, CALLS))
        lines = [f"{'dicomweb-client call':{width}}  {OURS:4}  {ORTHANC}"]
        lines += [f"{call:{width}}  {self.cell(call, OURS):4}  {self.cell(call, ORTHANC)}" for call in CALLS]
        lines += [f"{server}: {sum(self.works(call, server) for call in CALLS)} of {len(CALLS)} calls work"
                  for server in (OURS, ORTHANC)]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def call_table():
    table = CallTable()
    yield table
    print("\n" + table.render())


# ------------------------------------------------------------------ the servers


@dataclass(frozen=True)
class Servers:
    """Both clients, the source files as ingested, and the table their answers are recorded in."""

    ours: DICOMwebClient
    orthanc: DICOMwebClient
    sources: list
    table: CallTable

    def ask(self, call: str, request: str | Callable, *args, note: str = "", **kwargs) -> tuple:
        """Ours' answer (it must answer) and Orthanc's (None where it failed), both recorded under ``call``
        (a failure with ``note``). ``request``: a method of the client, or a function of the client, given
        ``args`` and ``kwargs``."""
        self.table.asked[call].update((OURS, ORTHANC))
        try:
            ours = _asked(self.ours, request, args, kwargs)
        except Exception as exc:
            self.table.problems[call][OURS].append(note + _why(exc))
            raise
        try:
            return ours, _asked(self.orthanc, request, args, kwargs)
        except Exception as exc:  # whatever Orthanc answers, or the client makes of it: recorded
            self.table.problems[call][ORTHANC].append(note + _why(exc))
            return ours, None

    def judge(self, call: str, ours, theirs, expected, what: str, view: Callable = lambda answer: answer) -> None:
        """Record each answer whose ``view`` is not ``expected`` as ``what``; ours must be right."""
        for server, answer in ((OURS, ours), (ORTHANC, theirs)):
            if answer is not None and view(answer) != expected:
                self.table.problems[call][server].append(what)
        assert view(ours) == expected, f"{call}: {what}; ours: {view(ours)!r:.300}"


def _asked(client: DICOMwebClient, request: str | Callable, args, kwargs):
    return getattr(client, request)(*args, **kwargs) if isinstance(request, str) else request(client, *args, **kwargs)


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        try:
            body = response.json()
            detail = body.get("Details") or body.get("Message") or body.get("detail") or ""
        except ValueError:
            detail = ""
        return f"HTTP {response.status_code} {detail}".strip()[:100]
    return f"{type(exc).__name__}: {exc}"[:100]


def source_datasets() -> list[pydicom.Dataset]:
    """MR_small, CT_small, emri_small and two synthetic DX images: five studies of one instance each."""
    files = [pydicom.dcmread(get_testdata_file(name)) for name in ("MR_small.dcm", "CT_small.dcm", "emri_small.dcm")]
    return files + [case_datasets(seed=seed)[0] for seed in (41, 42)]


@pytest.fixture
def servers(request, transactional_db, live_server, make_study, coordinator, call_table, settings, tmp_path) -> Servers:
    """Our service in local image mode and the module's Orthanc, both holding the files we stored."""
    orthanc = request.getfixturevalue("orthanc_for_module")
    settings.DICOM_STORAGE, settings.FRAME_CACHE_DIR = tmp_path / "store", tmp_path / "frame-cache"
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "local", ""
    cache.clear()
    study = make_study(n_readers=1, n_cases=0, status="draft", allow_identified_data=True)
    sources = source_datasets()
    ingest_as_is(coordinator, study, sources, tmp_path / "incoming")
    for instance in DicomInstance.objects.all():  # the same bytes on every test: Orthanc keeps them once
        orthanc.upload(stored_file(instance.sop_instance_uid))
    assert len(requests.get(f"{orthanc.url}/instances", timeout=10).json()) == len(sources)
    return Servers(ours_client(live_server, coordinator), DICOMwebClient(orthanc.dicomweb), sources, call_table)


def ours_client(live_server, user, **prefixes) -> DICOMwebClient:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {AuthToken.objects.create(user=user)[1]}"
    return DICOMwebClient(f"{live_server.url}/dicomweb", session=session, **prefixes)


def stored_file(sop_instance_uid: str) -> bytes:
    return content_store().path_for(DicomInstance.objects.get(sop_instance_uid=sop_instance_uid).sha256).read_bytes()


def uids_of(ds: pydicom.Dataset, level: str = "instance") -> tuple[str, ...]:
    return (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)[:DEPTH[level]]


# ------------------------------------------------------------------ QIDO-RS


def test_searches_at_every_level_find_the_same_entities_with_the_same_attributes(servers):
    mr, ct, emri, dx1, dx2 = every = servers.sources
    studies = searches(servers, "search_for_studies", "study")
    studies("all", every)
    studies("PatientName=compressedsamples* fuzzymatching", [mr, ct], fuzzymatching=True,
            search_filters={"PatientName": "compressedsamples*"})
    studies("StudyDate=20040101-20041231", [mr, ct], search_filters={"StudyDate": "20040101-20041231"})
    studies("ModalitiesInStudy=DX", [dx1, dx2], search_filters={"ModalitiesInStudy": "DX"})
    studies("limit=2 get_remaining", every, limit=2, get_remaining=True)
    ours, _ = studies("includefield", every, fields=["PatientAge", "00101030"])
    assert_included(ours, "study", {"00101010": [ct, dx1, dx2], "00101030": [mr, ct]})
    assert_pages(servers, "search_for_studies", "study")

    series = searches(servers, "search_for_series", "series")
    series("all", every)
    series("Modality=MR", [mr, emri], search_filters={"Modality": "MR"})
    for ds in every:
        ours, _ = searches(servers, "search_for_series(study)", "series")(
            "includefield", [ds], ds.StudyInstanceUID, fields=["BodyPartExamined"])
        assert_included(ours, "series", {"00180015": [d for d in (emri, dx1, dx2) if d is ds]})

    searches(servers, "search_for_instances", "instance")("Modality=CT", [ct], search_filters={"Modality": "CT"})
    assert_pages(servers, "search_for_instances", "instance")
    for ds in every:
        searches(servers, "search_for_instances(study)", "instance")("all", [ds], ds.StudyInstanceUID)
    in_series = searches(servers, "search_for_instances(study, series)", "instance")
    ours, _ = in_series("includefield", [emri], *uids_of(emri, "series"), fields=["MagneticFieldStrength", "00180088"])
    assert_included(ours, "instance", {"00180087": [emri], "00180088": [emri]})
    ours, _ = in_series("includefield=all", [emri], *uids_of(emri, "series"), fields=["all"])
    assert "00189004" in ours[0]  # Content Qualification: no level's default


def searches(servers: Servers, call: str, level: str):
    """Searches by the client method ``call`` names: each answer must name the ``level`` entities of
    ``expected`` (source data sets) once each; the attributes both servers return for an entity must be equal."""
    method = call.partition("(")[0]

    def search(query: str, expected: list, *args, **kwargs):
        ours, theirs = servers.ask(call, method, *args, note=f"{query}: ", **kwargs)
        servers.judge(call, ours, theirs, sorted(getattr(ds, UID_KEYWORDS[level]) for ds in expected),
                      f"{query} found other {level} entities than the {len(expected)} it should",
                      view=partial(uids, level=level))
        if theirs is not None:
            assert_same_attributes(by_uid(ours, level), by_uid(theirs, level), required=(UID_TAGS[level],))
        return ours, theirs

    return search


def assert_pages(servers: Servers, call: str, level: str) -> None:
    """limit and offset: pages of 2 that together hold every entity once."""
    ours, theirs = servers.ask(call, pages, call, level)
    every = sorted(getattr(ds, UID_KEYWORDS[level]) for ds in servers.sources)
    servers.judge(call, ours, theirs, ([2, 2, 1], every), "limit=2, offset=0, 2, 4: not pages of every entity once",
                  view=lambda answer: ([len(page) for page in answer], sorted(uid for page in answer for uid in page)))


def pages(client: DICOMwebClient, method: str, level: str) -> list[list[str]]:
    return [uids(getattr(client, method)(limit=2, offset=offset), level) for offset in (0, 2, 4)]


def uids(results: list[dict], level: str) -> list[str]:
    return sorted(result[UID_TAGS[level]]["Value"][0] for result in results)


def by_uid(results: list[dict], level: str) -> dict[str, dict]:
    return {result[UID_TAGS[level]]["Value"][0]: result for result in results}


def assert_included(results: list[dict], level: str, included: dict[str, list]) -> None:
    """Each includefield attribute has a value in the results of the entities ``included`` names, only there."""
    for tag, having in included.items():
        with_value = {uid for uid, result in by_uid(results, level).items() if result.get(tag, {}).get("Value")}
        assert with_value == {getattr(ds, UID_KEYWORDS[level]) for ds in having}, tag


def assert_same_attributes(ours: dict[str, dict], theirs: dict[str, dict], required: tuple[str, ...]) -> None:
    """For every entity both name (by UID): the attributes both return have equal values; ``required`` among them."""
    for uid in ours.keys() & theirs.keys():
        compared = compared_tags(ours[uid], theirs[uid])
        assert set(required) <= compared, (uid, set(required) - compared)
        for tag in compared:
            assert element_value(tag, ours[uid][tag]) == element_value(tag, theirs[uid][tag]), (uid, tag)


def compared_tags(ours: dict, theirs: dict) -> set[str]:
    """The tags both DICOM JSON objects hold, but for the Retrieve URL, private ones and bulk data."""
    return {tag for tag in ours.keys() & theirs.keys() if tag not in NOT_COMPARED and not int(tag[:4], 16) % 2
            and "BulkDataURI" not in ours[tag] and "BulkDataURI" not in theirs[tag]}


def element_value(tag: str, element: dict):
    """The value as pydicom reads it, so that "1" and 1 of an IS, or an empty element with or without
    a Value, compare alike."""
    return pydicom.Dataset.from_json({tag: element})[tag].value


# ------------------------------------------------------------------ WADO-RS: instances and metadata

# The methods of each call: the one that reads the whole answer, and the one that streams it where there is one.
RETRIEVALS = {"study": ("retrieve_study", "iter_study"), "series": ("retrieve_series", "iter_series"),
              "instance": ("retrieve_instance",)}


@pytest.mark.parametrize("level", DEPTH)
def test_retrieved_instances_are_the_stored_files(servers, level):
    call = f"retrieve_{level}"
    for source in servers.sources:
        stored = pydicom.dcmread(io.BytesIO(stored_file(source.SOPInstanceUID)))
        for method in RETRIEVALS[level]:
            ours, theirs = servers.ask(call, listed, method, *uids_of(source, level))
            servers.judge(call, ours, theirs, [source.SOPInstanceUID], f"{method}: other instances than the source's",
                          view=lambda datasets: [ds.SOPInstanceUID for ds in datasets])
            servers.judge(call, ours, theirs, stored, f"{method}: not the stored file", view=lambda datasets: datasets[0])
            servers.judge(call, ours, theirs, source.pixel_array.tolist(), f"{method}: other pixels than the source's",
                          view=lambda datasets: datasets[0].pixel_array.tolist())


@pytest.mark.parametrize("call", INSTANCE_REQUESTS)
def test_instances_asked_in_a_lossless_syntax_come_in_it_with_the_source_pixels(servers, call):
    syntax = INSTANCE_REQUESTS[call]
    for source in servers.sources:
        ours, theirs = servers.ask(call, "retrieve_instance", *uids_of(source),
                                   media_types=(("application/dicom", syntax),))
        servers.judge(call, ours, theirs, syntax, "not in the syntax asked for",
                      view=lambda ds: ds.file_meta.TransferSyntaxUID)
        servers.judge(call, ours, theirs, source.pixel_array.tolist(), "other pixels than the source's",
                      view=lambda ds: ds.pixel_array.tolist())


def listed(client: DICOMwebClient, method: str, *args) -> list:
    """The answer as a list: an instance's (a data set, a DICOM JSON object) alone, a study's or series' all."""
    answer = getattr(client, method)(*args)
    return [answer] if isinstance(answer, pydicom.Dataset | dict) else list(answer)


@pytest.mark.parametrize("level", DEPTH)
def test_metadata_has_the_same_attribute_values(servers, level):
    call = f"retrieve_{level}_metadata"
    for source in servers.sources:
        ours, theirs = servers.ask(call, listed, call, *uids_of(source, level))
        servers.judge(call, ours, theirs, [source.SOPInstanceUID], "other instances than the source's",
                      view=partial(uids, level="instance"))
        if theirs is not None:
            assert_same_attributes(by_uid(ours, "instance"), by_uid(theirs, "instance"),
                                   required=("00080018", "00100010", "00280010", "00280100"))
        assert "BulkDataURI" in ours[0]["7FE00010"]


def test_bulk_data_is_the_pixel_data(servers):
    """The Pixel Data each server's metadata points at: with dicomweb-client's default media types, as
    application/octet-stream, and streamed."""
    call = "retrieve_bulkdata"
    for source in servers.sources:
        ours_uri, theirs_uri = servers.ask(call, pixel_data_uri, *uids_of(source))
        uri_of = {servers.ours: ours_uri, servers.orthanc: theirs_uri}
        for method, media_types in (("retrieve_bulkdata", None), ("retrieve_bulkdata", ("application/octet-stream",)),
                                    ("iter_bulkdata", ("application/octet-stream",))):
            ours, theirs = servers.ask(call, bulk_data, method, uri_of, media_types=media_types,
                                       note=f"media types {media_types}: ")
            servers.judge(call, ours, theirs, [source.PixelData], f"{method}, media types {media_types}: not the Pixel Data")


def pixel_data_uri(client: DICOMwebClient, *uids: str) -> str:
    return client.retrieve_instance_metadata(*uids)["7FE00010"]["BulkDataURI"]


def bulk_data(client: DICOMwebClient, method: str, uri_of: dict, **kwargs) -> list[bytes]:
    return list(getattr(client, method)(uri_of[client], **kwargs))


# ------------------------------------------------------------------ WADO-RS: frames


@pytest.mark.parametrize("call", FRAME_REQUESTS)
def test_frames_decode_to_the_source_pixels(servers, call):
    """Frames of the 10-frame MR (2 and 5), the signed MR and a DX, read whole and streamed: native ones are
    the bytes of the source's Pixel Data, compressed ones decode (by pydicom's plugins) to the source's pixels."""
    media_type, syntax = FRAME_REQUESTS[call]
    mr, _, emri, dx, _ = servers.sources
    methods = ("retrieve_instance_frames", "iter_instance_frames") if media_type not in UNKNOWN_TO_THE_CLIENT else (
        None,)
    asked_syntaxes = (syntax, None) if syntax in DEFAULT_SYNTAXES else (syntax,)
    for source, numbers in ((emri, [2, 5]), (mr, [1]), (dx, [1])):
        instance = DicomInstance.objects.select_related("series__dicom_study").get(
            sop_instance_uid=source.SOPInstanceUID)
        pixels = source.pixel_array.reshape(-1, source.Rows, source.Columns)[[number - 1 for number in numbers]]
        for method, asked in ((method, asked) for method in methods for asked in asked_syntaxes):
            what = f"{media_type}; transfer-syntax={asked or '(none)'}"
            ours, theirs = servers.ask(call, frames, method, uids_of(source), numbers, media_type, asked,
                                       note=f"{what}: ")
            if media_type == "application/octet-stream":
                expected = [native_frame(source, number) for number in numbers]
                servers.judge(call, ours, theirs, expected, f"{what}: not the source's bytes")
            else:
                servers.judge(call, ours, theirs, pixels.tolist(), f"{what}: not the source's pixels",
                              view=partial(decoded_frames, instance, syntax, pixels.shape))


def frames(client: DICOMwebClient, method: str | None, uids: tuple[str, ...], numbers: list[int], media_type: str,
           syntax: str | None) -> list[bytes]:
    """The frames by the client's ``method``, or with its session and multipart decoder where it has none."""
    if method:
        media_types = ((media_type, syntax),) if syntax else (media_type,)
        return list(getattr(client, method)(*uids, frame_numbers=numbers, media_types=media_types))
    url = f"{client._get_instances_url(_Transaction.RETRIEVE, *uids)}/frames/{','.join(map(str, numbers))}"
    accept = f'multipart/related; type="{media_type}"' + (f"; transfer-syntax={syntax}" if syntax else "")
    return list(client._decode_multipart_message(client._http_get(url, headers={"Accept": accept}), stream=False))


def decoded_frames(instance: DicomInstance, syntax: str, shape: tuple[int, ...], parts: list[bytes]) -> list:
    return decoded_parts(instance, syntax, parts).reshape(shape).tolist()


def native_frame(ds: pydicom.Dataset, number: int) -> bytes:
    size = len(ds.PixelData) // ds.get("NumberOfFrames", 1)
    return ds.PixelData[(number - 1) * size:number * size]


# ------------------------------------------------------------------ WADO-RS: rendered


def test_rendered_images_have_the_same_size(servers):
    """Series, instance (JPEG by default, PNG, and a 32-pixel viewport) and frame: images of each source's
    Columns x Rows, or fitted into the viewport."""
    for source in servers.sources:
        size = (source.Columns, source.Rows)
        asked = [
            ("retrieve_series_rendered", "JPEG", uids_of(source, "series"), {}, size),
            ("retrieve_instance_rendered", "JPEG", uids_of(source), {}, size),
            ("retrieve_instance_rendered", "PNG", uids_of(source), {"media_types": ("image/png",)}, size),
            ("retrieve_instance_rendered", "viewport=32,32", uids_of(source), {"params": {"viewport": "32,32"}},
             fitted(size, 32)),
            ("retrieve_instance_frames_rendered", "JPEG", uids_of(source), {"frame_numbers": [1]}, size),
        ]
        for call, what, uids, kwargs, expected in asked:
            ours, theirs = servers.ask(call, image_sizes, call, *uids, note=f"{what}: ", **kwargs)
            servers.judge(call, ours, theirs, [expected], f"{what}: images of other sizes than {expected}")


def image_sizes(client: DICOMwebClient, method: str, *args, **kwargs) -> list[tuple[int, int]]:
    return [image.size for image in images_in(getattr(client, method)(*args, **kwargs))]


def fitted(size: tuple[int, int], viewport: int) -> tuple[int, int]:
    scale = min(viewport / max(size), 1)
    return round(size[0] * scale), round(size[1] * scale)


def images_in(content: bytes) -> list[Image.Image]:
    """The images of a rendered answer: one image, or the parts of a multipart/related body (ours for a series),
    whose boundary dicomweb-client does not pass on: the body's first line is its delimiter."""
    if not content.startswith(b"--"):
        return [Image.open(io.BytesIO(content))]
    delimiter = content.split(b"\r\n", 1)[0]
    return [Image.open(io.BytesIO(part.split(b"\r\n\r\n", 1)[1][:-2])) for part in content.split(delimiter)[1:-1]]


# ------------------------------------------------------------------ STOW-RS


def test_stored_instances_come_back_with_their_pixels(transactional_db, live_server, make_study, coordinator, orthanc,
                                                      call_table, settings, tmp_path):
    """STOW-RS of a DX image and the 10-frame MR: to our study-scoped URL with a coordinator's token (the instances
    are de-identified, under new UIDs), to Orthanc's /dicom-web/studies; each comes back with the source pixels."""
    settings.DICOM_STORAGE, settings.IMAGE_MODE = tmp_path / "store", "local"
    cache.clear()
    study = make_study(n_readers=1, n_cases=0, status="draft")
    sources = [part10(case_datasets(seed=43)[0]), pydicom.dcmread(get_testdata_file("emri_small.dcm"))]
    servers = Servers(ours_client(live_server, coordinator, stow_url_prefix=f"studies-of/{study.pk}"),
                      DICOMwebClient(orthanc.dicomweb), sources, call_table)
    call = "store_instances"
    ours, theirs = servers.ask(call, call, sources)
    servers.judge(call, ours, theirs, (0, 2), "not every instance stored", view=lambda answer: (
        len(answer.get("FailedSOPSequence") or []), len(answer.get("ReferencedSOPSequence") or [])))
    assert {item.WarningReason for item in ours.ReferencedSOPSequence} == {0xB000}  # coerced: de-identified
    for source, ours_item in zip(sources, ours.ReferencedSOPSequence, strict=True):
        path = ours_item.RetrieveURL.split("/studies/", 1)[1]
        retrieved = servers.ours.retrieve_instance(*path.replace("/series/", "/").replace("/instances/", "/").split("/"))
        assert retrieved.pixel_array.tolist() == source.pixel_array.tolist()
        if theirs is not None:
            assert servers.orthanc.retrieve_instance(*uids_of(source)).pixel_array.tolist() == source.pixel_array.tolist()


def part10(ds: pydicom.Dataset) -> pydicom.Dataset:
    """``ds`` as read from a Part 10 file. dicomweb-client writes a data set as it was read, and one made in
    memory has no preamble, which PS3.10 7.1 (and so STOW-RS, PS3.18 10.5.1) requires and ours insists on."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))
