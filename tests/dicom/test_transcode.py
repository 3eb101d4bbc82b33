"""Frames re-encoded into lossless syntaxes decode, by another decoder, to exactly the stored pixels.

Each codestream is put in a new dataset with the target transfer syntax and decoded by pydicom, and
decoded a second time by imagecodecs. So HTJ2K, written by OpenJPH, is read by OpenJPEG; JPEG 2000,
written by imagecodecs' OpenJPEG, by pylibjpeg-openjpeg's build; JPEG-LS, written by pyjpegls' CharLS,
by imagecodecs' build. The expected pixels are pydicom's decoding of the source file. The codestreams' headers are read here byte by byte
(ISO 15444-1 A.5, ISO 14495-1 C.2) to check what PS3.5 asks of each syntax.
"""

import copy
import struct
import warnings
from functools import partial

import imagecodecs
import numpy as np
import pydicom
import pytest
from dicom_helpers import reread, sample_path
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import HTJ2KLossless, HTJ2KLosslessRPCL, JPEG2000Lossless, JPEGLSLossless

from mrmc.dicom.frames import FrameNotFound
from mrmc.dicom.synth import make_case
from mrmc.dicom.transcode import OFFERED_SYNTAXES, CannotTranscode, encode_frame

IMAGE_PIXEL_KEYWORDS = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
                        "PixelRepresentation", "PhotometricInterpretation")
DECODING_PLUGIN = {JPEGLSLossless: "pyjpegls", JPEG2000Lossless: "pylibjpeg", HTJ2KLossless: "pylibjpeg",
                   HTJ2KLosslessRPCL: "pylibjpeg"}
SECOND_DECODER = {JPEGLSLossless: imagecodecs.jpegls_decode, JPEG2000Lossless: imagecodecs.jpeg2k_decode,
                  HTJ2KLossless: partial(imagecodecs.htj2k_decode, planar=False),
                  HTJ2KLosslessRPCL: partial(imagecodecs.htj2k_decode, planar=False)}
# pydicom test files: signed 16 of 16 bits (MR, CT), signed 14 of 16, unsigned 15 of 16 at 1955x1841
# (RG1), 12 of 16 in 10 frames (emri), 8-bit palette indices, 8- and 16-bit RGB, JPEG 2000 lossless source.
SOURCES = [("MR_small.dcm", 1), ("CT_small.dcm", 1), ("693_UNCR.dcm", 1), ("RG1_UNCR.dcm", 1),
           ("emri_small.dcm", 1), ("emri_small.dcm", 10), ("OBXXXX1A.dcm", 1), ("SC_rgb.dcm", 1),
           ("SC_rgb_16bit_2frame.dcm", 2), ("emri_small_jpeg_2k_lossless.dcm", 7), ("MR_small_bigendian.dcm", 1)]


@pytest.fixture(scope="module")
def synthetic_dx():
    """The demo's DX phantom (12 of 16 bits stored, unsigned), as read back from its file."""
    datasets, _ = make_case("CASE003", True, 3, modality="DX", shape=(512, 384), spacing_mm=0.8)
    return reread(datasets[0])


def stored_pixels(ds: Dataset, number: int) -> np.ndarray:
    pixels = ds.pixel_array
    return pixels[number - 1] if ds.get("NumberOfFrames", 1) > 1 else pixels


def as_instance(source: Dataset, codestream: bytes, uid: str) -> Dataset:
    """A single-frame dataset holding ``codestream`` encapsulated in ``uid``, the source's pixel module."""
    ds = Dataset()
    for keyword in IMAGE_PIXEL_KEYWORDS:
        setattr(ds, keyword, source[keyword].value)
    if ds.SamplesPerPixel > 1:
        ds.PlanarConfiguration = 0
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    return ds


