"""WADO-RS frames and instances transcoded on request into the lossless syntaxes offered (PS3.18 8.7.3.5):
each decodes, with pydicom's own plugins, to exactly the stored pixels (an instance keeps every other element);
a frame is encoded once across requests, for the frames and the instance resources alike; a lossy source, or
an archive the platform does not hold, answers 406 naming why."""

import io

import pydicom
import pydicom.encaps
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, parse_basic_offsets
from pydicom.tag import Tag
from pydicom.uid import UID

from mrmc.dicom.transcode import OFFERED_SYNTAXES
from studies.dicomweb import local
from studies.models import DicomInstance
from studies.services import ingest
from tests.dicomweb.archives import body_of, logged_in, parts_of

PIXEL_DATA = Tag(0x7FE0, 0x0010)
MEDIA_TYPES = {"1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.90": "image/jp2",
               "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc"}


@pytest.fixture
def stored(make_study, coordinator, settings, tmp_path) -> dict:
    """An MR (native, signed 16-bit), a 10-frame enhanced MR and a lossy JPEG, as the platform stores them."""
    settings.FRAME_CACHE_DIR = tmp_path / "frame-cache"
    study = make_study(n_readers=1, n_cases=0, status="draft", allow_identified_data=True)
    names = {"mr": "MR_small.dcm", "multiframe": "emri_small.dcm", "lossy": "SC_rgb_jpeg_dcmtk.dcm"}
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[get_testdata_file(n) for n in names.values()])
    assert report.stored == 3, report.as_dict()
    by_sop = {pydicom.dcmread(get_testdata_file(n), stop_before_pixels=True).SOPClassUID: key
              for key, n in names.items()}
    instances = {}
    for instance in DicomInstance.objects.select_related("series__dicom_study"):
        key = by_sop.get(instance.sop_class_uid) if instance.transfer_syntax_uid != "1.2.840.10008.1.2.4.50" else "lossy"
        instances[key] = instance
    return instances


def frames_url(instance: DicomInstance, frames: str) -> str:
    return (f"/dicomweb/studies/{instance.series.dicom_study.study_instance_uid}/series/"
            f"{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}/frames/{frames}")


def accept(syntax: str) -> dict:
    return {"HTTP_ACCEPT": f'multipart/related; type="{MEDIA_TYPES[syntax]}"; transfer-syntax={syntax}'}


def stored_pixels(instance: DicomInstance):
    return pydicom.dcmread(ingest.content_store().path_for(instance.sha256)).pixel_array


def decoded_parts(instance: DicomInstance, syntax: str, parts: list[bytes]):
    """The parts as the Pixel Data of a copy of the instance in ``syntax``, decoded by pydicom's plugins."""
    ds = pydicom.dcmread(ingest.content_store().path_for(instance.sha256))
    copy = Dataset()
    copy.update(ds)
    copy.file_meta = FileMetaDataset(ds.file_meta)
    copy.file_meta.TransferSyntaxUID = UID(syntax)
    copy.PixelData = encapsulate(parts)
    copy["PixelData"].VR = "OB"
    copy.NumberOfFrames = len(parts)
    return copy.pixel_array


@pytest.mark.parametrize("syntax", [str(uid) for uid in OFFERED_SYNTAXES])
@pytest.mark.parametrize("name,frames", [("mr", "1"), ("multiframe", "2,10")])
def test_transcoded_frames_decode_to_the_stored_pixels(stored, coordinator, syntax, name, frames):
    instance = stored[name]
    response = logged_in(coordinator).get(frames_url(instance, frames), **accept(syntax))
    assert response.status_code == 200, body_of(response)[:300]
    body = body_of(response)
    assert f'type="{MEDIA_TYPES[syntax]}"' in response["Content-Type"] or MEDIA_TYPES[syntax] in response["Content-Type"]
    assert f"transfer-syntax={syntax}".encode() in body
    numbers = [int(n) for n in frames.split(",")]
    pixels = decoded_parts(instance, syntax, parts_of(response, body))
    expected = stored_pixels(instance)
    if len(numbers) == 1 and expected.ndim == 2:
        assert (pixels == expected).all()
    else:
        assert (pixels == expected[[n - 1 for n in numbers]]).all()


@pytest.mark.parametrize("media_type,syntax", [("image/jls", "1.2.840.10008.1.2.4.80"),
                                               ("image/jp2", "1.2.840.10008.1.2.4.90"),
                                               ("image/jphc", "1.2.840.10008.1.2.4.201")])
def test_a_media_type_without_a_syntax_means_its_default_syntax(stored, coordinator, media_type, syntax):
    """PS3.18 Table 8.7.3-5: the default of each media type, as dicomweb-client asks for media_types=("image/jls",)."""
    instance = stored["mr"]
    response = logged_in(coordinator).get(frames_url(instance, "1"), HTTP_ACCEPT=f'multipart/related; type="{media_type}"')
    assert response.status_code == 200, body_of(response)[:300]
    body = body_of(response)
    assert f"transfer-syntax={syntax}".encode() in body
    assert (decoded_parts(instance, syntax, parts_of(response, body)) == stored_pixels(instance)).all()


