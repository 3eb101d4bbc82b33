"""De-identification by the PS3.15 Annex E Basic Application Level Confidentiality Profile.

The attribute table (PS3.15 Table E.1-1, edition 2024b) and the E.3 options are
loaded and resolved in :mod:`mrmc.dicom.deid_profile`; this module applies the
actions. UIDs are replaced by a keyed hash so that every instance of a study, imported
in any order or on any day, maps to the same new UIDs for the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from .deid_profile import OPTIONS, DeidOptions, load_profile

BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
BASIC_PROFILE_ONLY = DeidOptions()  # no E.3 option

DUMMY_DATE = "19000101"
DUMMY_TEXT = "ANONYMOUS"
DUMMY_BY_VR = {
    "DA": DUMMY_DATE, "TM": "000000", "DT": DUMMY_DATE + "000000", "AS": "000Y",
    "PN": DUMMY_TEXT, "LO": DUMMY_TEXT, "SH": DUMMY_TEXT, "LT": DUMMY_TEXT,
    "ST": DUMMY_TEXT, "UT": DUMMY_TEXT, "UC": DUMMY_TEXT, "CS": DUMMY_TEXT,
    "AE": DUMMY_TEXT, "UR": "urn:none", "IS": "0", "DS": "0",
}
BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
BINARY_DUMMY = b"\x00\x00"
# A document's title and payload can name the patient as well as the Patient Module can.
IDENTITY_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate",
                     "OtherPatientNames", "OtherPatientIDs", "DocumentTitle", "EncapsulatedDocument")


@dataclass(frozen=True)
class DeidRecord:
    """What :func:`deidentify` did to one dataset.

    Attributes
    ----------
    options : tuple of str
        Options applied (names of :class:`DeidOptions` fields).
    method : tuple of str
        The values written to De-identification Method (0012,0063).
    counts : dict
        Number of attributes per outcome: ``removed``, ``emptied``, ``dummied``,
        ``uid_replaced``, ``date_shifted``, ``kept``, ``private_removed``,
        ``repeating_group_removed``.
    """

    options: tuple[str, ...]
    method: tuple[str, ...]
    counts: dict[str, int]

def remap_uid(uid: str, key: bytes | str) -> str:
    """Map a UID to a new one, the same for the same key (PS3.15 E.1 action U).

    Parameters
    ----------
    uid : str
        The original UID.
    key : bytes or str
        Secret of the study or site; without it the mapping cannot be reversed
        by guessing the original UIDs.

    Returns
    -------
    str
        A ``2.25.<decimal>`` UID (PS3.5 B.2) made from 128 bits of HMAC-SHA256.
    """
    return f"2.25.{_keyed_int(uid.strip(), key)}"


def _keyed_int(text: str, key: bytes | str) -> int:
    """128 bits of HMAC-SHA256 of ``text`` under ``key``, as an integer."""
    key_bytes = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key_bytes, text.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:16], "big")


def date_offset_days(patient_id: str, key: bytes | str) -> int:
    """Per-patient shift for the Modified Dates option (PS3.15 E.3.6), -3650..-1 days.

    Keyed on the original Patient ID so that all studies of one patient keep their
    intervals.
    """
    return -(_keyed_int(f"date-offset:{patient_id}", key) % 3650 + 1)


class _ProfileWalker:
    """Applies the rules to one dataset and everything nested in it."""

    def __init__(self, key: bytes | str, options: DeidOptions, offset_days: int):
        self.rules = load_profile()
        self.key = key
        self.options = options
        self.offset_days = offset_days
        self.counts: Counter[str] = Counter()

    def clean(self, ds: Dataset) -> None:
        for tag in list(ds.keys()):
            elem = ds[tag]
            if tag.is_private:
                del ds[tag]
                self.counts["private_removed"] += 1
            elif _is_curve_or_overlay(tag):
                # An Overlay Plane without its Overlay Data (action X) is not
                # conformant, so the whole repeating group goes.
                del ds[tag]
                self.counts["repeating_group_removed"] += 1
            elif tag in self.rules:
                self.apply(ds, elem, self.rules[tag].action_for(self.options))
            elif elem.VR == "SQ":
                self.clean_items(elem)

    def clean_items(self, elem: DataElement) -> None:
        for item in elem.value:
            self.clean(item)

    def apply(self, ds: Dataset, elem: DataElement, action: str) -> None:
        if action == "X":
            del ds[elem.tag]
            self.counts["removed"] += 1
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else (b"" if elem.VR in BINARY_VRS else "")
            self.counts["emptied"] += 1
        elif action == "D":
            self.dummy(elem)
        elif action == "U":
            self.replace_uids(elem)
        elif action == "C":
            self.clean_temporal(elem)
        else:  # K: "unchanged for non-sequence attributes, cleaned for sequences"
            if elem.VR == "SQ":
                self.clean_items(elem)
            self.counts["kept"] += 1

    def dummy(self, elem: DataElement) -> None:
        if elem.VR == "SQ":
            self.clean_items(elem)  # a sequence keeps its items, cleaned
        elif elem.VR == "UI":
            self.replace_uids(elem)
            return
        elif elem.VR in BINARY_VRS:
            elem.value = BINARY_DUMMY
        else:
            elem.value = DUMMY_BY_VR.get(elem.VR, 0)
        self.counts["dummied"] += 1

    def replace_uids(self, elem: DataElement) -> None:
        if elem.VM == 0:
            return
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [remap_uid(str(uid), self.key) for uid in values]
        elem.value = new if elem.VM > 1 else new[0]
        self.counts["uid_replaced"] += 1

    def clean_temporal(self, elem: DataElement) -> None:
        """C under the Modified Dates option: shift dates, keep times of day."""
        if elem.VR in ("DA", "DT") and elem.VM:
            values = elem.value if elem.VM > 1 else [elem.value]
            shifted = [_shift_date_text(str(v), self.offset_days) for v in values]
            elem.value = shifted if elem.VM > 1 else shifted[0]
            self.counts["date_shifted"] += 1
        else:
            self.counts["kept"] += 1


def _is_curve_or_overlay(tag: BaseTag) -> bool:
    """(50xx,xxxx) Curve Data and the (60xx,eeee) Overlay groups, xx even."""
    return tag.group % 2 == 0 and (0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF)


def _shift_date_text(value: str, days: int) -> str:
    """Shift the YYYYMMDD head of a DA or DT value; malformed dates become the dummy."""
    try:
        day = dt.date.fromisoformat(value[:8])
    except ValueError:
        return DUMMY_DATE + value[8:]
    return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + value[8:]


def deidentify(ds: Dataset, *, key: bytes | str,
               options: DeidOptions = BASIC_PROFILE_ONLY) -> DeidRecord:
    """De-identify ``ds`` in place (PS3.15 E.1 Basic Profile plus E.3 options).

    Every attribute of Table E.1-1 and of :data:`SUPPLEMENTARY_RULES` (a document's
    title, its payload's length, SR text values) is removed (X), emptied (Z),
    replaced by a dummy (D), given a new UID (U), kept (K) or cleaned (C) wherever
    it occurs, at the top level, in the file meta information and inside sequence
    items. Private attributes and curve and overlay groups are removed. Pixel data
    and geometry are not in the table and stay as they are.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The instance; changed in place.
    key : bytes or str
        Secret for the UID mapping (:func:`remap_uid`) and the date offset; the same
        key gives the same new UIDs for every instance of a study.
    options : DeidOptions
        Options of PS3.15 E.3 to apply.

    Returns
    -------
    DeidRecord
        Options applied and counts of what changed.

    Notes
    -----
    Compound actions (X/Z, X/D, X/Z/D, Z/D) take the weakest branch that keeps the
    image IODs conformant (``CONFORMANCE_ACTIONS``); X/Z/U* keeps the reference
    sequences with replaced UIDs. Patient Identity Removed (0012,0062),
    De-identification Method (0012,0063) and its Code Sequence (0012,0064, CID 7050)
    are set as E.1.1 requires, and Longitudinal Temporal Information Modified
    (0028,0303) says what happened to the dates.
    """
    offset = date_offset_days(str(ds.get("PatientID", "")), key)
    walker = _ProfileWalker(key, options, offset)
    walker.clean(ds)
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None:
        walker.clean(file_meta)
        if "SOPInstanceUID" in ds:
            file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    method = _write_method(ds, options)
    return DeidRecord(options.enabled, method, dict(walker.counts))


def _write_method(ds: Dataset, options: DeidOptions) -> tuple[str, ...]:
    codes = [BASIC_PROFILE_CODE] + [OPTIONS[name][1:] for name in options.enabled]
    ds.PatientIdentityRemoved = "YES"
    method = tuple(meaning for _, meaning in codes)
    ds.DeidentificationMethod = list(method)
    ds.DeidentificationMethodCodeSequence = [code_item(value, meaning) for value, meaning in codes]
    if options.retain_full_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif options.retain_modified_dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return method


def code_item(value: str, meaning: str) -> Dataset:
    """A DCM code sequence item (CID 7050 de-identification methods)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def check_identified(ds: Dataset) -> list[str]:
    """Keywords of patient identity attributes that still hold a real value.

    Looks everywhere in ``ds`` (sequences included) for Patient's Name, Patient ID,
    Patient's Birth Date, the other-names/IDs attributes, and a document's title and
    payload; empty values and the dummies written by :func:`deidentify` do not count. Burned In Annotation YES
    counts too: text in the pixels, which the header profile does not remove
    (:func:`mrmc.dicom.pixel_cleaning.clean_pixels` blacks out configured regions and
    sets it to NO).

    Returns
    -------
    list of str
        Sorted keywords; empty when the dataset carries none, so ingest can refuse
        a file when the list is not empty.
    """
    found = set()
    for elem in ds.iterall():
        if elem.keyword in IDENTITY_KEYWORDS and _holds_identity(elem):
            found.add(elem.keyword)
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        found.add("BurnedInAnnotation")
    return sorted(found)


def _holds_identity(elem: DataElement) -> bool:
    if elem.VR in BINARY_VRS:
        return elem.value not in (None, b"", BINARY_DUMMY)
    values = elem.value if elem.VM > 1 else [elem.value]
    dummies = {"", DUMMY_TEXT, DUMMY_BY_VR.get(elem.VR, "")}
    return any(str(v).strip() not in dummies for v in values if v is not None)
