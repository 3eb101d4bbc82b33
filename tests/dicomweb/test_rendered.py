"""Rendered resources and thumbnails (PS3.18 10.4.1.1.4-5): study, series, instance and frames, as JPEG
or PNG with window, viewport and quality; which instance a thumbnail shows."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from studies.models import DicomInstance
from studies.services import ingest
from tests.dicomweb.archives import (  # noqa: F401 - fixtures used here
    body_of,
    decoded,
    image,
    image_mode,
    ingest_as_is,
    logged_in,
    orthanc_for_module,
    parts_of,
)

FULL_RANGE = {"window": "2048,4096,linear"}  # 12-bit values: 0 black, 4095 white, 2048 mid grey
MR_WINDOW = (240.0, 400.0)
PNG, JPEG = {"HTTP_ACCEPT": "image/png"}, {"HTTP_ACCEPT": "image/jpeg"}


@pytest.fixture
def pictures(image_mode, make_study, coordinator, tmp_path) -> dict:  # noqa: F811
    """A study of uniform images: series 1 holds a white image (instance 1) and a black one (instance 2,
    stored first), series 2 a grey one of 300 x 200; and a 10-frame MR."""
    uids = {name: generate_uid() for name in ("study", "s1", "s2")}
    white = image(study=uids["study"], series=uids["s1"], SeriesNumber=1, InstanceNumber=1, pixel_value=4095)
    black = image(study=uids["study"], series=uids["s1"], SeriesNumber=1, InstanceNumber=2, pixel_value=0)
    grey = image(study=uids["study"], series=uids["s2"], SeriesNumber=2, InstanceNumber=1, pixel_value=2048,
                 shape=(200, 300))
    reader_study = make_study(n_readers=1, n_cases=0, status="draft", allow_identified_data=True)
    ingest_as_is(coordinator, reader_study, [black, white, grey], tmp_path / "pictures")
    report = ingest.ingest_paths(actor=coordinator, study=reader_study, paths=[get_testdata_file("emri_small.dcm")])
    assert report.stored == 1
    study = f"/dicomweb/studies/{uids['study']}"
    urls = {"study": study, "s1": f"{study}/series/{uids['s1']}", "s2": f"{study}/series/{uids['s2']}"}
    for name, ds, series in (("white", white, "s1"), ("black", black, "s1"), ("grey", grey, "s2")):
        urls[name] = f"{urls[series]}/instances/{ds.SOPInstanceUID}"
    mr = DicomInstance.objects.select_related("series__dicom_study").get(series__modality="MR")
    urls["mr"] = (f"/dicomweb/studies/{mr.series.dicom_study.study_instance_uid}/series/"
                  f"{mr.series.series_instance_uid}/instances/{mr.sop_instance_uid}")
    return {"urls": urls, "client": logged_in(coordinator)}


def mr_frame(number: int) -> np.ndarray:
    """Frame ``number`` of the MR through the LINEAR window of PS3.3 C.11.2.1.2.1, in 8 bits."""
    values = pydicom.dcmread(get_testdata_file("emri_small.dcm")).pixel_array[number - 1].astype(np.float64)
    center, width = MR_WINDOW
    return np.rint(np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255).astype(np.uint8)


def pixels(data: bytes, expected_format: str = "PNG") -> np.ndarray:
    return np.asarray(decoded(data, expected_format))


def get(pictures, name: str, suffix: str, params=None, **headers):
    """The response, its body read once into ``response.data``."""
    response = pictures["client"].get(pictures["urls"][name] + suffix, params or {}, **headers)
    response.data = body_of(response)
    assert response.status_code == 200, response.data[:300]
    return response


def test_a_rendered_frame_is_its_pixels_through_the_window(pictures):
    window = {"window": f"{MR_WINDOW[0]},{MR_WINDOW[1]}"}
    third = get(pictures, "mr", "/frames/3/rendered", window, **PNG)
    assert third["Content-Type"] == "image/png"
    assert np.array_equal(pixels(third.data), mr_frame(3)) and not np.array_equal(mr_frame(3), mr_frame(1))
    assert get(pictures, "mr", "/rendered", {**window, "frame": 3}, **PNG).data == third.data
    both = get(pictures, "mr", "/frames/1,3/rendered", window, **PNG)
    assert both["Content-Type"].startswith('multipart/related; type="image/png"')
    assert [pixels(part).tolist() for part in parts_of(both, both.data)] == [mr_frame(1).tolist(), mr_frame(3).tolist()]
    jpeg = get(pictures, "mr", "/frames/2/rendered", {"quality": "70"})
    assert jpeg["Content-Type"] == "image/jpeg" and decoded(jpeg.data, "JPEG").size == (64, 64)
    client, mr = pictures["client"], pictures["urls"]["mr"]
    assert client.get(mr + "/frames/11/rendered").status_code == 404
    assert client.get(mr + "/frames/0/rendered").status_code == 400
    assert client.get(mr + "/frames/1/rendered", HTTP_ACCEPT="image/gif").status_code == 406


def test_a_rendered_series_and_study_are_every_image_in_order(pictures):
    series = get(pictures, "s1", "/rendered", FULL_RANGE, **PNG)
    assert series["Content-Type"].startswith('multipart/related; type="image/png"')
    assert [(pixels(part).min(), pixels(part).max()) for part in parts_of(series, series.data)] == [(255, 255), (0, 0)]
    study = get(pictures, "study", "/rendered", FULL_RANGE, **PNG)
    images = [decoded(part, "PNG") for part in parts_of(study, study.data)]
    assert [picture.size for picture in images] == [(64, 64), (64, 64), (300, 200)]
    assert [int(np.asarray(picture).mean()) for picture in images] == [255, 0, 128]
    small = get(pictures, "study", "/rendered", {**FULL_RANGE, "viewport": "32,32"}, **JPEG)
    assert [decoded(part, "JPEG").size for part in parts_of(small, small.data)] == [(32, 32), (32, 32), (32, 21)]


def test_a_thumbnail_shows_the_first_image(pictures):
    study = get(pictures, "study", "/thumbnail", FULL_RANGE, **PNG)  # series 1, instance 1: white
    assert study["Content-Type"] == "image/png"
    assert decoded(study.data, "PNG").size == (64, 64) and pixels(study.data).min() == 255
    series = get(pictures, "s2", "/thumbnail", FULL_RANGE, **PNG)  # at most 128 pixels a side
    assert decoded(series.data, "PNG").size == (128, 85) and int(pixels(series.data).mean()) == 128
    black = get(pictures, "black", "/thumbnail", {**FULL_RANGE, "viewport": "16,16"}, **PNG)
    assert decoded(black.data, "PNG").size == (16, 16) and pixels(black.data).max() == 0
    frame = get(pictures, "mr", "/frames/3/thumbnail", {"window": f"{MR_WINDOW[0]},{MR_WINDOW[1]}"}, **PNG)
    assert np.array_equal(pixels(frame.data), mr_frame(3))
    jpeg = get(pictures, "grey", "/thumbnail")
    assert jpeg["Content-Type"] == "image/jpeg" and decoded(jpeg.data, "JPEG").size == (128, 85)


def test_rendering_parameters_are_checked(pictures):
    client, url = pictures["client"], pictures["urls"]["white"]
    for params in ({"window": "1,0"}, {"window": "nan,10"}, {"window": "1,10,sigmoid"}, {"viewport": "10"},
                   {"viewport": "0,10"}, {"quality": "0"}, {"frame": "x"}):
        for suffix in ("/rendered", "/thumbnail"):
            assert client.get(url + suffix, params).status_code == 400, (params, suffix)
