"""WADO-RS frames, rendered images and multipart/related streaming (PS3.18 8.7, 9.4).

Native frames are sliced out of Pixel Data without decoding: a 2048x2048 16-bit
frame is one 8 MiB copy. Encapsulated frames are the stored fragments, unless
the client asks for the uncompressed form.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_modality_lut, apply_voi, get_decoder
from pydicom.uid import UID

from .parse import native_frame_length, number_of_frames

STREAM_CHUNK = 1 << 20
BIG_ENDIAN = UID("1.2.840.10008.1.2.2")
NATIVE_MEDIA_TYPE = "application/octet-stream"
# Media types of compressed pixel data, PS3.18 8.7.3.3.2 (Table 8.7.3-2).
ENCAPSULATED_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", "1.2.840.10008.1.2.5": "image/dicom-rle",
}
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
LITTLE_ENDIAN_NATIVE = {UID("1.2.840.10008.1.2"), UID(EXPLICIT_VR_LITTLE_ENDIAN)}


class FrameNotFound(LookupError):
    """A requested frame number is outside 1..Number of Frames."""


def transfer_syntax(ds: Dataset) -> UID:
    """Transfer Syntax UID (0002,0010) of a dataset read from a Part 10 file."""
    return UID(ds.file_meta.TransferSyntaxUID)


def frame_content_type(transfer_syntax_uid: str, keep_encoding: bool = True) -> str:
    """Content-Type of one frame part (PS3.18 8.7.3.3.2), with its transfer-syntax.

    Native frames, and encapsulated ones that are decoded (``keep_encoding``
    False), are ``application/octet-stream`` in Explicit VR Little Endian.
    """
    uid = UID(transfer_syntax_uid)
    if uid.is_encapsulated and keep_encoding:
        media_type = ENCAPSULATED_MEDIA_TYPES.get(str(uid), NATIVE_MEDIA_TYPE)
        return f"{media_type}; transfer-syntax={uid}"
    return f"{NATIVE_MEDIA_TYPE}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"


def get_frames(ds: Dataset, numbers: Sequence[int], *, keep_encoding: bool = True) -> list[bytes]:
    """Pixel data of frames ``numbers`` (1-based) for WADO-RS ``/frames/{n}`` (PS3.18 8.7.3).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Instance read from a Part 10 file.
    numbers : sequence of int
        Frame numbers, 1-based, in the order of the response.
    keep_encoding : bool
        For encapsulated transfer syntaxes: True returns the stored compressed
        frame (``transfer-syntax=*``), False decodes it to little-endian native
        bytes. Ignored for native transfer syntaxes.

    Returns
    -------
    list of bytes
        Native frames are little endian, ``Rows*Columns*SamplesPerPixel``
        samples of ``BitsAllocated`` bits (packed for 1-bit data, PS3.5 8.1.1).

    Raises
    ------
    FrameNotFound
        A number is outside 1..Number of Frames.
    """
    count = number_of_frames(ds)
    missing = [n for n in numbers if not 1 <= n <= count]
    if missing:
        raise FrameNotFound(f"frame(s) {missing} not in 1..{count}")
    uid = transfer_syntax(ds)
    if not uid.is_encapsulated:
        return [_native_frame(ds, n, uid) for n in numbers]
    if keep_encoding:
        offsets = _extended_offsets(ds)
        return [get_frame(ds.PixelData, n - 1, number_of_frames=count, extended_offsets=offsets)
                for n in numbers]
    return [_little_endian_bytes(decode_frame(ds, n)) for n in numbers]


def native_frame_layout(data: bytes) -> tuple[int, int] | None:
    """Where native frames sit in a Part 10 file: (offset of Pixel Data's value, bytes per frame).

    With it, frame ``n`` is ``frame_length`` bytes at ``offset + (n - 1) * frame_length``
    and a server can read it straight from the file (PS3.5 8.1.1, A.1). None when the
    frames cannot be sliced so: encapsulated, big endian, deflated, bit-packed or no pixel data.
    """
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=1024)
    if transfer_syntax(ds) not in LITTLE_ENDIAN_NATIVE or "PixelData" not in ds:
        return None
    if ds.BitsAllocated % 8 or ds.get_item("PixelData").file_tell is None:
        return None
    frame_length = native_frame_length(ds)
    if len(data) < ds.get_item("PixelData").file_tell + frame_length * number_of_frames(ds):
        return None
    return ds.get_item("PixelData").file_tell, frame_length


def _native_frame(ds: Dataset, number: int, uid: UID) -> bytes:
    length = native_frame_length(ds)
    if ds.BitsAllocated == 1 and (ds.Rows * ds.Columns * ds.SamplesPerPixel) % 8:
        return _bit_packed_frame(ds, number)
    start = (number - 1) * length
    frame = memoryview(ds.PixelData)[start:start + length]
    if uid == BIG_ENDIAN and ds.BitsAllocated > 8:
        return np.frombuffer(frame, dtype=f">u{ds.BitsAllocated // 8}").astype(
            f"<u{ds.BitsAllocated // 8}").tobytes()
    return bytes(frame)


def _bit_packed_frame(ds: Dataset, number: int) -> bytes:
    """1-bit frames that do not end on a byte boundary start mid-byte (PS3.5 8.1.1)."""
    bits_per_frame = ds.Rows * ds.Columns * ds.SamplesPerPixel
    bits = np.unpackbits(np.frombuffer(ds.PixelData, dtype=np.uint8), bitorder="little")
    start = (number - 1) * bits_per_frame
    return np.packbits(bits[start:start + bits_per_frame], bitorder="little").tobytes()


def _extended_offsets(ds: Dataset) -> tuple[bytes, bytes] | None:
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        return ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths
    return None


def can_decode(transfer_syntax_uid: str) -> bool:
    """Whether frames in this transfer syntax can be decoded with the installed plugins."""
    uid = UID(transfer_syntax_uid)
    if not uid.is_encapsulated:
        return True
    try:
        return get_decoder(uid).is_available
    except NotImplementedError:
        return False


def decode_frame(ds: Dataset, number: int) -> np.ndarray:
    """One frame (1-based) decoded to an array; colour JPEG comes back as RGB."""
    if not 1 <= number <= number_of_frames(ds):
        raise FrameNotFound(f"frame {number} not in 1..{number_of_frames(ds)}")
    array, _ = get_decoder(transfer_syntax(ds)).as_array(ds, index=number - 1)
    return array


def _little_endian_bytes(array: np.ndarray) -> bytes:
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def render(ds: Dataset, frame: int = 1, *, window_center: float | None = None,
           window_width: float | None = None, viewport: tuple[int, int] | None = None,
           fmt: str = "png", quality: int = 90) -> bytes:
    """A frame as an 8-bit PNG or JPEG for WADO-RS ``/rendered`` (PS3.18 8.7.4, 9.4).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The instance.
    frame : int
        1-based frame number.
    window_center, window_width : float, optional
        VOI window (PS3.18 8.3.5.1.3 ``window``); both or neither. Without them the
        file's first window or VOI LUT is used, else the frame's value range.
    viewport : (int, int), optional
        Largest width and height; the image is scaled down keeping its aspect.
    fmt : {'png', 'jpeg'}
        Output format.
    quality : int
        JPEG quality.

    Returns
    -------
    bytes
        The encoded image.

    Notes
    -----
    Grayscale goes through the Modality LUT (PS3.3 C.11.1), the VOI LUT or
    LINEAR window (C.11.2.1.2.1) and, for MONOCHROME1, an inversion so that
    what the standard displays as white is white.
    """
    if (window_center is None) != (window_width is None):
        raise ValueError("window_center and window_width go together")
    pixels = decode_frame(ds, frame)
    if ds.SamplesPerPixel == 1:
        image = Image.fromarray(_grayscale_8bit(ds, pixels, window_center, window_width))
    else:
        image = Image.fromarray(_color_8bit(ds, pixels))
    if viewport:
        image.thumbnail(viewport, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, format="JPEG", quality=quality)
    elif fmt == "png":
        image.save(out, format="PNG", compress_level=1)  # speed over size for thumbnails
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    return out.getvalue()


def _grayscale_8bit(ds: Dataset, pixels: np.ndarray, center: float | None, width: float | None) -> np.ndarray:
    return np.rint(display_values(ds, pixels, center, width) * 255).astype(np.uint8)


def display_values(ds: Dataset, pixels: np.ndarray, center: float | None = None, width: float | None = None,
                   *, file_window: bool = True) -> np.ndarray:
    """Grayscale ``pixels`` as displayed, float32 in 0..1 (white = 1).

    The Modality LUT (PS3.3 C.11.1), then the LINEAR window ``center``/``width``; without one, the
    file's first window or VOI LUT (unless ``file_window`` is False), else the image's value range;
    MONOCHROME1 is inverted.
    """
    values = apply_modality_lut(pixels, ds).astype(np.float32, copy=False)
    if center is None and file_window and "WindowWidth" in ds and "WindowCenter" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    if center is not None:
        scaled = _linear_window(values, float(center), float(width))
    elif file_window and "VOILUTSequence" in ds:
        scaled = _stretch(apply_voi(values, ds, index=0).astype(np.float32))
    else:
        scaled = _stretch(values)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        scaled = 1.0 - scaled
    return scaled.astype(np.float32, copy=False)


def _linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """LINEAR VOI function of PS3.3 C.11.2.1.2.1, to the range 0..1."""
    return np.clip((values - (center - 0.5)) / max(width - 1, 1) + 0.5, 0, 1)


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _color_8bit(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return np.rint(_stretch(pixels.astype(np.float32)) * 255).astype(np.uint8)


def _first(value) -> float:
    return float(value[0]) if isinstance(value, Sequence) and not isinstance(value, str) else float(value)


def multipart_related(parts: Iterable[bytes | BinaryIO], content_type: str,
                      boundary: str | None = None) -> tuple[Iterator[bytes], str]:
    """Stream ``parts`` as one multipart/related body (PS3.18 8.7.1.1, RFC 2387).

    Parameters
    ----------
    parts : iterable of bytes or binary file objects
        Bodies in order; files are read in 1 MiB chunks and closed, so a large
        series never sits whole in memory. The iterable may be lazy.
    content_type : str
        Content-Type of every part, e.g. ``application/dicom`` or
        ``application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1``.
    boundary : str, optional
        Defaults to a random one.

    Returns
    -------
    (iterator of bytes, str)
        The body chunks and the value of the response Content-Type header,
        ``multipart/related; type="<media type>"[; <parameters>]; boundary=...``.
    """
    boundary = boundary or uuid.uuid4().hex
    media_type, _, parameters = content_type.partition(";")
    header = f'multipart/related; type="{media_type.strip()}"'
    if parameters.strip():
        header += f"; {parameters.strip()}"
    header += f"; boundary={boundary}"
    return _multipart_chunks(parts, content_type, boundary), header


def _multipart_chunks(parts: Iterable[bytes | BinaryIO], content_type: str,
                      boundary: str) -> Iterator[bytes]:
    part_head = f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
    for part in parts:
        yield part_head
        if isinstance(part, bytes | bytearray | memoryview):
            yield bytes(part)
        else:
            with part:
                while chunk := part.read(STREAM_CHUNK):
                    yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
