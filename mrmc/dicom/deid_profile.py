"""The PS3.15 Annex E Basic Application Level Confidentiality Profile as rules.

The attribute table (PS3.15 Table E.1-1, edition 2024b) is data, in
``data/ps3.15_basic_profile.csv``; this module loads it and resolves each attribute's
action code under the E.3 options in use. :mod:`mrmc.dicom.deid` applies the actions.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from pydicom.tag import BaseTag, Tag

PROFILE_CSV = Path(__file__).with_name("data") / "ps3.15_basic_profile.csv"
PROFILE_EDITION = "2024b"

# Option flag -> (column of Table E.1-1, CID 7050 code, code meaning).
OPTIONS = {
    "retain_uids": ("Retain UIDs", "113110", "Retain UIDs Option"),
    "retain_device_identity": (
        "Retain Device Identity", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": (
        "Retain Institution Identity", "113112", "Retain Institution Identity Option"),
    "retain_patient_characteristics": (
        "Retain Patient Characteristics", "113108", "Retain Patient Characteristics Option"),
    "retain_full_dates": (
        "Retain Longitudinal Temporal Information Full Dates", "113106",
        "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_modified_dates": (
        "Retain Longitudinal Temporal Information Modified Dates", "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option"),
}

# Compound actions are "X unless Z/D is required to maintain IOD conformance".
# These attributes are Type 1 (-> D) or Type 2 (-> Z) in the image IODs the
# platform serves (CR, DX, MG, CT, MR and their enhanced forms, PS3.3 A.2-A.53);
# every other compound action takes its first, most protective, branch.
CONFORMANCE_ACTIONS = {
    "ContentDate": "D",  # Type 1 in the enhanced multi-frame image modules
    "ContentTime": "D",
    "AcquisitionDateTime": "D",  # Type 1C in enhanced MR/CT for ORIGINAL images
    "PatientID": "Z",  # Type 2, Patient Module C.7.1.1
    "AcquisitionContextSequence": "Z",  # Type 2, Acquisition Context Module C.7.6.14
    "ContrastBolusAgent": "Z",  # Type 2, Contrast/Bolus Module C.7.6.4
    "ContentCreatorName": "Z",
    "InstructionPerformedDateTime": "Z",
}

# Free text of non-image objects that Table E.1-1 (2024b) does not list, though it holds
# whatever the document says, the patient's name included; E.1 asks for every attribute
# that can identify the patient to be removed or replaced.
SUPPLEMENTARY_RULES = {
    "DocumentTitle": "Z",  # Type 2 in the Encapsulated Document Module (PS3.3 C.24.2)
    "EncapsulatedDocumentLength": "X",  # the original document's size; the payload is replaced (D)
    "TextValue": "D",  # a TEXT content item's value (PS3.3 C.17.3), Type 1C where it occurs
}


@dataclass(frozen=True)
class DeidOptions:
    """Profile options of PS3.15 E.3 that the platform supports.

    Parameters
    ----------
    retain_uids : bool
        E.3.9, keep UIDs unchanged.
    retain_device_identity : bool
        E.3.4, keep device serial numbers, station names and the like.
    retain_institution_identity : bool
        E.3.14, keep institution names and addresses.
    retain_patient_characteristics : bool
        E.3.5, keep age, sex, size, weight.
    retain_full_dates : bool
        E.3.6, keep dates and times unchanged.
    retain_modified_dates : bool
        E.3.6, shift every date by a per-patient offset derived from the key.
    """

    retain_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_full_dates: bool = False
    retain_modified_dates: bool = False

    def __post_init__(self) -> None:
        if self.retain_full_dates and self.retain_modified_dates:
            raise ValueError("full dates and modified dates are exclusive options")

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the options in use, in the order of ``OPTIONS``."""
        return tuple(name for name in OPTIONS if getattr(self, name))


@dataclass(frozen=True)
class ProfileRule:
    """One row of Table E.1-1: the Basic action and the option overrides."""

    keyword: str
    action: str
    option_actions: dict[str, str]

    def action_for(self, options: DeidOptions) -> str:
        """Action after the options in use (E.3: an option's K or C replaces the Basic action)."""
        for name in options.enabled:
            override = self.option_actions.get(name)
            if override:
                return override
        if "/" not in self.action:
            return self.action
        if self.action == "X/Z/U*":
            # Keep the reference sequence; its UIDs are replaced (U) when the
            # items are cleaned, so references between instances survive.
            return "K"
        return CONFORMANCE_ACTIONS.get(self.keyword, self.action[0])



@functools.cache
def load_profile() -> dict[BaseTag, ProfileRule]:
    """Read Table E.1-1 (PS3.15 E.1) rows with a single tag, keyed by tag, plus
    :data:`SUPPLEMENTARY_RULES`.

    The repeating-group and private rows are handled by rule in
    :func:`mrmc.dicom.deid.deidentify`.
    """
    rules = {}
    with PROFILE_CSV.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if not row["keyword"]:
                continue
            option_actions = {name: row[column] for name, (column, _, _) in OPTIONS.items()
                              if row[column]}
            rules[Tag(row["tag"].strip("()").replace(",", ""))] = ProfileRule(
                row["keyword"], row["action"], option_actions)
    for keyword, action in SUPPLEMENTARY_RULES.items():
        rules[Tag(keyword)] = ProfileRule(keyword, action, {})
    return rules