def decoded(source: Dataset, codestream: bytes, uid: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Bits Stored or signedness mismatch warns: it must not happen
        return pydicom.pixels.pixel_array(as_instance(source, codestream, uid), decoding_plugin=DECODING_PLUGIN[uid])


@pytest.mark.parametrize("uid", OFFERED_SYNTAXES, ids=lambda uid: uid.keyword)
@pytest.mark.parametrize(("name", "number"), SOURCES)
def test_a_test_file_frame_decodes_to_the_stored_pixels(name, number, uid):
    source = pydicom.dcmread(sample_path(name))
    expected = stored_pixels(source, number)
    codestream = encode_frame(source, number, uid)
    assert_same_pixels(decoded(source, codestream, uid), expected)
    np.testing.assert_array_equal(decoded_again(source, codestream, uid), expected)
    check_header(codestream, uid, source)


@pytest.mark.parametrize("uid", OFFERED_SYNTAXES, ids=lambda uid: uid.keyword)
def test_the_synthetic_dx_decodes_to_the_stored_pixels(synthetic_dx, uid):
    assert (synthetic_dx.BitsAllocated, synthetic_dx.BitsStored) == (16, 12)
    codestream = encode_frame(synthetic_dx, 1, uid)
    assert_same_pixels(decoded(synthetic_dx, codestream, uid), synthetic_dx.pixel_array)
    check_header(codestream, uid, synthetic_dx)
    assert len(codestream) < synthetic_dx.pixel_array.nbytes / 2  # smooth anatomy compresses


@pytest.mark.parametrize("uid", [HTJ2KLossless, HTJ2KLosslessRPCL], ids=lambda uid: uid.keyword)
@pytest.mark.parametrize(("bits_stored", "signed"), [(12, False), (12, True), (7, False), (7, True), (15, True)])
def test_htj2k_declares_bits_stored_for_any_depth_and_sign(bits_stored, signed, uid):
    """The precision OpenJPH gets is the container's; the codestream must still say Bits Stored."""
    rng = np.random.default_rng(bits_stored)
    low, high = (-(1 << (bits_stored - 1)), 1 << (bits_stored - 1)) if signed else (0, 1 << bits_stored)
    pixels = rng.integers(low, high, size=(70, 90), dtype=np.int32)
    pixels[0, :2] = low, high - 1  # both ends of the range
    source = native_dataset(pixels, bits_allocated=16, bits_stored=bits_stored, signed=signed)
    codestream = encode_frame(source, 1, uid)
    assert_same_pixels(decoded(source, codestream, uid), source.pixel_array)
    np.testing.assert_array_equal(decoded_again(source, codestream, uid), source.pixel_array)
    check_header(codestream, uid, source)


def test_rpcl_decomposes_a_large_frame_down_to_64_pixels():
    pixels = np.arange(40 * 4100, dtype=np.int32).reshape(40, 4100) % 4096
    source = native_dataset(pixels, bits_allocated=16, bits_stored=12, signed=False)
    codestream = encode_frame(source, 1, HTJ2KLosslessRPCL)
    assert coding_style(codestream)["decompositions"] == 7  # 4100 / 2**6 > 64 >= 4100 / 2**7
    assert_same_pixels(decoded(source, codestream, HTJ2KLosslessRPCL), source.pixel_array)


@pytest.mark.parametrize(("name", "reason"), [
    ("JPEG2000.dcm", "JPEG 2000 Image Compression, which may be lossy"),
    ("SC_jpeg_no_color_transform.dcm", "JPEG Baseline (Process 1), which may be lossy"),
    ("JPEGLSNearLossless_08.dcm", "Near-Lossless) Image Compression, which may be lossy"),
    ("SC_ybr_full_uncompressed.dcm", "lossy compressed (Lossy Image Compression 01)"),
    ("GDCMJ2K_TextGBR.dcm", "colour model YBR_RCT"),
    ("liver.dcm", "bit depth 1 of 1 allocated"),
    ("rtdose.dcm", "bit depth 32 of 32 allocated"),
])
def test_frames_that_cannot_be_encoded_losslessly_are_refused_with_the_reason(name, reason):
    source = pydicom.dcmread(sample_path(name))
    for uid in OFFERED_SYNTAXES:
        with pytest.raises(CannotTranscode, match=reason.replace("(", r"\(").replace(")", r"\)")):
            encode_frame(source, 1, uid)


def test_lossy_syntaxes_and_unknown_ones_are_not_offered():
    source = pydicom.dcmread(sample_path("CT_small.dcm"))
    for uid in ("1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.203",
                "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1", "1.2.3"):
        with pytest.raises(CannotTranscode, match="offered are 1.2.840.10008.1.2.4.80"):
            encode_frame(source, 1, uid)


def test_colour_by_plane_frames_are_refused():
    source = pydicom.dcmread(sample_path("SC_rgb.dcm"))
    source.PlanarConfiguration = 1
    with pytest.raises(CannotTranscode, match="Planar Configuration 1"):
        encode_frame(source, 1, JPEGLSLossless)


@pytest.mark.parametrize(("stored", "signed", "pixel"), [(5000, False, 5000 - 4096), (0x7ABC, True, 0xABC - 4096)])
def test_bits_above_the_high_bit_are_not_encoded(stored, signed, pixel):
    """They are no part of the pixel (PS3.5 8.1.1): a 12-bit sample is bits 0-11, sign-extended if signed."""
    source = native_dataset(np.zeros((40, 40), dtype=np.int32), bits_allocated=16, bits_stored=12, signed=signed)
    source.PixelData = np.full((40, 40), stored, dtype="<u2").tobytes()
    for uid in OFFERED_SYNTAXES:
        codestream = encode_frame(source, 1, uid)
        np.testing.assert_array_equal(decoded(source, codestream, uid), np.full((40, 40), pixel))


@pytest.mark.parametrize("uid", [JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL], ids=lambda uid: uid.keyword)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (16, 16), (1, 300)])
def test_frames_smaller_than_the_wavelet_decompositions_still_encode(shape, uid):
    pixels = np.random.default_rng(sum(shape)).integers(0, 1 << 12, size=shape)
    source = native_dataset(pixels, bits_allocated=16, bits_stored=12, signed=False)
    codestream = encode_frame(source, 1, uid)
    assert_same_pixels(decoded(source, codestream, uid).reshape(shape), source.pixel_array.reshape(shape))


