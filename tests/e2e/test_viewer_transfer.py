"""How the reading workstation brings frames: transcoded by the server, by default HTJ2K Lossless
RPCL where Cornerstone draws a stream's partial images (its GPU path) and JPEG-LS Lossless where it
waits for whole frames (its CPU path, the default for software WebGL), the network log showing
the Accept and the 200; decoded to exactly the stored pixels; and uncompressed for an image the
server refuses to transcode (406)."""

import hashlib

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from studies.models import Assignment, DicomInstance
from studies.services import ingest

from .browser import login, view, wait_for_case, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_2000 = "1.2.840.10008.1.2.4.90"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


def _frame_log(page) -> list[dict]:
    """Every frame response the page gets: what was asked (Accept), the status and what came."""
    log = []
    page.on("response", lambda r: "/frames/" in r.url and log.append(
        {"url": r.url, "accept": r.request.headers.get("accept", ""), "status": r.status,
         "content_type": r.headers.get("content-type", "")}))
    return log


def _shown_frames(page, log: list[dict]) -> list[dict]:
    """The responses for the displayed image (not those of the next case, fetched ahead)."""
    return [entry for entry in log if f"/instances/{view(page)['instanceUid']}/frames/" in entry["url"]]


def _chest_assignment() -> Assignment:
    """reader1's third case: a demo chest radiograph (the first two are replaced by demo_study)."""
    return Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order")[2]


def _open(page, server, assignment: Assignment, query: str = "") -> dict:
    login(page, server.url, "reader1")
    page.goto(f"{server.url}/read/sessions/{assignment.session_id}/?assignment={assignment.pk}{query}")
    wait_for_case(page)
    wait_until(page, "window.__rw.timings[0].fullQualityMs !== undefined")
    return page.evaluate("window.__rw.timings[0]")


def _stored_pixels(sop_instance_uid: str) -> np.ndarray:
    """The stored frame with its modality LUT, read by pydicom from the file the server serves."""
    instance = DicomInstance.objects.get(sop_instance_uid=sop_instance_uid)
    ds = pydicom.dcmread(ingest.content_store().path_for(instance.sha256))
    return apply_modality_lut(ds.pixel_array, ds)


# The viewport's typed arrays as numpy stores them (little-endian, as the browser's memory here).
ARRAY_TYPES = {"Uint8Array": "<u1", "Int8Array": "<i1", "Uint16Array": "<u2", "Int16Array": "<i2",
               "Uint32Array": "<u4", "Int32Array": "<i4", "Float32Array": "<f4", "Float64Array": "<f8"}


def _assert_shows_stored_pixels(page, index: int = 0) -> None:
    """Every value of the displayed image equals the stored one: compared by digest, and only where they differ
    value by value (4 million values through the page take a minute), to say how many differ."""
    expected = _stored_pixels(view(page, index)["instanceUid"])
    shown = page.evaluate("(i) => window.__rw.pixelDigest(i)", index)
    as_shown = expected.astype(ARRAY_TYPES[shown["type"]])
    assert np.array_equal(as_shown, expected), f"stored values do not fit the viewport's {shown['type']}"
    if hashlib.sha256(as_shown.tobytes()).hexdigest() == shown["sha256"]:
        return
    rows, columns = expected.shape
    values = page.evaluate("([i, w, h]) => window.__rw.pixels(i, { width: w, height: h })", [index, columns, rows])
    values = np.asarray(values).reshape(rows, columns)
    pytest.fail(f"{np.count_nonzero(values != expected)} pixels differ from the stored frame")


@pytest.mark.parametrize(("render", "media_type", "syntax"), [
    ("cpu", "image/jls", JPEG_LS),
    ("gpu", "image/jphc", HTJ2K_RPCL),
])
def test_frames_come_compressed_and_show_the_stored_pixels(page, server, demo_study, render, media_type, syntax):
    log = _frame_log(page)
    timing = _open(page, server, _chest_assignment(), f"&{render}=1")

    assert page.evaluate("window.__rw.rendering") == render
    frame, = _shown_frames(page, log)
    assert frame["status"] == 200, frame
    assert frame["accept"] == f"{media_type}; transfer-syntax={syntax}", frame
    assert frame["content_type"] == f"{media_type}; transfer-syntax={syntax}", frame
    image, = timing["images"]
    assert image["fullQuality"] and image["transferSyntax"] == syntax
    assert image["frame"]["asked"] == syntax and image["frame"]["fallback"] is None
    assert 0 < image["frame"]["bytes"] < image["rows"] * image["columns"] * 2  # compressed, as sent
    assert image["frame"]["decodeMs"] >= 0 and image["frame"]["fetchMs"] > 0
    assert timing["openToFirstImageMs"] <= timing["fullQualityMs"]
    _assert_shows_stored_pixels(page)


def test_an_image_the_server_will_not_transcode_comes_uncompressed(page, server, demo_study, tmp_path, page_problems):
    """A frame once lossy compressed (Lossy Image Compression 01, stored decompressed): transcoding
    it losslessly would claim pixels it no longer has, so the server answers 406 and the viewer
    asks again for it uncompressed."""
    from mrmc.dicom.synth.cases import make_case

    from .scenario import replace_case_images

    page_problems.expect("406")  # the refusal this test is about, and the browser's log of it
    assignment = _chest_assignment()
    datasets, _ = make_case(assignment.case.label, True, 5, shape=(512, 512))
    for ds in datasets:
        ds.LossyImageCompression = "01"
    replace_case_images(assignment.case, datasets, tmp_path / "lossy")
    log = _frame_log(page)
    timing = _open(page, server, assignment)

    frames = _shown_frames(page, log)
    assert [(f["status"], f["accept"]) for f in frames] == [
        (406, f"image/jls; transfer-syntax={JPEG_LS}"),
        (200, f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"),
    ]
    assert frames[1]["content_type"] == f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
    image, = timing["images"]
    assert image["transferSyntax"] == EXPLICIT_VR_LITTLE_ENDIAN
    assert image["frame"]["fallback"] == {"from": JPEG_LS, "because": "refused"}
    assert image["frame"]["bytes"] == 512 * 512 * 2
    assert not page.evaluate("window.__rw.errors")
    _assert_shows_stored_pixels(page)


def test_a_forced_syntax_is_used_for_every_frame(page, server, demo_study):
    """The benchmarks' switch: ?transfer= forces one form (here JPEG 2000 Lossless), pixels unchanged."""
    log = _frame_log(page)
    timing = _open(page, server, _chest_assignment(), f"&transfer={JPEG_2000}")
    assert [(f["status"], f["content_type"]) for f in _shown_frames(page, log)] == [
        (200, f"image/jp2; transfer-syntax={JPEG_2000}")]
    assert timing["images"][0]["transferSyntax"] == JPEG_2000
    _assert_shows_stored_pixels(page)
