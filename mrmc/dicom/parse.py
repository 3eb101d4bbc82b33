"""Read one DICOM Part 10 instance, validate it and extract the index fields.

Every rejection raises :class:`InvalidDicom` with a one-line reason that ingest
can show next to the file name and a reason class (``error.kind``). Nothing
else escapes: the byte structure is checked before pydicom sees it
(:mod:`mrmc.dicom.structure`), and whatever pydicom or a codec still raises
becomes a rejection.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import generate_fragmented_frames
from pydicom.filereader import read_dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian

from .codestream import check_frame_header
from .errors import InvalidDicom
from .limits import DicomLimits
from .structure import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, PREAMBLE_LENGTH, check_data_set, split_file
from .validate import (
    INDEX_UIDS,
    check_character_sets,
    check_sop_class,
    check_uids,
    fix_value_representations,
    walk_elements,
)

__all__ = ["InvalidDicom", "ParsedInstance", "read_instance", "write_instance"]

# Image Pixel Module (PS3.3 C.7.6.3) Type 1 attributes a viewer cannot do without.
REQUIRED_PIXEL_ATTRIBUTES = ("Rows", "Columns", "BitsAllocated", "BitsStored",
                             "SamplesPerPixel", "PhotometricInterpretation")
# pydicom's warning when text does not decode in its declared character set.
DECODE_FAILURE = "Failed to decode byte string"

Source = bytes | str | os.PathLike | BinaryIO
DEFAULT_LIMITS = DicomLimits()


@dataclass(frozen=True)
class ParsedInstance:
    """Index fields of one instance (PS3.18 10.6 QIDO-RS attribute matching keys),
    the dataset they came from and the repairs made while reading it."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str
    accession_number: str
    patient_id: str
    study_date: str
    study_description: str
    series_number: int | None
    series_description: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    number_of_frames: int
    dataset: Dataset = field(repr=False, compare=False)
    fixes: tuple[str, ...] = ()


def read_instance(source: Source, limits: DicomLimits = DEFAULT_LIMITS) -> ParsedInstance:
    """Read and validate a Part 10 file (PS3.10 7.1) and extract its index fields.

    Parameters
    ----------
    source : bytes, path or binary file object
        The whole file.
    limits : DicomLimits
        Sizes past which the file is refused before it costs more memory.

    Returns
    -------
    ParsedInstance
        ``fixes`` says what was repaired: pixel description attributes sent with
        the wrong VR, a Deflated data set stored inflated.

    Raises
    ------
    InvalidDicom
        For every reason a file cannot be stored, never another exception (a
        missing file given by path raises FileNotFoundError).
    """
    data = _file_bytes(source, limits)
    try:
        return _read(data, limits)
    except InvalidDicom:
        raise
    except RecursionError:
        raise InvalidDicom("sequences nested too deep to parse", "too-deep") from None
    except MemoryError:
        raise InvalidDicom("too large to parse in the memory available", "too-large") from None
    except Exception as exc:  # pydicom and the codecs raise many types; each is a broken file
        raise InvalidDicom(f"malformed DICOM: {_one_line(exc)}") from None


