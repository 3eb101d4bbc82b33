"""Coarse patient and acquisition attributes of an instance, read before it is de-identified.

A reader study's report compares its cases with the intended-use population (age, sex, equipment, …).
Some of these attributes exist only in the DICOM header as received, and de-identification removes
them. What is taken here is only what the PS3.15 Annex E profile would let the stored instance keep
under the options named (:data:`CASE_RECORD_OPTIONS` by default), and coarser still:

- patient sex and an age band: Patient's Sex (0010,0040) and Patient's Age (0010,1010) are kept by
  the Retain Patient Characteristics Option (E.3.5); of the age only its band is taken, computed from
  Patient's Age or, where that is absent or malformed, from Study Date minus Patient's Birth Date
  (neither date is kept);
- the equipment: Manufacturer (0008,0070), Manufacturer's Model Name (0008,1090) and Software
  Versions (0018,1020), with Modality and Body Part Examined, which Table E.1-1 does not list and the
  Basic Profile therefore keeps. Device serial numbers and station names (Retain Device Identity
  Option) and institutions are never taken.

The instance itself is de-identified as before; these values go to the case record only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from .deid_profile import DeidOptions, load_profile

CASE_RECORD_OPTIONS = DeidOptions(retain_patient_characteristics=True)
DEFAULT_AGE_BANDS = (0, 18, 40, 50, 60, 70, 80)  # lower bounds in years: 0-17, 18-39, 40-49, …, 80+
MAX_AGE_YEARS = 150  # an age beyond this is an entry error, not a patient
SEXES = {"M": "M", "F": "F", "O": "O"}  # PS3.3 C.7.1.1: M male, F female, O other
TEXT_LIMIT = 64  # a LO value's length (PS3.5 6.2)

# case attribute -> the DICOM keywords it is read from (the first is the one whose profile rule decides)
ATTRIBUTES = {
    "sex": ("PatientSex",),
    "age_band": ("PatientAge", "PatientBirthDate", "StudyDate"),
    "manufacturer": ("Manufacturer",),
    "model": ("ManufacturerModelName",),
    "software_versions": ("SoftwareVersions",),
    "modality": ("Modality",),
    "body_part": ("BodyPartExamined",),
}
_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
_DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def age_band_labels(bounds: Sequence[int] = DEFAULT_AGE_BANDS) -> list[str]:
    """The band labels of increasing lower bounds starting at 0: ``[0, 18, 40]`` → ``0-17, 18-39, 40+``.

    Raises ValueError where the bounds are not whole numbers from 0, strictly increasing, below
    :data:`MAX_AGE_YEARS`.
    """
    bounds = list(bounds)
    if (not bounds or bounds[0] != 0 or any(not isinstance(b, int) or isinstance(b, bool) for b in bounds)
            or any(b >= c for b, c in zip(bounds, bounds[1:], strict=False)) or bounds[-1] >= MAX_AGE_YEARS):
        raise ValueError(f"age bands must be whole years starting at 0, strictly increasing, below {MAX_AGE_YEARS}")
    return [f"{low}-{high - 1}" for low, high in zip(bounds, bounds[1:], strict=False)] + [f"{bounds[-1]}+"]


def age_band(years: float, bounds: Sequence[int] = DEFAULT_AGE_BANDS) -> str:
    """The label of the band that ``years`` falls in."""
    labels = age_band_labels(bounds)
    index = max(i for i, low in enumerate(bounds) if years >= low)
    return labels[index]


def coarse_attributes(ds: Dataset, *, options: DeidOptions = CASE_RECORD_OPTIONS,
                      age_bands: Sequence[int] = DEFAULT_AGE_BANDS) -> dict[str, str]:
    """The coarse attributes of :data:`ATTRIBUTES` that ``ds`` holds and the profile under ``options`` keeps.

    Missing, empty and malformed values are left out (an unknown sex ``U``, an age ``045X``, an age
    over :data:`MAX_AGE_YEARS` or a birth date after the study). Text is stripped and cut to 64 characters;
    several Software Versions are joined with a backslash, as DICOM writes them.
    """
    readers = {"sex": _sex, "age_band": lambda d: _age_band(d, age_bands), "manufacturer": _text("Manufacturer"),
               "model": _text("ManufacturerModelName"), "software_versions": _text("SoftwareVersions"),
               "modality": _code("Modality"), "body_part": _code("BodyPartExamined")}
    found = {}
    for name, keywords in ATTRIBUTES.items():
        if not profile_keeps(keywords[0], options):
            continue
        value = readers[name](ds)
        if value:
            found[name] = value
    return found


def profile_keeps(keyword: str, options: DeidOptions) -> bool:
    """Whether the PS3.15 profile under ``options`` keeps the attribute: not in Table E.1-1, or action K."""
    rule = load_profile().get(Tag(keyword))
    return rule is None or rule.action_for(options) == "K"


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None:
        return []
    values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    return [" ".join(str(v).split()) for v in values if str(v).strip()]


def _text(keyword: str):
    def read(ds: Dataset) -> str:
        return "\\".join(_values(ds, keyword))[:TEXT_LIMIT]
    return read


def _code(keyword: str):
    def read(ds: Dataset) -> str:
        return "\\".join(_values(ds, keyword)).upper()[:TEXT_LIMIT]
    return read


def _sex(ds: Dataset) -> str:
    values = _values(ds, "PatientSex")
    return SEXES.get(values[0].upper(), "") if values else ""


def _age_band(ds: Dataset, bounds: Sequence[int]) -> str:
    years = _age_from_patient_age(ds)
    if years is None:
        years = _age_from_dates(ds)
    if years is None or not 0 <= years <= MAX_AGE_YEARS:
        return ""
    return age_band(years, bounds)


def _age_from_patient_age(ds: Dataset) -> float | None:
    """Patient's Age (AS, ``nnnD|W|M|Y``) in years."""
    values = _values(ds, "PatientAge")
    match = _AGE.match(values[0].upper()) if values else None
    if not match:
        return None
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)] / 365.25


def _age_from_dates(ds: Dataset) -> float | None:
    """Whole years from Patient's Birth Date to Study Date (both DA), None unless both are valid dates."""
    born, studied = _date(ds, "PatientBirthDate"), _date(ds, "StudyDate")
    if born is None or studied is None or born > studied:
        return None
    return studied.year - born.year - ((studied.month, studied.day) < (born.month, born.day))


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    values = _values(ds, keyword)
    try:
        return dt.date.fromisoformat(values[0]) if values and len(values[0]) == 8 else None
    except ValueError:
        return None
