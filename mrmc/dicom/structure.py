"""The byte structure of a Part 10 file, checked before any of it is parsed.

pydicom reads sequences by recursion and believes every declared length, so a
file of 20,000 nested sequences overflows the stack and a Deflated data set is
inflated whole. Here the file is walked iteratively (PS3.5 7.1-7.5): every
element length is compared with the data left and with the limits, sequence
nesting is counted, undefined lengths must be closed, and a Deflated data set
(PS3.5 A.5) is inflated in bounded steps. Only a file that passes is handed to
pydicom.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_for_tag

from .errors import InvalidDicom
from .limits import DicomLimits

PREAMBLE_LENGTH = 128
PREFIX = b"DICM"
UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
ITEM_LITTLE_ENDIAN_WORD = 0xE000FFFE  # the item tag's bytes FE FF 00 E0 read as one word
PIXEL_DATA = 0x7FE00010
TRANSFER_SYNTAX_TAG = 0x00020010

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

# PS3.5 Table 6.2-1; the second set has a 32-bit length after two reserved bytes (7.1.2).
VRS = frozenset({
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
    "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
    "UR", "US", "UT", "UV",
})
LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
INFLATE_STEP = 1 << 20


@dataclass(frozen=True)
class FileParts:
    """A Part 10 file split at the end of its File Meta Information (PS3.10 7.1)."""

    meta_end: int
    transfer_syntax: str
    data_set: bytes | memoryview


def split_file(data: bytes | memoryview, limits: DicomLimits) -> FileParts:
    """Check the preamble, prefix and File Meta Information; inflate a Deflated data set."""
    if len(data) == 0:
        raise InvalidDicom("not a DICOM Part 10 file: the file is empty", "not-dicom")
    if bytes(data[PREAMBLE_LENGTH:PREAMBLE_LENGTH + 4]) != PREFIX:
        raise InvalidDicom("not a DICOM Part 10 file: no 'DICM' prefix after the preamble", "not-dicom")
    pos, transfer_syntax = _walk_file_meta(data)
    data_set = data[pos:]
    if transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        data_set = inflate(data_set, limits.max_inflated_bytes)
    return FileParts(pos, transfer_syntax, data_set)


def _walk_file_meta(data: bytes | memoryview) -> tuple[int, str]:
    """End of group 0002, always Explicit VR Little Endian (PS3.10 7.1), and its transfer syntax."""
    pos = PREAMBLE_LENGTH + 4
    transfer_syntax = None
    while pos + 4 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        tag, vr, length, value_start = _element_header(data, pos, implicit=False, little=True)
        if length == UNDEFINED_LENGTH or vr == "SQ":
            raise InvalidDicom(f"malformed file meta information: {_tag_text(tag)} has no defined length")
        _check_room(data, tag, value_start, length, len(data))
        if tag == TRANSFER_SYNTAX_TAG:
            transfer_syntax = bytes(data[value_start:value_start + length]).rstrip(b"\x00 ")
        pos = value_start + length
    if pos == PREAMBLE_LENGTH + 4:
        raise InvalidDicom("truncated: no file meta information after the 'DICM' prefix", "truncated")
    if not transfer_syntax:
        raise InvalidDicom("missing TransferSyntaxUID (0002,0010) in the file meta information",
                           "missing-attribute")
    try:
        return pos, transfer_syntax.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidDicom("TransferSyntaxUID (0002,0010) is not a UID", "invalid-uid") from None


def inflate(deflated: bytes | memoryview, limit: int) -> bytes:
    """Inflate a Deflated data set (PS3.5 A.5, RFC 1951 without a zlib header) up to ``limit`` bytes.

    The output grows in steps of at most :data:`INFLATE_STEP` and inflation stops as
    soon as it passes ``limit``, so a bomb costs ``limit`` bytes, never its full size.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = bytearray()
    pending = deflated
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, min(INFLATE_STEP, limit + 1 - len(inflated)))
            inflated += piece
            if len(inflated) > limit:
                raise InvalidDicom(f"the Deflated data set inflates to more than {limit} bytes", "too-large")
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                raise InvalidDicom("truncated: the Deflated data set ends before its last block", "truncated")
    except zlib.error as exc:
        raise InvalidDicom(f"malformed Deflated data set: {exc}") from None
    return bytes(inflated)