def write_instance(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file (PS3.10 7.1), the bytes the content store names by their hash."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _file_bytes(source: Source, limits: DicomLimits) -> bytes:
    """The file's bytes, refused unread when over ``max_file_bytes``."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        if os.stat(source).st_size > limits.max_file_bytes:
            raise _too_large_file(limits)
        with open(source, "rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    else:
        data = source.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _too_large_file(limits)
    return data


def _too_large_file(limits: DicomLimits) -> InvalidDicom:
    return InvalidDicom(f"larger than the limit of {limits.max_file_bytes} bytes", "too-large")


def _read(data: bytes, limits: DicomLimits) -> ParsedInstance:
    parts = split_file(memoryview(data), limits)
    transfer_syntax = UID(parts.transfer_syntax)
    deflated = transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    if not transfer_syntax.is_transfer_syntax:
        raise InvalidDicom(f"unknown transfer syntax {str(transfer_syntax)[:64]!r}", "decode")
    implicit, little = transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian
    check_data_set(parts.data_set, implicit=implicit, little=little, limits=limits)
    ds, undecodable = _parse(data, parts.meta_end, parts.data_set if deflated else None, implicit, little)
    fixes = []
    if deflated:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        transfer_syntax = ExplicitVRLittleEndian
        fixes.append("inflated the Deflated data set: stored as Explicit VR Little Endian")
    _check_present(ds)
    check_uids(ds, str(transfer_syntax))
    check_sop_class(ds)
    check_character_sets(ds)
    if undecodable:
        raise InvalidDicom(f"text that Specific Character Set {ds.get('SpecificCharacterSet', '')!r} "
                           "cannot decode", "charset")
    fixes += fix_value_representations(ds)
    check_pixel_data(ds, transfer_syntax, limits)
    return _parsed(ds, str(transfer_syntax), tuple(fixes))


def _parse(data: bytes, meta_end: int, inflated: bytes | None, implicit: bool,
           little: bool) -> tuple[FileDataset, bool]:
    """pydicom's dataset of a file whose structure passed, every value converted now.

    Returns the dataset and whether some text failed to decode in its character set.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = read_dataset(io.BytesIO(data[PREAMBLE_LENGTH + 4:meta_end]), False, True)
        body_file = io.BytesIO(data if inflated is None else inflated)  # shares, does not copy, bytes
        body_file.seek(0 if inflated is not None else meta_end)
        body = read_dataset(body_file, implicit, little)
        ds = FileDataset(io.BytesIO(), body, preamble=data[:PREAMBLE_LENGTH],
                         file_meta=FileMetaDataset(meta), is_implicit_VR=implicit, is_little_endian=little)
        ds.set_original_encoding(implicit, little, body.original_character_set)
        for _ in walk_elements(ds):  # __getitem__ converts each raw element: errors surface now
            pass
    return ds, any(DECODE_FAILURE in str(warning.message) for warning in caught)


def _check_present(ds: Dataset) -> None:
    if len(ds) == 0:
        raise InvalidDicom("truncated: no data set after the file meta information", "truncated")
    for keyword in INDEX_UIDS:
        if not str(ds.get(keyword, "")).strip():
            raise InvalidDicom(f"missing {keyword}", "missing-attribute")


def _parsed(ds: Dataset, transfer_syntax: str, fixes: tuple[str, ...]) -> ParsedInstance:
    return ParsedInstance(
        study_instance_uid=str(ds.StudyInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax_uid=transfer_syntax,
        modality=str(ds.get("Modality", "") or ""),
        accession_number=str(ds.get("AccessionNumber", "") or ""),
        patient_id=str(ds.get("PatientID", "") or ""),
        study_date=str(ds.get("StudyDate", "") or ""),
        study_description=str(ds.get("StudyDescription", "") or ""),
        series_number=_optional_int(ds.get("SeriesNumber")),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        instance_number=_optional_int(ds.get("InstanceNumber")),
        rows=_optional_int(ds.get("Rows")),
        columns=_optional_int(ds.get("Columns")),
        number_of_frames=number_of_frames(ds),
        dataset=ds,
        fixes=fixes,
    )


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), 1 for single-frame images, 0 without pixel data."""
    if "PixelData" not in ds:
        return 0
    return _optional_int(ds.get("NumberOfFrames")) or 1


def native_frame_length(ds: Dataset) -> int:
    """Bytes per frame of native pixel data (PS3.5 8.1.1); bit-packed for BitsAllocated 1.

    YBR_FULL_422 keeps one Cb and one Cr for every two Y, two values a pixel (PS3.3 C.7.6.3.1.2).
    """
    samples = 2 if ds.get("PhotometricInterpretation") == "YBR_FULL_422" else ds.SamplesPerPixel
    bits = ds.Rows * ds.Columns * samples * ds.BitsAllocated
    return (bits + 7) // 8


def check_pixel_data(ds: Dataset, transfer_syntax: UID, limits: DicomLimits) -> None:
    """Refuse pixel data that cannot be served as its Image Pixel Module describes it.

    Checks the Type 1 attributes (PS3.3 C.7.6.3), the decoded size against
    ``limits.max_pixel_values``, then for native pixel data the exact length
    (PS3.5 8.1.1), and for encapsulated pixel data the frames' fragments
    (PS3.5 A.4), each frame's header (:mod:`mrmc.dicom.codestream`) and a
    decoded first frame when a decoder is installed.

    Native pixel data longer than its frames is refused rather than trimmed:
    nothing says whether the excess is padding, frames that Number of Frames
    leaves out, or content hidden behind the image, and de-identification
    would pass it unseen. The single trailing byte that pads an odd length to
    an even one (PS3.5 7.1.1) is allowed.
    """
    if "PixelData" not in ds:
        raise InvalidDicom("an image without PixelData (7FE0,0010)", "missing-attribute")
    for keyword in REQUIRED_PIXEL_ATTRIBUTES:
        if not ds.get(keyword):
            raise InvalidDicom(f"pixel data without {keyword}", "missing-attribute")
    if ds.BitsStored > ds.BitsAllocated:
        raise InvalidDicom(f"BitsStored {ds.BitsStored} exceeds BitsAllocated {ds.BitsAllocated}")
    frames = number_of_frames(ds)
    if frames < 1:
        raise InvalidDicom(f"NumberOfFrames {ds.NumberOfFrames} is not a positive number")
    values = frames * ds.Rows * ds.Columns * ds.SamplesPerPixel
    if values > limits.max_pixel_values:
        raise InvalidDicom(f"{frames} frame(s) of {ds.Rows} x {ds.Columns} x {ds.SamplesPerPixel} make "
                           f"{values} pixel values, more than the limit of {limits.max_pixel_values}",
                           "too-large")
    if transfer_syntax.is_encapsulated:
        _check_encapsulated(ds, frames, transfer_syntax)
        return
    expected, found = _whole_frames_length(ds, frames), len(ds.PixelData)
    if found < expected or found > expected + expected % 2:
        raise InvalidDicom(f"pixel data is {found} bytes, {expected} expected for {frames} frame(s)",
                           "pixel-length")


def _check_encapsulated(ds: Dataset, frames: int, transfer_syntax: UID) -> None:
    found = 0
    for fragments in _fragmented_frames(ds, frames):
        found += 1
        check_frame_header(fragments[0], transfer_syntax, ds.Rows, ds.Columns, found)
    if found < frames:
        raise InvalidDicom(f"encapsulated pixel data holds {found} of {frames} frames", "pixel-length")
    decoder = get_decoder(transfer_syntax)
    if decoder.is_available:
        try:
            decoder.as_array(ds, index=0)
        except Exception as exc:  # each codec plugin raises its own types
            raise InvalidDicom(f"frame 1 cannot be decoded as {transfer_syntax.name}: {_one_line(exc)}",
                               "decode") from None


def _fragmented_frames(ds: Dataset, frames: int):
    try:
        yield from generate_fragmented_frames(ds.PixelData, number_of_frames=frames)
    except (ValueError, EOFError) as exc:
        raise InvalidDicom(f"broken encapsulated pixel data: {_one_line(exc)}", "decode") from None


def _whole_frames_length(ds: Dataset, frames: int) -> int:
    if ds.BitsAllocated == 1:  # frames are packed back to back without padding
        return (ds.Rows * ds.Columns * ds.SamplesPerPixel * frames + 7) // 8
    return native_frame_length(ds) * frames


def _optional_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
