"""The DICOM-level cases of the hostile corpus: broken, oversized, deceptive and non-image files.

Each file starts from a small valid DX instance (or, for the non-image classes, a document
or report of the same patient) and is damaged in one way. The expected outcome and reason
class follow the design of :func:`mrmc.dicom.parse.read_instance`: what the standard leaves
no doubt about is repaired and stored (Rows sent as DS, a Deflated data set), everything
else is refused with the class of its fault.
"""

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    BasicTextSRStorage,
    DeflatedExplicitVRLittleEndian,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from tests.dicomweb.images import case_datasets
from tests.hostile.corpus import HostileCase

GiB = 1 << 30
PATIENT_NAME = "Doe^Jane"
PDF_PAYLOAD = b"%PDF-1.4\n1 0 obj << /Title (Report for Jane Doe, born 1971-02-03) >> endobj\n%%EOF\n"
DIGITAL_SIGNATURES_SEQUENCE = 0xFFFAFFFA  # the last tag of a data set, so bytes can be appended
# Seeds of the synthetic DX images, apart from those of the archive cases (41, 42).
SEEDS = iter(range(101, 200))


def dicom_cases(folder: Path) -> list[HostileCase]:
    """Write the DICOM-level hostile files into ``folder``; returns them with their expected outcome."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, outcome, kind, make in CASES:
        path = folder / name
        path.write_bytes(make())
        cases.append(HostileCase(name, path, outcome, kind))
    return cases


# ------------------------------------------------------------------ builders


def image_dataset() -> Dataset:
    """A valid 64 x 64 DX image, a new one (own UIDs) at every call."""
    return case_datasets(seed=next(SEEDS))[0]


def to_bytes(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file, pydicom's complaints about deliberately bad values silenced."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def image(change=None) -> bytes:
    """A new valid image as a file, after ``change(ds)`` (whose bad values pydicom may warn of)."""
    ds = image_dataset()
    if change:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            change(ds)
    return to_bytes(ds)


def document_dataset(sop_class, burned_in_annotation: str | None = "NO") -> Dataset:
    """A non-image object of the patient: the Patient, Study and Series modules and a SOP class."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT_NAME, "MRN-0042", "19710203"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240105", "101112", "ACC42"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "DOC", 1, 1
    if burned_in_annotation is not None:
        ds.BurnedInAnnotation = burned_in_annotation
    return ds


def encapsulated_pdf(burned_in_annotation: str | None = "NO") -> Dataset:
    """An Encapsulated PDF (PS3.3 A.45) whose title and payload name the patient."""
    ds = document_dataset(EncapsulatedPDFStorage, burned_in_annotation)
    ds.Modality = "DOC"
    ds.DocumentTitle = f"Discharge letter for {PATIENT_NAME}"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = PDF_PAYLOAD + b"\x00" * (len(PDF_PAYLOAD) % 2)
    ds.EncapsulatedDocumentLength = len(PDF_PAYLOAD)
    return ds


def basic_text_sr() -> Dataset:
    """A Basic Text SR (PS3.3 A.35.1) whose text item names the patient."""
    ds = document_dataset(BasicTextSRStorage)
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.TextValue = f"Findings for {PATIENT_NAME}: none."
    ds.ContentSequence = [text]
    return ds


