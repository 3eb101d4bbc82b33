"""Hostile DICOM files against read_instance, deidentify and sanitize directly.

Every file of ``tests/hostile/dicom_corpus.py`` gives its expected outcome and reason
class, the bombs cost a reading process under 512 MiB, and random damage to a valid
file never raises anything but InvalidDicom nor yields a dataset that cannot be written.
"""

import copy
import io
import json
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_helpers import sample_path, to_bytes

from mrmc.dicom.deid import BINARY_DUMMY, check_identified, deidentify
from mrmc.dicom.limits import DicomLimits
from mrmc.dicom.parse import InvalidDicom, read_instance, write_instance
from mrmc.dicom.sanitize import sanitize
from mrmc.dicom.structure import inflate
from mrmc.dicom.validate import IMAGE_STORAGE_SOP_CLASSES
from tests.hostile.dicom_corpus import (
    CASES,
    PATIENT_NAME,
    basic_text_sr,
    dicom_cases,
    encapsulated_pdf,
    image,
    nested_sequences,
)

KEY = b"hostile-test-key"
BOMBS = ("deflate-bomb-1gib.dcm", "nested-sequences-20000.dcm", "huge-element-length.dcm",
         "element-bomb-200000.dcm", "pixel-values-over-limit.dcm")
MEMORY_BUDGET = 512 << 20
PEAK_MEMORY_SCRIPT = """
import json, sys
from mrmc.dicom.parse import InvalidDicom, read_instance
from tests.peak_memory import peak_memory
before = peak_memory() >> 10
try:
    read_instance(sys.argv[1])
    kind = ""
except InvalidDicom as exc:
    kind = exc.kind
after = peak_memory() >> 10
print(json.dumps({"kind": kind, "before_kib": before, "peak_kib": after}))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return {case.name: case for case in dicom_cases(tmp_path_factory.mktemp("hostile-dicom"))}


def test_the_corpus_has_the_cases_the_issue_asks_for(corpus):
    assert len(corpus) >= 22
    assert {case.outcome for case in corpus.values()} == {"stored", "rejected"}


@pytest.mark.parametrize("name, outcome, kind", [(name, outcome, kind) for name, outcome, kind, _ in CASES])
def test_each_file_gives_its_outcome(corpus, name, outcome, kind):
    case = corpus[name]
    if outcome == "rejected":
        with pytest.raises(InvalidDicom) as error:
            read_instance(case.path)
        assert error.value.kind == kind, str(error.value)
        assert str(case.path.parent) not in str(error.value) and "\n" not in str(error.value)
    else:
        parsed = read_instance(case.path)
        ds = parsed.dataset
        deidentify(ds, key=KEY)
        sanitize(ds)
        assert check_identified(ds) == []
        stored = read_instance(write_instance(ds))  # what ingest stores reads back as valid
        assert stored.rows == stored.columns == 64


def test_rows_sent_as_ds_are_reencoded_as_us_and_the_fix_recorded(corpus):
    parsed = read_instance(corpus["rows-encoded-as-ds.dcm"].path)
    assert parsed.dataset["Rows"].VR == "US" and parsed.dataset.Rows == 64
    assert parsed.fixes == ("re-encoded Rows (0028,0010) from DS '64' to US 64: PS3.6 fixes its VR",)
    written = pydicom.dcmread(io.BytesIO(write_instance(parsed.dataset)))
    assert written["Rows"].VR == "US"


def test_a_deflated_image_is_stored_inflated_with_its_pixels(corpus):
    parsed = read_instance(corpus["deflated-image.dcm"].path)
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert parsed.fixes == ("inflated the Deflated data set: stored as Explicit VR Little Endian",)
    assert len(parsed.dataset.PixelData) == 64 * 64 * 2


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_cost_a_reading_process_under_512_mib(corpus, name):
    result = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(corpus[name].path)],
                            capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    figures = json.loads(result.stdout)
    assert figures["kind"] == dict((n, k) for n, _, k, _ in CASES)[name]
    assert figures["peak_kib"] * 1024 < MEMORY_BUDGET, figures


def test_deflate_bomb_is_really_a_gibibyte(corpus):
    data = corpus["deflate-bomb-1gib.dcm"].path.read_bytes()
    meta_end = 132 + 12 + struct.unpack_from("<I", data, 140)[0]
    inflater, total, pending = zlib.decompressobj(-zlib.MAX_WBITS), 0, data[meta_end:]
    while not inflater.eof:
        total += len(inflater.decompress(pending, 1 << 24))
        pending = inflater.unconsumed_tail
    assert total >= 1 << 30 and len(data) < 2 << 20


def test_invalid_dicom_keeps_its_kind_and_message_across_pickling():
    error = pickle.loads(pickle.dumps(InvalidDicom("sequences nested more than 32 deep", "too-deep")))
    assert (str(error), error.kind) == ("sequences nested more than 32 deep", "too-deep")
    assert InvalidDicom("an older caller's reason").kind == "malformed"
    with pytest.raises(ValueError):
        InvalidDicom("reason", "no-such-kind")


# ---------------------------------------------------------------- the limits


def test_inflation_stops_at_the_limit():
    data = bytes(range(256)) * 4096
    deflated = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = deflated.compress(data) + deflated.flush()
    assert inflate(stream, len(data)) == data
    with pytest.raises(InvalidDicom) as error:
        inflate(stream, len(data) - 1)
    assert error.value.kind == "too-large"
    with pytest.raises(InvalidDicom) as error:
        inflate(stream[: len(stream) // 2], len(data))
    assert error.value.kind == "truncated"


@pytest.mark.parametrize("depth, kind", [(4, None), (5, "too-deep")])
def test_sequence_depth_limit(depth, kind):
    data = image() + nested_sequences(depth)
    limits = DicomLimits(max_sequence_depth=4)
    if kind is None:
        read_instance(data, limits)
    else:
        with pytest.raises(InvalidDicom, match="nested more than 4 deep") as error:
            read_instance(data, limits)
        assert error.value.kind == kind


@pytest.mark.parametrize("limits, message", [
    (DicomLimits(max_file_bytes=9000), "larger than the limit of 9000 bytes"),
    (DicomLimits(max_element_bytes=8191), "PixelData .* declares 8192 bytes"),  # 64 x 64 x 16 bits
    (DicomLimits(max_pixel_values=64 * 64 - 1), "4096 pixel values"),
    (DicomLimits(max_elements=20), "more than 20 elements"),
])
def test_each_limit_refuses_a_file_just_over_it(limits, message):
    data = image()
    read_instance(data)
    with pytest.raises(InvalidDicom, match=message) as error:
        read_instance(data, limits)
    assert error.value.kind == "too-large"


def test_file_limit_is_checked_before_reading_a_path(tmp_path):
    path = tmp_path / "big.dcm"
    path.write_bytes(image())
    with pytest.raises(InvalidDicom, match="larger than the limit") as error:
        read_instance(path, DicomLimits(max_file_bytes=100))
    assert error.value.kind == "too-large" and str(tmp_path) not in str(error.value)


# ------------------------------------------------------- validation of what is stored


def test_an_odd_pixel_length_padded_by_one_byte_is_legal():
    def odd(ds):
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.Rows = ds.Columns = 63  # 3,969 bytes, written with one padding byte (PS3.5 8.1.1)
        ds.PixelData = bytes(63 * 63)
        ds.pop("WindowCenter", None), ds.pop("WindowWidth", None)
    parsed = read_instance(image(odd))
    assert len(parsed.dataset.PixelData) == 63 * 63 + 1


def test_ybr_full_422_native_length_is_two_values_a_pixel():
    parsed = read_instance(Path(sample_path("SC_ybr_full_422_uncompressed.dcm")).read_bytes())
    assert len(parsed.dataset.PixelData) == parsed.rows * parsed.columns * 2


def test_iso_2022_character_sets_are_defined_terms():
    def japanese(ds):
        ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    assert read_instance(image(japanese)).dataset.SpecificCharacterSet[1] == "ISO 2022 IR 87"


def test_unknown_transfer_syntax_is_refused():
    data = image()  # Explicit VR Little Endian, 1.2.840.10008.1.2.1 + padding: 20 bytes
    data = data.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.99", 1)
    with pytest.raises(InvalidDicom, match="unknown transfer syntax") as error:
        read_instance(data)
    assert error.value.kind == "decode"


@pytest.mark.parametrize("name, header_size", [
    ("SC_rgb_jpeg_dcmtk.dcm", "100 x 100"),  # JPEG SOF0
    ("emri_small_jpeg_2k_lossless.dcm", "64 x 64"),  # JPEG 2000 SIZ
    ("emri_small_jpeg_ls_lossless.dcm", "64 x 64"),  # JPEG-LS SOF55
])
def test_a_frame_whose_header_is_larger_than_rows_and_columns_is_refused_before_decoding(name, header_size):
    ds = pydicom.dcmread(sample_path(name))
    ds.Rows = ds.Columns = 50
    with pytest.raises(InvalidDicom, match=f"frame 1 is {header_size} pixels by its header, 50 x 50") as error:
        read_instance(to_bytes(ds))
    assert error.value.kind == "decode"


def test_an_rle_frame_without_its_segment_header_is_refused():
    ds = pydicom.dcmread(sample_path("emri_small_RLE.dcm"))
    frames = [bytes(frame) for frame in pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=10)]
    frames[3] = b"\x10\x00\x00\x00" + frames[3][4:]  # 16 segments, PS3.5 G.3.1 allows 15
    ds.PixelData = pydicom.encaps.encapsulate(frames)
    with pytest.raises(InvalidDicom, match="frame 4 has no readable header") as error:
        read_instance(to_bytes(ds))
    assert error.value.kind == "decode"


def test_image_storage_allow_list_holds_image_classes_only():
    for uid in IMAGE_STORAGE_SOP_CLASSES:
        name = pydicom.uid.UID(uid).name
        assert "Storage" in name and ("Image" in name or "Volume" in name), name


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                                  "emri_small_RLE.dcm", "image_dfl.dcm", "US1_J2KR.dcm",
                                  "SC_rgb_jpeg_gdcm.dcm", "examples_ybr_color.dcm", "explicit_VR-UN.dcm"])
def test_real_images_in_every_encoding_are_accepted(name):
    parsed = read_instance(Path(sample_path(name)).read_bytes())
    read_instance(write_instance(parsed.dataset))


# ------------------------------------------------------------- non-image objects


@pytest.mark.parametrize("burned_in_annotation", ["NO", None])
def test_encapsulated_pdf_loses_its_title_and_payload_when_deidentified(burned_in_annotation):
    ds = encapsulated_pdf(burned_in_annotation)
    assert {"DocumentTitle", "EncapsulatedDocument", "PatientName"} <= set(check_identified(ds))
    deidentify(ds, key=KEY)
    assert ds.DocumentTitle == "" and ds.EncapsulatedDocument == BINARY_DUMMY
    assert "EncapsulatedDocumentLength" not in ds
    assert check_identified(ds) == []
    written = to_bytes(ds)
    for fragment in (b"Doe", b"Jane", b"19710203"):  # letters, or 8 digits no random UID is likely to hold
        assert fragment not in written


def test_structured_report_text_is_replaced_when_deidentified():
    ds = basic_text_sr()
    deidentify(ds, key=KEY)
    assert ds.ContentSequence[0].TextValue == "ANONYMOUS"
    assert PATIENT_NAME.split("^")[0].encode() not in to_bytes(ds)


# ------------------------------------------------------------------ random damage


def damaged_copies(data: bytes, count: int, seed: int):
    """``count`` copies of ``data`` with a few bytes overwritten, inserted or cut away."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        damaged = bytearray(data)
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(132, len(damaged)))
            action = rng.integers(3)
            if action == 0:
                damaged[at:at + 4] = rng.bytes(4)
            elif action == 1:
                damaged[at:at] = rng.bytes(int(rng.integers(1, 16)))
            else:
                del damaged[at:at + int(rng.integers(1, 64))]
        yield bytes(damaged)


@pytest.mark.parametrize("name", ["CT_small.dcm", "emri_small_jpeg_2k_lossless.dcm", "MR_small_implicit.dcm"])
def test_random_damage_gives_invalid_dicom_or_a_dataset_that_can_be_stored(name):
    original = Path(sample_path(name)).read_bytes()
    kinds = set()
    for data in damaged_copies(original, 150, seed=len(name)):
        try:
            parsed = read_instance(data)
        except InvalidDicom as exc:
            kinds.add(exc.kind)
            continue
        ds = copy.deepcopy(parsed.dataset)
        deidentify(ds, key=KEY)
        sanitize(ds)
        read_instance(write_instance(ds))
    assert kinds  # the damage did hit something
