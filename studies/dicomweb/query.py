"""QIDO-RS query parameters (PS3.18 8.3.4) and attribute matching on DICOM JSON (PS3.4 C.2.2.2).

A query names matching keys, ``includefield``, ``limit``/``offset``, ``fuzzymatching``. A
parameter this service does not support (an unknown name, an attribute that is no matching key
of the resource, ``emptyvaluematching=true``...) is ignored and named in a ``Warning`` (PS3.18
8.3: "the origin server shall ignore any unsupported Query Parameters"); a supported one with
an invalid value is a 400.

Matching (PS3.4 C.2.2.2), on each value of the attribute (a multi-valued one matches when any
value does):

- UI: UID list matching, values separated by comma or backslash;
- DA, TM: range matching ``a-b``, ``a-``, ``-b``, or one value;
- PN: case-insensitive, with ``*`` and ``?``, against each component group; with
  ``fuzzymatching=true`` every word of the value (words split at ``^``, space, comma, ``=``)
  matches the start of some word of the name, so ``jan`` finds ``Doe^Jane``;
- IS: the same integer;
- other strings (AE, CS, LO, SH, ...): single value matching, case-sensitive, with ``*`` and ``?``;
- an empty value, or ``*``, is universal matching: the attribute is returned, nothing is filtered.

Sequence attributes are matched through their items: ``RequestAttributesSequence.RequestedProcedureID``.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from pydicom.datadict import dictionary_VR, keyword_for_tag

from mrmc.dicom.dicomjson import parse_attribute

from .http import BadRequest

LEVELS = ("study", "series", "instance")
# Matching keys of each level: the required ones of PS3.18 Table 10.6.1-5, and the descriptions.
MATCHING_KEYS = {
    "study": ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName",
              "PatientName", "PatientID", "StudyInstanceUID", "StudyID", "StudyDescription"),
    "series": ("Modality", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "PerformedProcedureStepStartDate",
               "PerformedProcedureStepStartTime", "RequestAttributesSequence.ScheduledProcedureStepID",
               "RequestAttributesSequence.RequestedProcedureID"),
    "instance": ("SOPClassUID", "SOPInstanceUID", "InstanceNumber"),
}
MAX_LIMIT = 1000
UNSUPPORTED_OPTIONS = {
    "emptyvaluematching": ("The emptyvaluematching parameter is not supported. "
                           "Empty Value Matching has not been performed."),
    "multiplevaluematching": ("The multiplevaluematching parameter is not supported. "
                              "Multiple Value Matching has not been performed."),
}
MORE_RESULTS = ("The number of results exceeded the maximum supported by the server. "
                "Additional results can be requested.")
RESERVED = {"limit", "offset", "includefield", "fuzzymatching", *UNSUPPORTED_OPTIONS}
_NAME_WORDS = re.compile(r"[\^ ,=]+")


def open_levels(level: str, scope_depth: int) -> tuple[str, ...]:
    """The levels a search of ``level`` entities leaves open below the ``scope_depth`` UIDs of its URL
    (0 for /studies, /series, /instances; 1 under a study; 2 under a series): their keys are the
    matching keys, their attributes are returned (PS3.18 10.6.1.2, 10.6.3.3)."""
    return LEVELS[scope_depth:LEVELS.index(level) + 1]


@dataclass(frozen=True)
class Matches:
    """A page of QIDO-RS results, whether more entities match after it, and what the archive could not
    do (texts for the Warning header)."""

    results: list[dict]
    more: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One matching key: the attribute path (keywords), its VR and the value asked for."""

    path: tuple[str, ...]
    vr: str
    value: str
    fuzzy: bool = False

    @property
    def keyword(self) -> str:
        return self.path[0]

    @property
    def wildcard(self) -> bool:
        return self.vr not in ("UI", "DA", "TM", "DT", "IS") and ("*" in self.value or "?" in self.value)

    def uids(self) -> list[str]:
        return uid_list(self.value)

    def range(self) -> tuple[str, str]:
        return time_range(self.value, self.vr)

    def number(self) -> int:
        return integer(self.value, self.keyword)

    def matches(self, document: dict) -> bool:
        """Whether a DICOM JSON object (an instance's metadata, a QIDO result) matches."""
        return any(self._value_matches(value) for value in _values(document, self.path))

    def _value_matches(self, value) -> bool:
        if self.vr == "UI":
            return value in self.uids()
        if self.vr in ("DA", "TM"):
            low, high = self.range()
            value = _comparable(str(value), self.vr)
            return (not low or value >= low) and (not high or value <= high)
        if self.vr == "IS":
            return _as_int(value) == self.number()
        if self.vr == "PN":  # {"Alphabetic": ..., "Ideographic": ..., "Phonetic": ...} (PS3.18 F.2.2)
            groups = value.values() if isinstance(value, dict) else [value]
            return any(self._name_matches(group) for group in groups if isinstance(group, str))
        if self.wildcard:
            return wildcard_matches(self.value, str(value))
        return str(value) == self.value

    def _name_matches(self, name: str) -> bool:
        if not self.fuzzy:
            return wildcard_matches(self.value.casefold(), name.casefold())
        words = _NAME_WORDS.split(name.casefold())
        return all(any(wildcard_matches(query.rstrip("*") + "*", word) for word in words)
                   for query in _NAME_WORDS.split(self.value.casefold()) if query.rstrip("*"))


