"""QIDO-RS query parameters (PS3.18 8.3.4): matching keys, ``limit``/``offset``, ``includefield``."""

from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

from mrmc.dicom.dicomjson import parse_attribute

from .http import BadRequest

# Matching keys supported at each level (PS3.18 Table 10.6.1-5, the required ones).
MATCHING_KEYS = {
    "study": ("StudyInstanceUID", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy"),
    "series": ("SeriesInstanceUID", "Modality", "SeriesNumber"),
    "instance": ("SOPInstanceUID", "SOPClassUID", "InstanceNumber"),
}
RESERVED = {"limit", "offset", "includefield", "fuzzymatching"}
MAX_LIMIT = 1000


@dataclass(frozen=True)
class QidoQuery:
    """``filters`` maps keyword to the value to match; ``includefield`` holds keywords or ``"all"``."""

    filters: dict[str, str]
    limit: int
    offset: int
    includefield: tuple[str, ...]

    def page(self, items: list) -> list:
        return items[self.offset:self.offset + self.limit]


def parse_query(params, level: str) -> QidoQuery:
    """Read a QIDO query string; an unknown attribute or a key not matched at ``level`` is a 400."""
    filters = {}
    for name, value in params.items():
        if name in RESERVED:
            continue
        keyword = _keyword(name)
        if keyword not in MATCHING_KEYS[level]:
            raise BadRequest(f"{keyword} is not a matching key at the {level} level")
        filters[keyword] = value
    include = []
    for value in params.getlist("includefield"):
        for item in filter(None, (part.strip() for part in value.split(","))):
            include.append("all" if item == "all" else _keyword(item))
    return QidoQuery(filters, _number(params, "limit", MAX_LIMIT), _number(params, "offset", 0), tuple(include))


def _keyword(name: str) -> str:
    try:
        tag = parse_attribute(name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return keyword_for_tag(tag) or f"{tag:08X}"


def _number(params, name: str, default: int) -> int:
    value = params.get(name, "")
    if not value:
        return default
    # ASCII digits only ("²" is a digit to isdigit), and few enough to stay within SQL's integers.
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise BadRequest(f"{name} must be a non-negative integer of at most 9 digits")
    return min(int(value), MAX_LIMIT) if name == "limit" else int(value)


def uid_list(value: str) -> list[str]:
    """UID list matching (PS3.18 8.3.4.1): values separated by comma or backslash."""
    return [uid.strip() for uid in value.replace("\\", ",").split(",") if uid.strip()]


def date_range(value: str) -> tuple[str, str]:
    """Range matching of a DA value (PS3.4 C.2.2.2.5): ``a-b``, ``a-``, ``-b`` or one date."""
    if "-" not in value:
        value = f"{value}-{value}"
    low, _, high = value.partition("-")
    if not all(part == "" or (len(part) == 8 and part.isdigit()) for part in (low, high)):
        raise BadRequest(f"StudyDate {value!r} is not a date or date range YYYYMMDD-YYYYMMDD")
    return low, high