def explicit_element(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element (PS3.5 7.1.2)."""
    head = struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, vr.encode())
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR"):
        return head + b"\x00\x00" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def nested_sequences(depth: int) -> bytes:
    """``depth`` sequences of undefined length, each in the one item of the one above."""
    open_level = struct.pack("<HH2s2sI", 0xFFFA, 0xFFFA, b"SQ", b"\x00\x00", 0xFFFFFFFF)
    open_item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_item = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    close_level = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return (open_level + open_item) * depth + (close_item + close_level) * depth


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


def _element_offset(data: bytes, tag: int, vr: str) -> int:
    """Offset of the Explicit VR Little Endian header of ``tag`` (its first occurrence)."""
    return data.index(struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, vr.encode()))


# ---------------------------------------------------------------- the cases


def truncated_header() -> bytes:
    return image()[:300]  # inside the first elements after the file meta information


def truncated_pixel_data() -> bytes:
    data = image()
    return data[: len(data) - 1000]


def invalid_vr_code() -> bytes:
    data = image()
    return _replace_once(data, b"\x10\x00\x10\x00PN", b"\x10\x00\x10\x00ZZ")  # PatientName's VR


def rows_as_ds(ds: Dataset) -> None:
    ds[0x00280010] = DataElement(0x00280010, "DS", "64")


def rows_as_fractional_ds(ds: Dataset) -> None:
    ds[0x00280010] = DataElement(0x00280010, "DS", "63.5")


def huge_element_length() -> bytes:
    """PixelData (OW) declaring 4,294,967,280 bytes in a file of 10 KB."""
    data = bytearray(image())
    offset = _element_offset(data, 0x7FE00010, "OW")
    struct.pack_into("<I", data, offset + 8, 0xFFFFFFF0)
    return bytes(data)


def undefined_length_never_closed() -> bytes:
    opened = struct.pack("<HH2s2sI", 0xFFFA, 0xFFFA, b"SQ", b"\x00\x00", 0xFFFFFFFF)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    return image() + opened + item + explicit_element(0x00080100, "SH", b"T-1234")


def deeply_nested() -> bytes:
    return image() + nested_sequences(20_000)


def deflate_bomb() -> bytes:
    """A Deflated data set (PS3.5 A.5) that inflates to 1 GiB and 28 bytes: an OB of zeros.

    Each full flush resets the deflater, so the blocks of 16 MiB of zeros are the same
    every time and are written 64 times after compressing them once.
    """
    ds = image_dataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    head = to_bytes(ds)
    meta_end = 132 + 12 + struct.unpack_from("<I", head, 140)[0]
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    elements = (explicit_element(0x00080016, "UI", b"1.2.3.4\x00")
                + struct.pack("<HH2s2sI", 0x0009, 0x1010, b"OB", b"\x00\x00", GiB))
    start = deflater.compress(elements) + deflater.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(1 << 24)
    zeros_blocks = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    return head[:meta_end] + start + zeros_blocks * (GiB // len(zeros)) + deflater.flush()


def deflated_image() -> bytes:
    ds = image_dataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return to_bytes(ds)


def pixel_data_short(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData[:-128]


def pixel_data_long(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData + bytes(4096)


def pixel_values_over_limit(ds: Dataset) -> None:
    """65,535 x 65,535 x 1,000 frames declared over the 8 KB of a 64 x 64 image."""
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000


def unknown_character_set(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 999"


def undecodable_text() -> bytes:
    """PatientName bytes that are not UTF-8 under Specific Character Set ISO_IR 192."""
    data = bytearray(image(lambda ds: setattr(ds, "SpecificCharacterSet", "ISO_IR 192")))
    offset = _element_offset(data, 0x00100010, "PN")
    length = struct.unpack_from("<H", data, offset + 6)[0]
    data[offset + 8:offset + 8 + length] = b"\xff\xfe" * (length // 2)
    return bytes(data)


def without_sop_instance_uid(ds: Dataset) -> None:
    del ds.SOPInstanceUID


def without_transfer_syntax() -> bytes:
    """File Meta Information without (0002,0010), its group length corrected."""
    data = image()
    start = _element_offset(data, 0x00020010, "UI")
    end = start + 8 + struct.unpack_from("<H", data, start + 6)[0]
    out = bytearray(data[:start] + data[end:])
    struct.pack_into("<I", out, 140, struct.unpack_from("<I", out, 140)[0] - (end - start))
    return bytes(out)


def jpeg_with_garbage(header: bytes) -> bytes:
    """JPEG Baseline declared, its one 4 KB fragment random bytes after ``header``."""
    ds = image_dataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    garbage = np.random.default_rng(7).bytes(4096 - len(header))
    ds.PixelData = encapsulate([header + garbage])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    return to_bytes(ds)


def jpeg_header(rows: int = 64, columns: int = 64) -> bytes:
    """The markers of a real 8-bit JPEG up to and with its start of scan, no scan data."""
    encoded = io.BytesIO()
    Image.fromarray(np.zeros((rows, columns), np.uint8)).save(encoded, "JPEG")
    data = encoded.getvalue()
    start_of_scan = data.index(b"\xff\xda")
    return data[:start_of_scan + 2 + struct.unpack_from(">H", data, start_of_scan + 2)[0]]


def odd_uid_characters(ds: Dataset) -> None:
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.2.x7'; DROP--"


def overlong_uid(ds: Dataset) -> None:
    ds.StudyInstanceUID = "1.2.826.0.1.3680043." + "9" * 70


def element_bomb() -> bytes:
    """200,000 empty private elements: 1.6 MB of file, some hundred MB as pydicom objects."""
    creator = explicit_element(0x00090010, "LO", b"BOMB")
    empty = b"".join(struct.pack("<HH2sH", 0x0009, 0x1000 | (n & 0xFF), b"LO", 0) for n in range(200_000))
    data = image()
    offset = _element_offset(data, 0x00100010, "PN")  # group 0009 goes before group 0010
    return data[:offset] + creator + empty + data[offset:]


CASES = [
    ("valid-image.dcm", "stored", "", image),
    ("rows-encoded-as-ds.dcm", "stored", "", lambda: image(rows_as_ds)),
    ("deflated-image.dcm", "stored", "", deflated_image),
    ("empty.dcm", "rejected", "not-dicom", lambda: b""),
    ("not-dicom.pdf", "rejected", "not-dicom", lambda: PDF_PAYLOAD * 20),
    ("preamble-without-dicm.dcm", "rejected", "not-dicom", lambda: bytes(128) + b"NOPE" + bytes(256)),
    ("truncated-header.dcm", "rejected", "truncated", truncated_header),
    ("truncated-pixel-data.dcm", "rejected", "truncated", truncated_pixel_data),
    ("invalid-vr-code.dcm", "rejected", "invalid-vr", invalid_vr_code),
    ("rows-encoded-as-fractional-ds.dcm", "rejected", "invalid-vr", lambda: image(rows_as_fractional_ds)),
    ("huge-element-length.dcm", "rejected", "too-large", huge_element_length),
    ("undefined-length-never-closed.dcm", "rejected", "truncated", undefined_length_never_closed),
    ("nested-sequences-20000.dcm", "rejected", "too-deep", deeply_nested),
    ("deflate-bomb-1gib.dcm", "rejected", "too-large", deflate_bomb),
    ("element-bomb-200000.dcm", "rejected", "too-large", element_bomb),
    ("pixel-data-short.dcm", "rejected", "pixel-length", lambda: image(pixel_data_short)),
    ("pixel-data-long-4k.dcm", "rejected", "pixel-length", lambda: image(pixel_data_long)),
    ("pixel-values-over-limit.dcm", "rejected", "too-large", lambda: image(pixel_values_over_limit)),
    ("charset-iso-ir-999.dcm", "rejected", "charset", lambda: image(unknown_character_set)),
    ("text-not-in-its-charset.dcm", "rejected", "charset", undecodable_text),
    ("encapsulated-pdf-with-phi.dcm", "rejected", "sop-class", lambda: to_bytes(encapsulated_pdf())),
    ("basic-text-sr-with-phi.dcm", "rejected", "sop-class", lambda: to_bytes(basic_text_sr())),
    ("missing-sop-instance-uid.dcm", "rejected", "missing-attribute", lambda: image(without_sop_instance_uid)),
    ("missing-transfer-syntax.dcm", "rejected", "missing-attribute", without_transfer_syntax),
    ("jpeg-garbage-fragments.dcm", "rejected", "decode", lambda: jpeg_with_garbage(b"")),
    ("jpeg-header-then-garbage.dcm", "rejected", "decode", lambda: jpeg_with_garbage(jpeg_header())),
    ("uid-odd-characters.dcm", "rejected", "invalid-uid", lambda: image(odd_uid_characters)),
    ("uid-overlong.dcm", "rejected", "invalid-uid", lambda: image(overlong_uid)),
]
