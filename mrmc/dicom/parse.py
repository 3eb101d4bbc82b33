"""Read one DICOM Part 10 instance, validate it and extract the index fields.

Every rejection raises :class:`InvalidDicom` with a one-line reason that ingest
can show next to the file name.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragmented_frames
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
# Image Pixel Module (PS3.3 C.7.6.3) Type 1 attributes a viewer cannot do without.
REQUIRED_PIXEL_ATTRIBUTES = ("Rows", "Columns", "BitsAllocated", "BitsStored",
                             "SamplesPerPixel", "PhotometricInterpretation")

Source = bytes | str | os.PathLike | BinaryIO


class InvalidDicom(ValueError):
    """The input is not a usable DICOM instance; ``str(error)`` is the reason."""


@dataclass(frozen=True)
class ParsedInstance:
    """Index fields of one instance (PS3.18 10.6 QIDO-RS attribute matching keys)
    and the dataset they came from."""

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


def read_instance(source: Source) -> ParsedInstance:
    """Read and validate a Part 10 file (PS3.10 7.1) and extract its index fields.

    Parameters
    ----------
    source : bytes, path or binary file object
        The whole file.

    Returns
    -------
    ParsedInstance

    Raises
    ------
    InvalidDicom
        Not DICOM, truncated, a malformed element, a missing UID or transfer
        syntax, or pixel data that does not match its Image Pixel Module.
    """
    ds = _read_dataset(source)
    for keyword in REQUIRED_UIDS:
        if not str(ds.get(keyword, "")).strip():
            raise InvalidDicom(f"missing {keyword}")
    transfer_syntax = str(getattr(ds.file_meta, "TransferSyntaxUID", "") or "")
    if not transfer_syntax:
        raise InvalidDicom("missing TransferSyntaxUID (0002,0010) in the file meta information")
    problem = pixel_data_problem(ds)
    if problem:
        raise InvalidDicom(problem)
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
    )


def write_instance(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file (PS3.10 7.1), the bytes the content store names by their hash."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _read_dataset(source: Source) -> Dataset:
    """Parse every element; pydicom's silent tolerance of a short file becomes a reason."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(source)
            for _ in ds.iterall():  # __getitem__ converts each raw element: errors surface now
                pass
        except InvalidDicomError:
            raise InvalidDicom("not a DICOM Part 10 file: no 'DICM' prefix after the preamble") from None
        except FileNotFoundError:
            raise
        except (EOFError, OSError, ValueError, TypeError, KeyError, OverflowError) as exc:
            raise InvalidDicom(f"malformed or truncated DICOM: {exc}") from None
    if len(ds) == 0:
        raise InvalidDicom("truncated: no data set after the file meta information")
    for warning in caught:
        if "End of file" in str(warning.message):
            raise InvalidDicom("truncated: the file ends inside an element")
    return ds


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), 1 for single-frame images, 0 without pixel data."""
    if "PixelData" not in ds:
        return 0
    return _optional_int(ds.get("NumberOfFrames")) or 1


def native_frame_length(ds: Dataset) -> int:
    """Bytes per frame of native pixel data (PS3.5 8.1.1); bit-packed for BitsAllocated 1."""
    bits = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated
    return (bits + 7) // 8


def pixel_data_problem(ds: Dataset) -> str | None:
    """Why the pixel data cannot be served, or None when it is sound.

    Checks the Image Pixel Module Type 1 attributes (PS3.3 C.7.6.3) and the length
    of native pixel data or the fragment structure of encapsulated pixel data
    (PS3.5 A.4).
    """
    if "PixelData" not in ds:
        return None
    for keyword in REQUIRED_PIXEL_ATTRIBUTES:
        if not ds.get(keyword):
            return f"pixel data without {keyword}"
    if ds.BitsStored > ds.BitsAllocated:
        return f"BitsStored {ds.BitsStored} exceeds BitsAllocated {ds.BitsAllocated}"
    frames = number_of_frames(ds)
    if UID(ds.file_meta.TransferSyntaxUID).is_encapsulated:
        try:
            found = sum(1 for _ in generate_fragmented_frames(ds.PixelData, number_of_frames=frames))
        except (ValueError, EOFError) as exc:
            return f"broken encapsulated pixel data: {exc}"
        if found < frames:
            return f"encapsulated pixel data holds {found} of {frames} frames"
        return None
    expected = _whole_frames_length(ds, frames)
    if len(ds.PixelData) < expected:
        return f"pixel data is {len(ds.PixelData)} bytes, {expected} expected for {frames} frame(s)"
    return None


def _whole_frames_length(ds: Dataset, frames: int) -> int:
    if ds.BitsAllocated == 1:  # frames are packed back to back without padding
        return (ds.Rows * ds.Columns * ds.SamplesPerPixel * frames + 7) // 8
    return native_frame_length(ds) * frames


def _optional_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