@pytest.mark.parametrize("keyword", ["BitsStored", "PixelRepresentation", "PhotometricInterpretation"])
def test_an_incomplete_image_pixel_module_is_refused(keyword):
    source = pydicom.dcmread(sample_path("CT_small.dcm"))
    delattr(source, keyword)
    with pytest.raises(CannotTranscode, match="Image Pixel Module is incomplete"):
        encode_frame(source, 1, HTJ2KLossless)


def test_a_missing_frame_is_named():
    with pytest.raises(FrameNotFound, match=r"frame 11 not in 1..10"):
        encode_frame(pydicom.dcmread(sample_path("emri_small.dcm")), 11, JPEGLSLossless)


def test_encoding_leaves_the_dataset_as_it_was():
    source = pydicom.dcmread(sample_path("emri_small.dcm"))
    before = copy.deepcopy(source)
    for uid in OFFERED_SYNTAXES:
        encode_frame(source, 3, uid)
    assert source == before and source.PixelData == before.PixelData


# ------------------------------------------------------------------ helpers


def native_dataset(pixels: np.ndarray, *, bits_allocated: int, bits_stored: int, signed: bool) -> Dataset:
    """A monochrome Explicit VR Little Endian instance holding ``pixels``, read back from its file."""
    ds = Dataset()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    container = f"<{'i' if signed else 'u'}{bits_allocated // 8}"
    ds.PixelData = pixels.astype(container).tobytes()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", pydicom.uid.generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    return reread(ds)


def encode_or_refusal(source: Dataset, uid: str) -> bytes | None:
    try:
        return encode_frame(source, 1, uid)
    except CannotTranscode:
        return None