def test_a_frame_is_encoded_once_across_requests(stored, coordinator, monkeypatch):
    encodes = []
    real = local.encode_frame
    monkeypatch.setattr(local, "encode_frame", lambda *args: encodes.append(args[1:]) or real(*args))
    client, syntax = logged_in(coordinator), "1.2.840.10008.1.2.4.201"
    bodies = [body_of(client.get(frames_url(stored["multiframe"], "3"), **accept(syntax))) for _ in range(3)]
    assert encodes == [(3, syntax)] and bodies[0] == bodies[1] == bodies[2]


def test_a_lossy_source_is_not_transcoded(stored, coordinator):
    response = logged_in(coordinator).get(frames_url(stored["lossy"], "1"), **accept("1.2.840.10008.1.2.4.201"))
    assert response.status_code == 406
    assert "frames cannot be given as 1.2.840.10008.1.2.4.201" in response.json()["detail"]


def test_an_unoffered_syntax_lists_what_is_offered(stored, coordinator):
    response = logged_in(coordinator).get(
        frames_url(stored["mr"], "1"), HTTP_ACCEPT='multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50')
    assert response.status_code == 406
    assert "transcoded losslessly: image/jls; transfer-syntax=1.2.840.10008.1.2.4.80" in response.json()["detail"]


# ------------------------------------------------------------- instances (PS3.18 8.7.3.5.2)

def instance_url(instance: DicomInstance) -> str:
    return frames_url(instance, "1").removesuffix("/frames/1")


def study_url(instance: DicomInstance) -> str:
    return f"/dicomweb/studies/{instance.series.dicom_study.study_instance_uid}"


def dicom_accept(syntax: str) -> dict:
    return {"HTTP_ACCEPT": f'multipart/related; type="application/dicom"; transfer-syntax={syntax}'}


def without_pixels(ds: pydicom.Dataset) -> dict:
    return {element.tag: element.value for element in ds if element.tag != PIXEL_DATA}


@pytest.mark.parametrize("syntax", [str(uid) for uid in OFFERED_SYNTAXES])
@pytest.mark.parametrize("name", ["mr", "multiframe"])
def test_a_transcoded_instance_holds_the_stored_pixels_and_every_other_element(stored, coordinator, syntax, name):
    instance = stored[name]
    response = logged_in(coordinator).get(instance_url(instance), **dicom_accept(syntax))
    assert response.status_code == 200, body_of(response)[:300]
    assert response["Content-Type"].startswith(f'multipart/related; type="application/dicom"; transfer-syntax={syntax}')
    (part,) = parts_of(response)
    given = pydicom.dcmread(io.BytesIO(part))
    original = pydicom.dcmread(ingest.content_store().path_for(instance.sha256))
    assert given.file_meta.TransferSyntaxUID == syntax
    assert len(parse_basic_offsets(given.PixelData)) == instance.number_of_frames  # a Basic Offset Table
    assert (given.pixel_array == original.pixel_array).all()
    assert without_pixels(given) == without_pixels(original)


def test_an_instance_is_given_in_the_frames_encoded_once(stored, coordinator, monkeypatch):
    encodes = []
    real = local.encode_frame
    monkeypatch.setattr(local, "encode_frame", lambda *args: encodes.append(args[1:]) or real(*args))
    client, syntax, instance = logged_in(coordinator), "1.2.840.10008.1.2.4.80", stored["multiframe"]
    frame = parts_of(client.get(frames_url(instance, "4"), **accept(syntax)))[0]
    bodies = [body_of(client.get(instance_url(instance), **dicom_accept(syntax))) for _ in range(2)]
    assert sorted(encodes) == [(number, syntax) for number in range(1, instance.number_of_frames + 1)]
    assert bodies[0] == bodies[1]
    given = pydicom.dcmread(io.BytesIO(parts_of(client.get(instance_url(instance), **dicom_accept(syntax)))[0]))
    fourth = list(pydicom.encaps.generate_frames(given.PixelData, number_of_frames=instance.number_of_frames))[3]
    assert fourth in (frame, frame + b"\x00")  # a fragment is padded to an even length (PS3.5 A.4)


def test_as_stored_and_refused_instances(stored, coordinator):
    client, instance = logged_in(coordinator), stored["mr"]
    as_stored = parts_of(client.get(instance_url(instance), **dicom_accept("*")))
    assert as_stored == [ingest.content_store().path_for(instance.sha256).read_bytes()]
    lossy = stored["lossy"]
    response = client.get(study_url(lossy), **dicom_accept("1.2.840.10008.1.2.4.201"))
    assert response.status_code == 406
    assert f"instance {lossy.sop_instance_uid} cannot be given as 1.2.840.10008.1.2.4.201" in response.json()["detail"]
    response = client.get(instance_url(instance), **dicom_accept("1.2.840.10008.1.2.4.50"))
    assert response.status_code == 406
    assert "transcoded losslessly into: 1.2.840.10008.1.2.4.80" in response.json()["detail"]