@dataclass
class _Level:
    """A data set, a sequence's items or encapsulated pixel fragments being walked."""

    kind: str  # "data set", "sequence" or "pixel data" (its fragments)
    end: int | None  # None: undefined length, closed by a delimitation item
    implicit: bool
    little: bool


def check_data_set(data: bytes | memoryview, *, implicit: bool, little: bool, limits: DicomLimits) -> None:
    """Walk every element, item and fragment of a data set without recursion.

    Raises
    ------
    InvalidDicom
        ``truncated`` when a length runs past the data or an undefined length is
        never closed, ``too-large`` for an element over ``max_element_bytes`` or
        more than ``max_elements`` elements, ``too-deep`` for sequences nested past
        ``max_sequence_depth``, ``invalid-vr`` for an unknown VR code, ``malformed``
        for items and delimiters where PS3.5 7.5 does not allow them.
    """
    _Walker(data, limits).walk(_Level("data set", len(data), implicit, little))


class _Walker:
    def __init__(self, data: bytes | memoryview, limits: DicomLimits):
        self.data = data
        self.limits = limits
        self.stack: list[_Level] = []
        self.depth = 0
        self.elements = 0

    def walk(self, top: _Level) -> None:
        self.stack.append(top)
        pos = 0
        while self.stack:
            level = self.stack[-1]
            if level.end is not None and pos >= level.end:
                if pos > level.end:
                    raise InvalidDicom(f"malformed: an element runs past the end of its {level.kind}")
                self._pop()
                continue
            if pos + 8 > len(self.data):
                raise InvalidDicom(f"truncated: {level.kind} of undefined length never closed"
                                   if pos == len(self.data) else "truncated: the file ends inside an element",
                                   "truncated")
            self._count()
            pos = self._step(level, pos)

    def _step(self, level: _Level, pos: int) -> int:
        if level.kind == "data set":
            return self._element(level, pos)
        tag, _, length, value_start = _element_header(self.data, pos, level.implicit, level.little)
        if tag == SEQUENCE_END and level.end is None:
            self._pop()
            return value_start
        if tag != ITEM:
            raise InvalidDicom(f"malformed: {_tag_text(tag)} where {level.kind} needs an item")
        if level.kind == "pixel data":
            if length == UNDEFINED_LENGTH:
                raise InvalidDicom("malformed: a pixel data fragment of undefined length")
            self._check_value(tag, value_start, length)
            return value_start + length
        if length != UNDEFINED_LENGTH:
            _check_room(self.data, tag, value_start, length, self._enclosing_end())
        end = None if length == UNDEFINED_LENGTH else value_start + length
        self.stack.append(_Level("data set", end, level.implicit, level.little))
        return value_start

    def _element(self, level: _Level, pos: int) -> int:
        tag, vr, length, value_start = _element_header(self.data, pos, level.implicit, level.little)
        if tag == ITEM_END and level.end is None:
            self._pop()
            return value_start
        if tag >> 16 == 0xFFFE:
            raise InvalidDicom(f"malformed: {_tag_text(tag)} outside a sequence")
        if length == UNDEFINED_LENGTH:
            return self._open_undefined(tag, vr, level, value_start)
        if self._holds_items(tag, vr, level, value_start, length):
            _check_room(self.data, tag, value_start, length, self._enclosing_end())
            unknown = vr == "UN"  # UN holds Implicit VR Little Endian (PS3.5 6.2.2)
            self._push_sequence(_Level("sequence", value_start + length,
                                       level.implicit or unknown, level.little or unknown))
            return value_start
        self._check_value(tag, value_start, length)
        return value_start + length

    def _open_undefined(self, tag: int, vr: str | None, level: _Level, value_start: int) -> int:
        if tag == PIXEL_DATA and vr in (None, "OB", "OW"):  # encapsulated (PS3.5 A.4)
            self.stack.append(_Level("pixel data", None, level.implicit, level.little))
        elif vr in (None, "SQ", "UN"):
            # Undefined-length UN holds a sequence in Implicit VR Little Endian (PS3.5 6.2.2).
            unknown = vr == "UN"
            self._push_sequence(_Level("sequence", None, level.implicit or unknown, level.little or unknown))
        else:
            raise InvalidDicom(f"malformed: {_tag_text(tag)} with VR {vr} has an undefined length")
        return value_start

    def _holds_items(self, tag: int, vr: str | None, level: _Level, value_start: int, length: int) -> bool:
        """Sequences pydicom will parse: SQ, and in implicit VR or as UN, a sequence by the
        dictionary or a value that begins with an item tag (private sequences)."""
        if vr == "SQ":
            return True
        if vr not in (None, "UN") or length < 8:
            return False
        if _dictionary_vr(tag) == "SQ":
            return True
        starts_with = struct.unpack_from("<I", self.data, value_start)[0]
        return tag >> 16 & 1 == 1 and starts_with == ITEM_LITTLE_ENDIAN_WORD

    def _push_sequence(self, level: _Level) -> None:
        self.depth += 1
        if self.depth > self.limits.max_sequence_depth:
            raise InvalidDicom(f"sequences nested more than {self.limits.max_sequence_depth} deep", "too-deep")
        self.stack.append(level)

    def _pop(self) -> None:
        if self.stack.pop().kind == "sequence":
            self.depth -= 1

    def _count(self) -> None:
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise InvalidDicom(f"more than {self.limits.max_elements} elements", "too-large")

    def _check_value(self, tag: int, value_start: int, length: int) -> None:
        if length > self.limits.max_element_bytes:
            raise InvalidDicom(f"{_tag_text(tag)} declares {length} bytes, more than the limit of "
                               f"{self.limits.max_element_bytes}", "too-large")
        _check_room(self.data, tag, value_start, length, self._enclosing_end())

    def _enclosing_end(self) -> int:
        return next((level.end for level in reversed(self.stack) if level.end is not None), len(self.data))