def decoded_again(source: Dataset, codestream: bytes, uid: str) -> np.ndarray:
    """Decoded by imagecodecs; JPEG-LS has no sign, it holds the bits of signed samples (PS3.5 8.2.3)."""
    samples = SECOND_DECODER[uid](codestream)
    if uid != JPEGLSLossless or source.PixelRepresentation == 0:
        return samples
    bits = source.BitsStored
    samples = samples.astype(np.int32)
    return np.where(samples >= 1 << (bits - 1), samples - (1 << bits), samples)


def assert_same_pixels(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert (actual.dtype.kind, actual.dtype.itemsize) == (expected.dtype.kind, expected.dtype.itemsize)
    np.testing.assert_array_equal(actual, expected)


def check_header(codestream: bytes, uid: str, source: Dataset) -> None:
    """What PS3.5 8.2.3, 8.2.4 and 10.18 ask of the codestream, read from its header."""
    if uid == JPEGLSLossless:
        check_jpeg_ls_header(codestream, source)
        return
    siz = image_size(codestream)
    assert (siz["rows"], siz["columns"]) == (source.Rows, source.Columns)
    assert siz["precision"] == [source.BitsStored] * source.SamplesPerPixel
    assert siz["signed"] == [source.PixelRepresentation == 1] * source.SamplesPerPixel
    style = coding_style(codestream)
    assert style["reversible"] and not style["colour_transform"]  # samples are what Photometric Interpretation says
    markers = main_header_markers(codestream)
    assert (0xFF50 in markers) == (uid != JPEG2000Lossless)  # CAP: Part 15 (HTJ2K) capabilities
    if uid == HTJ2KLosslessRPCL:
        assert style["progression"] == "RPCL"
        assert 0xFF55 in markers  # TLM
        base = max(source.Rows, source.Columns) / 2 ** style["decompositions"]
        assert base <= 64


def check_jpeg_ls_header(codestream: bytes, source: Dataset) -> None:
    assert codestream[:4] == b"\xff\xd8\xff\xf7"  # SOI then SOF55 at once: no SPIFF or other header
    precision, rows, columns, components = struct.unpack_from(">BHHB", codestream, 6)
    assert (precision, rows, columns, components) == (
        source.BitsStored, source.Rows, source.Columns, source.SamplesPerPixel)


def main_header_markers(codestream: bytes) -> list[int]:
    """Marker codes from SIZ up to the first SOT (ISO 15444-1 A.4.2)."""
    assert codestream[:2] == b"\xff\x4f"  # SOC: a raw codestream, no JP2 boxes (PS3.5 A.4.4)
    markers, offset = [], 2
    while True:
        marker, length = struct.unpack_from(">HH", codestream, offset)
        if marker == 0xFF90:
            return markers
        markers.append(marker)
        offset += 2 + length


def marker_segment(codestream: bytes, marker: int) -> bytes:
    offset = 2
    while True:
        code, length = struct.unpack_from(">HH", codestream, offset)
        if code == marker:
            return codestream[offset + 4:offset + 2 + length]
        assert code != 0xFF90, f"no marker {marker:#x} in the main header"
        offset += 2 + length


def image_size(codestream: bytes) -> dict:
    """SIZ (ISO 15444-1 A.5.1): image extent and each component's precision and sign."""
    siz = marker_segment(codestream, 0xFF51)
    columns, rows, x_origin, y_origin = struct.unpack_from(">IIII", siz, 2)
    (components,) = struct.unpack_from(">H", siz, 34)
    ssiz = [siz[36 + 3 * c] for c in range(components)]
    return {"rows": rows - y_origin, "columns": columns - x_origin,
            "precision": [(s & 0x7F) + 1 for s in ssiz], "signed": [bool(s & 0x80) for s in ssiz]}


def coding_style(codestream: bytes) -> dict:
    """COD (ISO 15444-1 A.6.1): progression order, colour transform, decompositions, wavelet."""
    cod = marker_segment(codestream, 0xFF52)
    return {"progression": ["LRCP", "RLCP", "RPCL", "PCRL", "CPRL"][cod[1]], "colour_transform": cod[4] == 1,
            "decompositions": cod[5], "reversible": cod[9] == 1}
