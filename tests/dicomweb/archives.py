"""Studies of known attributes for the QIDO-RS and WADO-RS tests (imported by name), and HTTP helpers."""

import io

import numpy as np
import pytest
from django.test import Client
from PIL import Image
from pydicom.uid import generate_uid

from studies.services import ingest
from tests.conftest import skip_or_fail
from tests.dicomweb.images import case_datasets
from tests.integration.conftest import orthanc_installed, running_orthanc

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
# Where the images are: the local store, or the platform's own archive (Orthanc) that ingest fills.
IMAGE_MODES = ["local", pytest.param("archive", marks=pytest.mark.integration)]


@pytest.fixture(scope="module")
def orthanc_for_module(tmp_path_factory):
    """One Orthanc for a module: each test sees only its own studies there, those its database indexes."""
    if not orthanc_installed():
        skip_or_fail("Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(params=IMAGE_MODES)
def image_mode(request, settings) -> str:
    """Run a test in each image mode whose archive answers every DICOMweb resource."""
    if request.param == "archive":
        settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", request.getfixturevalue(
            "orthanc_for_module").dicomweb
    return request.param


def image(*, study: str, series: str, pixel_value: int | None = None, shape: tuple[int, int] | None = None,
          **attributes):
    """A synthetic 12-bit DX image of ``study`` and ``series`` (UIDs), with the attributes given; its
    pixels one value throughout, or a ``shape`` of its own, when asked."""
    ds = case_datasets(seed=7)[0]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if pixel_value is not None or shape is not None:
        rows, columns = shape or (ds.Rows, ds.Columns)
        ds.Rows, ds.Columns = rows, columns
        ds.PixelData = np.full((rows, columns), pixel_value or 0, dtype=np.uint16).tobytes()
    return ds


def ingest_as_is(coordinator, study, datasets, folder) -> None:
    """Ingest without de-identification (the study allows identified data), so the attributes stay known."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, ds in enumerate(datasets):
        ds.save_as(folder / f"{number:03d}.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)], deidentify_files=False)
    assert report.stored == len(datasets) and not report.rejected, report.as_dict()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def parts_of(response, body: bytes | None = None) -> list[bytes]:
    """The bodies of a multipart/related response (RFC 2387); ``body`` if it was read already."""
    boundary = response["Content-Type"].rsplit("boundary=", 1)[1].encode()
    chunks = (body_of(response) if body is None else body).split(b"--" + boundary)[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1][:-2] for chunk in chunks]


def decoded(data: bytes, expected_format: str) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == expected_format
    return picture


def values(results: list[dict], tag: str) -> list:
    return [(result.get(tag, {}).get("Value") or [None])[0] for result in results]