def _element_header(data, pos: int, implicit: bool, little: bool) -> tuple[int, str | None, int, int]:
    """(tag, VR or None when implicit, value length, offset of the value) of the element at ``pos``."""
    order = "<" if little else ">"
    if pos + 8 > len(data):
        raise InvalidDicom("truncated: the file ends inside an element header", "truncated")
    group, element = struct.unpack_from(order + "HH", data, pos)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:  # items and delimiters have no VR (PS3.5 7.5)
        return tag, None, struct.unpack_from(order + "I", data, pos + 4)[0], pos + 8
    vr = bytes(data[pos + 4:pos + 6]).decode("latin-1")
    if vr not in VRS:
        raise InvalidDicom(f"invalid VR code {vr!r} for {_tag_text(tag)}", "invalid-vr")
    if vr in LONG_LENGTH_VRS:
        if pos + 12 > len(data):
            raise InvalidDicom("truncated: the file ends inside an element header", "truncated")
        return tag, vr, struct.unpack_from(order + "I", data, pos + 8)[0], pos + 12
    return tag, vr, struct.unpack_from(order + "H", data, pos + 6)[0], pos + 8


def _check_room(data, tag: int, value_start: int, length: int, end: int) -> None:
    if value_start + length > end:
        raise InvalidDicom(f"truncated: {_tag_text(tag)} is {max(end - value_start, 0)} bytes, "
                           f"{length} expected", "truncated")


def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _tag_text(tag: int) -> str:
    name = keyword_for_tag(tag)
    return f"{name + ' ' if name else ''}({tag >> 16:04X},{tag & 0xFFFF:04X})"

