"""The size a compressed frame says it has, read from its header before any decoder runs.

A JPEG frame header may declare 65,535 x 65,535 pixels in a fragment of a few
bytes; decoders allocate what the header says. Comparing the header with Rows
and Columns first keeps the cost of decoding within the Image Pixel Module's
size, which :class:`~mrmc.dicom.limits.DicomLimits` bounds.
"""

from __future__ import annotations

import struct

from pydicom.uid import (
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLETransferSyntaxes,
)

from .errors import InvalidDicom

JPEG_START_OF_IMAGE = b"\xff\xd8"
# Start of frame markers SOF0-SOF15 (ISO 10918-1 B.1.1.3, less DHT C4, JPG C8, DAC CC)
# and JPEG-LS SOF55 (ISO 14495-1 C.2.2): each is followed by length, precision, height, width.
JPEG_FRAME_MARKERS = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC),
                                *range(0xCD, 0xD0), 0xF7})
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn carry no length
# A JPEG 2000 codestream begins with SOC then SIZ (ISO 15444-1 A.5.1), inside a JP2 file
# after its header boxes; SIZ holds Xsiz, Ysiz, XOsiz, YOsiz after Lsiz and Rsiz.
J2K_START = b"\xff\x4f\xff\x51"
J2K_SEARCH_BYTES = 1 << 16
# RLE Lossless frames begin with a 64-byte header: the number of segments, 1 to 15 (PS3.5 G.3.1).
RLE_MAX_SEGMENTS = 15


def check_frame_header(fragment: bytes, transfer_syntax: str, rows: int, columns: int, number: int) -> None:
    """Refuse a frame whose header is not its codec's, or declares another size than the image's.

    Transfer syntaxes without a header here (MPEG, HEVC, JPEG XL ...) pass unchecked.

    Raises
    ------
    InvalidDicom
        Kind ``decode``.
    """
    if transfer_syntax in JPEGTransferSyntaxes or transfer_syntax in JPEGLSTransferSyntaxes:
        size = _jpeg_size(fragment)
    elif transfer_syntax in JPEG2000TransferSyntaxes:
        size = _j2k_size(fragment)
    elif transfer_syntax in RLETransferSyntaxes:
        segments = struct.unpack_from("<I", fragment)[0] if len(fragment) >= 64 else 0
        size = (rows, columns) if 1 <= segments <= RLE_MAX_SEGMENTS else None
    else:
        return
    if size is None:
        raise InvalidDicom(f"frame {number} has no readable header of its transfer syntax", "decode")
    if size != (rows, columns):
        raise InvalidDicom(f"frame {number} is {size[0]} x {size[1]} pixels by its header, "
                           f"{rows} x {columns} by Rows and Columns", "decode")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of the first start of frame segment, None when there is none."""
    if not data.startswith(JPEG_START_OF_IMAGE):
        return None
    offset = 2
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker (B.1.1.2)
            offset += 1
        elif marker in JPEG_STANDALONE_MARKERS:
            offset += 2
        elif marker in JPEG_FRAME_MARKERS:
            return struct.unpack_from(">HH", data, offset + 5)
        else:
            offset += 2 + struct.unpack_from(">H", data, offset + 2)[0]
    return None


def _j2k_size(data: bytes) -> tuple[int, int] | None:
    start = bytes(data[:J2K_SEARCH_BYTES]).find(J2K_START)
    if start < 0 or start + 24 > len(data):
        return None
    width, height, x_offset, y_offset = struct.unpack_from(">IIII", data, start + 8)
    return height - y_offset, width - x_offset
