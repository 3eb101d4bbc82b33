"""What a parsed instance must be before it is stored: an image, its UIDs, text and VRs sound.

Each check raises :class:`~mrmc.dicom.errors.InvalidDicom` with its reason class;
:func:`fix_value_representations` repairs what the standard leaves no doubt about
and says what it changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from .errors import InvalidDicom

# Image storage SOP classes (PS3.4 B.5) of the modalities a reader study shows:
# projection and cross-sectional radiology, ultrasound, nuclear medicine and
# secondary captures. Documents, structured reports, presentation states,
# waveforms and the like are refused: they are not images to read and carry
# free text that de-identification cannot vouch for.
IMAGE_STORAGE_SOP_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.3.1",  # Digital Intra-Oral X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image Storage
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.1",  # X-Ray 3D Angiographic Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.2",  # X-Ray 3D Craniofacial Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.4",  # Breast Projection X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.13.1.5",  # Breast Projection X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image Storage
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image Storage
    # Retired classes (PS3.4 B.5 notes) still written by older ultrasound and NM systems.
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image Storage (retired)
    "1.2.840.10008.5.1.4.1.1.5",  # Nuclear Medicine Image Storage (retired)
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (retired)
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET Image Storage
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image Storage
})

INDEX_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
# PS3.5 9.1: components of digits without leading zeros, separated by dots, at most 64 characters.
UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
MAX_UID_LENGTH = 64
INTEGER_RANGES = {
    "US": (0, 0xFFFF), "SS": (-0x8000, 0x7FFF), "UL": (0, 0xFFFFFFFF),
    "SL": (-0x80000000, 0x7FFFFFFF), "IS": (-0x80000000, 0x7FFFFFFF),
}
# Attributes whose values size the pixel data: a wrong VR here makes every length wrong.
PIXEL_DESCRIPTION = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                     "PixelRepresentation", "SamplesPerPixel", "PlanarConfiguration", "NumberOfFrames")


def check_sop_class(ds: Dataset) -> None:
    """Refuse anything but the image storage SOP classes of :data:`IMAGE_STORAGE_SOP_CLASSES`."""
    sop_class = UID(str(ds.SOPClassUID))
    if sop_class not in IMAGE_STORAGE_SOP_CLASSES:
        name = sop_class.name if sop_class.name != sop_class else "an unknown SOP class"
        raise InvalidDicom(f"{name} ({sop_class}) is not an image storage SOP class", "sop-class")


def check_uids(ds: Dataset, transfer_syntax: str) -> None:
    """The UIDs the index keys on must be UIDs by PS3.5 9.1."""
    values = [(keyword, str(ds[keyword].value)) for keyword in INDEX_UIDS]
    for keyword, uid in values + [("TransferSyntaxUID", transfer_syntax)]:
        if len(uid) > MAX_UID_LENGTH or not UID_PATTERN.fullmatch(uid):
            shown = uid if len(uid) <= MAX_UID_LENGTH else uid[:MAX_UID_LENGTH] + "..."
            raise InvalidDicom(f"{keyword} {shown!r} is not a UID: digits and dots, at most "
                               f"{MAX_UID_LENGTH} characters (PS3.5 9.1)", "invalid-uid")


def check_character_sets(ds: Dataset) -> None:
    """Every Specific Character Set term, at the top and in sequence items, is a defined term.

    An unknown term (``ISO_IR 999``) leaves no way to know which characters the
    text holds, so the names it may spell could be neither read nor removed:
    the file is refused rather than its text re-encoded from a guess.
    """
    for _, elem in walk_elements(ds):
        if elem.keyword != "SpecificCharacterSet":
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        unknown = [str(term) for term in values if term and str(term).strip() not in python_encoding]
        if unknown:
            raise InvalidDicom(f"Specific Character Set {unknown[0]!r} is not a defined term "
                               "(PS3.3 C.12.1.1.2)", "charset")


def fix_value_representations(ds: Dataset) -> list[str]:
    """Re-encode pixel description attributes sent with another VR than PS3.6 fixes.

    Rows sent as DS ``"512"`` becomes US 512; a value that is not an integer in the
    fixed VR's range is refused, as is any other public attribute whose VR is not
    the dictionary's (pydicom already reads UN by the dictionary).

    Returns
    -------
    list of str
        One sentence per attribute re-encoded.
    """
    fixes = []
    for parent, elem in list(walk_elements(ds)):
        expected = _dictionary_vrs(elem)
        if expected is None or elem.VR in expected or elem.VR == "UN" or " or " in elem.VR:
            continue  # unknown to the dictionary, right, read by the dictionary, or left to pydicom's writer
        if elem.keyword not in PIXEL_DESCRIPTION:
            raise InvalidDicom(f"{_name(elem)} is encoded as {elem.VR}; PS3.6 fixes its VR as "
                               f"{' or '.join(expected)}", "invalid-vr")
        fixes.append(_reencode_integer(parent, elem, expected[0]))
    return fixes


def _reencode_integer(parent: Dataset, elem: DataElement, vr: str) -> str:
    low, high = INTEGER_RANGES[vr]
    try:
        number = float(str(elem.value))
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer() or not low <= number <= high:
        raise InvalidDicom(f"{_name(elem)} is encoded as {elem.VR} with {str(elem.value)!r}, "
                           f"which is not a {vr} integer", "invalid-vr")
    parent[elem.tag] = DataElement(elem.tag, vr, str(int(number)) if vr == "IS" else int(number))
    return f"re-encoded {_name(elem)} from {elem.VR} {str(elem.value)!r} to {vr} {int(number)}: PS3.6 fixes its VR"


def _dictionary_vrs(elem: DataElement) -> tuple[str, ...] | None:
    if elem.tag.is_private:
        return None
    try:
        return tuple(dictionary_VR(elem.tag).split(" or "))
    except KeyError:
        return None


def walk_elements(ds: Dataset) -> Iterator[tuple[Dataset, DataElement]]:
    """(data set, element) for every element, in sequence items too, without recursion."""
    pending = [ds]
    while pending:
        parent = pending.pop()
        for elem in parent:
            yield parent, elem
            if elem.VR == "SQ":
                pending.extend(elem.value)


def _name(elem: DataElement) -> str:
    return f"{elem.keyword or 'element'} ({elem.tag.group:04X},{elem.tag.element:04X})"
