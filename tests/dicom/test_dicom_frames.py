"""WADO-RS frames (native slices, encapsulated fragments), rendering and multipart streaming."""

import copy
import io
import time

import numpy as np
import pydicom
import pytest
from dicom_helpers import reread, sample_path
from PIL import Image
from pydicom.encaps import generate_frames

from mrmc.dicom.frames import FrameNotFound, frame_content_type, get_frames, multipart_related, render
from mrmc.dicom.synth import make_case


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "CT_small.dcm", "emri_small.dcm", "MR_small_bigendian.dcm"])
def test_native_frames_equal_the_pixel_array(name):
    ds = pydicom.dcmread(sample_path(name))
    pixels = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    numbers = list(range(1, len(pixels) + 1))
    frames = get_frames(ds, numbers)
    for frame, expected in zip(frames, pixels, strict=True):
        assert frame == expected.astype(expected.dtype.newbyteorder("<")).tobytes()


def test_encapsulated_frames_are_the_stored_fragments():
    ds = pydicom.dcmread(sample_path("emri_small_jpeg_2k_lossless.dcm"))
    expected = list(generate_frames(ds.PixelData, number_of_frames=10))
    assert get_frames(ds, [3, 1, 10]) == [expected[2], expected[0], expected[9]]
    assert frame_content_type(ds.file_meta.TransferSyntaxUID).startswith("image/jp2; transfer-syntax=")


def test_decoded_j2k_frames_match_the_uncompressed_file():
    compressed = pydicom.dcmread(sample_path("emri_small_jpeg_2k_lossless.dcm"))
    native = pydicom.dcmread(sample_path("emri_small.dcm"))
    assert get_frames(compressed, [2, 7], keep_encoding=False) == get_frames(native, [2, 7])


def test_frame_numbers_out_of_range():
    ds = pydicom.dcmread(sample_path("emri_small.dcm"))
    with pytest.raises(FrameNotFound, match=r"\[0, 11\]"):
        get_frames(ds, [0, 1, 11])


def test_2048_frame_is_sliced_in_a_few_ms():
    datasets, _ = make_case("CASE001", False, 1, modality="DX")
    ds = reread(datasets[0])
    get_frames(ds, [1])  # first access parses the element
    start = time.perf_counter()
    frame = get_frames(ds, [1])[0]
    elapsed = time.perf_counter() - start
    assert len(frame) == 2048 * 2048 * 2
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms"


def test_render_windows_resizes_and_inverts_monochrome1():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    png = Image.open(io.BytesIO(render(ds, window_center=40, window_width=400, viewport=(64, 64))))
    assert png.size == (64, 64) and png.mode == "L"
    inverted = copy.deepcopy(ds)
    inverted.PhotometricInterpretation = "MONOCHROME1"
    plain = np.asarray(Image.open(io.BytesIO(render(ds, window_center=40, window_width=400))), int)
    flipped = np.asarray(Image.open(io.BytesIO(render(inverted, window_center=40, window_width=400))), int)
    assert (plain + flipped == 255).all()
    jpeg = render(ds, fmt="jpeg")
    assert jpeg[:2] == b"\xff\xd8"


def test_render_color_and_encapsulated():
    ds = pydicom.dcmread(sample_path("examples_ybr_color.dcm"))
    image = Image.open(io.BytesIO(render(ds, frame=5, viewport=(100, 100))))
    assert image.mode == "RGB" and max(image.size) == 100


def test_multipart_related_streams_parts():
    parts = [b"first", io.BytesIO(b"x" * 3_000_000)]
    chunks, header = multipart_related(
        iter(parts), "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", boundary="b0undary")
    assert header == ('multipart/related; type="application/octet-stream"; '
                      'transfer-syntax=1.2.840.10008.1.2.1; boundary=b0undary')
    chunk_list = list(chunks)
    assert max(len(c) for c in chunk_list) <= 1 << 20
    body = b"".join(chunk_list)
    sections = body.split(b"--b0undary")
    assert sections[0] == b"" and sections[-1] == b"--\r\n"
    head, payload = sections[2].split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1" in head
    assert payload == b"x" * 3_000_000 + b"\r\n"