@dataclass(frozen=True)
class QidoQuery:
    """A parsed QIDO-RS query.

    ``includefield`` holds tags (``ggggeeee``) or ``"all"``; ``warnings`` the texts of the
    ``Warning`` header (ignored parameters); ``server_limited`` whether the page size is this
    service's maximum rather than the client's ``limit``.
    """

    conditions: tuple[Condition, ...] = ()
    includefield: tuple[str, ...] = ()
    limit: int = MAX_LIMIT
    offset: int = 0
    warnings: tuple[str, ...] = ()
    server_limited: bool = True
    returned_tags: tuple[str, ...] = ()

    def matches(self, document: dict) -> bool:
        return all(condition.matches(document) for condition in self.conditions)

    @property
    def wants_all(self) -> bool:
        return "all" in self.includefield

    def extra_tags(self) -> set[str]:
        """Tags returned besides the level's defaults: those asked for and the matching keys."""
        return {tag for tag in self.includefield if tag != "all"} | set(self.returned_tags)

    def uid_filters(self) -> dict[str, str]:
        """The UID list keys, as a QIDO query for another server (comma-separated)."""
        return {c.keyword: ",".join(c.uids()) for c in self.conditions if c.vr == "UI" and len(c.path) == 1}

    def warning_texts(self, *, more_results: bool) -> tuple[str, ...]:
        return (*self.warnings, MORE_RESULTS) if more_results and self.server_limited else self.warnings


def page_of(candidates: Iterable, query: QidoQuery, keep: Callable[[object], bool]) -> tuple[list, bool]:
    """The page ``query`` asks for (``offset``, ``limit``) of the candidates ``keep`` accepts, and
    whether more follow it; the candidates are consumed only as far as that needs."""
    window = list(islice(filter(keep, candidates), query.offset, query.offset + query.limit + 1))
    return window[:query.limit], len(window) > query.limit


def parse_query(params, levels: tuple[str, ...]) -> QidoQuery:
    """Read a QIDO query string for a search whose matching keys are those of ``levels``."""
    allowed = {key for level in levels for key in MATCHING_KEYS[level]}
    fuzzy = _boolean(params, "fuzzymatching")
    conditions, returned, ignored = [], [], []
    for name, value in params.items():
        if name in RESERVED:
            continue
        path = _attribute_path(name)
        if path is None or ".".join(path) not in allowed:
            ignored.append(name)
            continue
        returned.append(_tag_of(path[0]))
        if value.strip("*"):  # empty or "*" is universal matching (PS3.4 C.2.2.2.3-4): returned, not filtered
            conditions.append(_condition(path, value, fuzzy))
    warnings = [text for option, text in UNSUPPORTED_OPTIONS.items() if _boolean(params, option)]
    if ignored:
        names = ", ".join(sorted(_printable(name) for name in ignored)[:20])
        warnings.append(f"The following query parameters are not supported and were ignored: {names}")
    limit = _count(params, "limit", MAX_LIMIT + 1)
    return QidoQuery(
        conditions=tuple(conditions), includefield=_includefield(params), warnings=tuple(warnings),
        limit=min(limit, MAX_LIMIT), offset=_count(params, "offset", 0), server_limited=limit > MAX_LIMIT,
        returned_tags=tuple(returned),
    )


def _printable(name: str) -> str:
    """A parameter name as it may stand in a header: printable ASCII without quotes or backslashes."""
    return re.sub(r'[^\x21-\x7e]|["\\]', "?", name[:64])


def _condition(path: tuple[str, ...], value: str, fuzzy: bool) -> Condition:
    condition = Condition(path, _vr(path[-1]), value, fuzzy=fuzzy)
    if condition.vr == "UI" and not all(re.fullmatch(r"[0-9][0-9.]{0,63}", uid) for uid in condition.uids()):
        raise BadRequest(f"{'.'.join(path)} must be UIDs separated by commas, not {value[:80]!r}")
    if condition.vr in ("DA", "TM"):
        condition.range()
    if condition.vr == "IS":
        condition.number()
    return condition


def _attribute_path(name: str) -> tuple[str, ...] | None:
    """``attribute *("." attribute)`` as keywords (PS3.18 8.3.4.1), or None if it names none."""
    try:
        return tuple(keyword_for_tag(parse_attribute(part)) or "" for part in name.split("."))
    except ValueError:
        return None


def _includefield(params) -> tuple[str, ...]:
    """``includefield``: attributes (keyword or tag, comma-separated, repeatable) or ``all``."""
    include = []
    for value in params.getlist("includefield"):
        for item in filter(None, (part.strip() for part in value.split(","))):
            if item == "all":
                include.append("all")
                continue
            try:  # an attribute in a sequence is returned with its sequence
                include.append(f"{parse_attribute(item.split('.')[0]):08X}")
            except ValueError:
                raise BadRequest(f"includefield: unknown attribute {item[:64]!r}") from None
    return tuple(include)


def _boolean(params, name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false")
    return value == "true"


def _count(params, name: str, default: int) -> int:
    value = params.get(name, "")
    if not value:
        return default
    return integer(value, name, non_negative=True)


def integer(value: str, name: str, *, non_negative: bool = False) -> int:
    """An integer of at most 9 digits, in ASCII ("²" is a digit to isdigit), within SQL's integers."""
    digits = value.strip()
    signed = not non_negative and digits[:1] in "+-"
    body = digits[1:] if signed else digits
    if not (body.isascii() and body.isdigit() and len(body) <= 9):
        kind = "a non-negative integer" if non_negative else "an integer"
        raise BadRequest(f"{name} must be {kind} of at most 9 digits, not {value[:20]!r}")
    return int(digits)


def uid_list(value: str) -> list[str]:
    """UID list matching (PS3.18 8.3.4.1): values separated by comma or backslash."""
    return [uid.strip() for uid in value.replace("\\", ",").split(",") if uid.strip()]


_FORMATS = {"DA": re.compile(r"[0-9]{8}"), "TM": re.compile(r"[0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?")}


def time_range(value: str, vr: str = "DA") -> tuple[str, str]:
    """Range matching of a DA or TM value (PS3.4 C.2.2.2.5): ``a-b``, ``a-``, ``-b`` or one value,
    as comparable strings (a TM padded to HHMMSS.FFFFFF); an open end is empty."""
    low, dash, high = value.partition("-")
    if not dash:
        high = low
    example = "YYYYMMDD-YYYYMMDD" if vr == "DA" else "HHMMSS-HHMMSS"
    if not (low or high) or not all(not part or _FORMATS[vr].fullmatch(part) for part in (low, high)):
        raise BadRequest(f"{value[:40]!r} is not a {'date' if vr == 'DA' else 'time'} or range {example}")
    return _comparable(low, vr) if low else "", _comparable(high, vr) if high else ""


def _comparable(value: str, vr: str) -> str:
    if vr == "DA":
        return value.strip()[:8]
    whole, _, fraction = value.strip().partition(".")
    return f"{whole:0<6}.{fraction:0<6}"


def _values(element_container: dict, path: tuple[str, ...]) -> list:
    """The values at ``path`` in a DICOM JSON object, through every item of the sequences on the way."""
    element = element_container.get(_tag_of(path[0]), {})
    values = element.get("Value", [])
    if len(path) == 1:
        return values
    return [value for item in values if isinstance(item, dict) for value in _values(item, path[1:])]


def wildcard_matches(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern``, whose ``*`` stands for any characters and ``?`` for one
    (PS3.4 C.2.2.2.4), every other character for itself.

    In at most len(pattern) x len(text) steps, where a regular expression of several ``.*`` can
    backtrack for seconds on a 64-character value: a query is hostile input.
    """
    p = t = 0
    star, resume = -1, 0  # the last * met, and where in text it stopped matching
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, t, p + 1
        elif p < len(pattern) and pattern[p] in ("?", text[t]):
            p, t = p + 1, t + 1
        elif star >= 0:  # let the last * take one more character
            p, resume = star + 1, resume + 1
            t = resume
        else:
            return False
    return pattern[p:].strip("*") == ""


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _tag_of(keyword: str) -> str:
    return f"{parse_attribute(keyword):08X}"


def _vr(keyword: str) -> str:
    return dictionary_VR(parse_attribute(keyword)).split(" ")[0]
