"""One frame re-encoded into a lossless compressed transfer syntax, for WADO-RS frames (PS3.18 8.7.3.5),
and an instance carrying its frames so encoded, for WADO-RS instances (PS3.18 8.7.3.5.2).

The frame is decoded with :func:`mrmc.dicom.frames.decode_frame` and encoded again: JPEG-LS by
CharLS through pydicom's encoder (pyjpegls), JPEG 2000 by OpenJPEG and HTJ2K by OpenJPH, both
through imagecodecs (pydicom has no HTJ2K encoder, and its JPEG 2000 one always makes six
resolutions, which frames under 32 pixels wide or high do not have).
Only lossless syntaxes are offered, and only from frames that were never lossy compressed: a
lossless label on pixels that lost information would misstate them (PS3.3 C.7.6.1.1.5).

The result is the codestream a WADO-RS frame part carries; the instance's metadata (Photometric
Interpretation, Bits Stored ...) stays true of it, so nothing here changes what the metadata says.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from importlib.metadata import version

import imagecodecs
import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.encoders import JPEGLSLosslessEncoder
from pydicom.uid import (
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from .frames import decode_frame, transfer_syntax

OFFERED_SYNTAXES: tuple[UID, ...] = (JPEGLSLossless, JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL)
# Encapsulated syntaxes whose frames keep every bit; native ones do too.
LOSSLESS_ENCAPSULATED = frozenset({
    RLELossless, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL,
})
# What a frame encoded by this module is like: part of the frame cache's key, so frames encoded
# by another codec release or with other options are never served for these.
ENCODING_REVISION = 1
ENCODER_VERSION = f"{ENCODING_REVISION}/pyjpegls-{version('pyjpegls')}/imagecodecs-{version('imagecodecs')}"

# Photometric interpretations valid for these syntaxes whose decoded samples are what they name
# (PS3.5 Table 8.2.4-1); YBR_* frames would be read through a colour transform that is not there.
PHOTOMETRIC_SAMPLES = {"MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3}
BITS_ALLOCATED = (8, 16)
MIN_BITS_STORED = 2  # JPEG-LS precision is 2..16 bits (ISO 14495-1 C.2.2)
# HTJ2K Lossless RPCL: decompositions down to a base resolution of at most 64 pixels (PS3.5 10.18).
RPCL_BASE_RESOLUTION = 64
HTJ2K_DECOMPOSITIONS = 5  # OpenJPH's default, kept where PS3.5 asks for no more
J2K_SIZ = b"\xff\x4f\xff\x51"  # SOC then SIZ (ISO 15444-1 A.5.1)
SIZ_SSIZ_OFFSET = 42  # from SOC: SIZ marker, Lsiz, Rsiz, 8 x 4 bytes of sizes, Csiz


class CannotTranscode(ValueError):
    """A frame cannot be encoded in the requested transfer syntax; the message names why."""


@dataclass(frozen=True)
class PixelFormat:
    """The Image Pixel Module attributes an encoder needs (PS3.3 C.7.6.3)."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str

    @classmethod
    def of(cls, ds: Dataset) -> PixelFormat:
        return cls(int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1)), int(ds.BitsAllocated),
                   int(ds.BitsStored), int(ds.PixelRepresentation), str(ds.PhotometricInterpretation))

    @property
    def signed(self) -> bool:
        return self.pixel_representation == 1

    def pydicom_options(self) -> dict:
        """Keyword arguments of pydicom's ``Encoder.encode`` for an array in this format."""
        return {"rows": self.rows, "columns": self.columns, "samples_per_pixel": self.samples_per_pixel,
                "bits_allocated": self.bits_allocated, "bits_stored": self.bits_stored,
                "pixel_representation": self.pixel_representation,
                "photometric_interpretation": self.photometric_interpretation, "planar_configuration": 0,
                "number_of_frames": 1}


def encode_frame(ds: Dataset, number: int, transfer_syntax_uid: str) -> bytes:
    """Frame ``number`` (1-based) of ``ds`` as a codestream of ``transfer_syntax_uid``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The instance, read from its Part 10 file, in any transfer syntax pydicom can decode.
    number : int
        1-based frame number.
    transfer_syntax_uid : str
        One of :data:`OFFERED_SYNTAXES`.

    Returns
    -------
    bytes
        The frame's codestream: what one WADO-RS frame part in that transfer syntax carries.

    Raises
    ------
    CannotTranscode
        The syntax is not offered, the frame was lossy compressed, or its colour model or bit depth
        has no lossless encoding here; also when the codec refuses the frame.
    mrmc.dicom.frames.FrameNotFound
        ``number`` is outside 1..Number of Frames.

    Errors of decoding the stored frame propagate as :func:`~mrmc.dicom.frames.decode_frame` raises them.
    """
    uid = UID(transfer_syntax_uid)
    pixel_format = check_encodable(ds, uid)
    pixels = decode_frame(ds, number)
    try:
        return bytes(_ENCODERS[uid](pixels, pixel_format))
    except (ValueError, RuntimeError) as exc:  # codec errors name the problem in their message
        raise CannotTranscode(f"frame {number} could not be encoded as {uid.name}: {exc}") from exc


def check_encodable(ds: Dataset, uid: UID) -> PixelFormat:
    """The frames' pixel format when they can be encoded in ``uid``; :class:`CannotTranscode` otherwise."""
    if uid not in OFFERED_SYNTAXES:
        offered = ", ".join(f"{syntax} ({syntax.name})" for syntax in OFFERED_SYNTAXES)
        raise CannotTranscode(f"frames are not encoded in {uid}; offered are {offered}")
    stored = transfer_syntax(ds)
    if stored.is_encapsulated and stored not in LOSSLESS_ENCAPSULATED:
        raise CannotTranscode(f"the frames are stored in {stored.name}, which may be lossy; "
                              f"{uid.name} would claim pixels they no longer have")
    if ds.get("LossyImageCompression") == "01":
        raise CannotTranscode(f"the image was lossy compressed (Lossy Image Compression 01); "
                              f"{uid.name} would claim pixels it no longer has")
    try:
        pixel_format = PixelFormat.of(ds)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CannotTranscode(f"the Image Pixel Module is incomplete or malformed: {exc}") from exc
    samples = PHOTOMETRIC_SAMPLES.get(pixel_format.photometric_interpretation)
    if samples is None:
        raise CannotTranscode(f"colour model {pixel_format.photometric_interpretation} is not encoded here; "
                              f"{', '.join(PHOTOMETRIC_SAMPLES)} are")
    if pixel_format.samples_per_pixel != samples:
        raise CannotTranscode(f"{pixel_format.photometric_interpretation} with {pixel_format.samples_per_pixel} "
                              f"samples per pixel is not a valid image")
    if samples > 1 and ds.get("PlanarConfiguration", 0) != 0:
        raise CannotTranscode("colour-by-plane frames (Planar Configuration 1): the metadata would tell a client "
                              "to read the decoded colour-by-pixel frame by plane")
    if pixel_format.bits_allocated not in BITS_ALLOCATED or not (
            MIN_BITS_STORED <= pixel_format.bits_stored <= pixel_format.bits_allocated):
        raise CannotTranscode(f"bit depth {pixel_format.bits_stored} of {pixel_format.bits_allocated} allocated "
                              f"is not encoded here: {MIN_BITS_STORED} to 16 bits in 8 or 16 are")
    return pixel_format


def _jpeg_ls(pixels: np.ndarray, pixel_format: PixelFormat) -> bytes:
    return JPEGLSLosslessEncoder.encode(pixels, encoding_plugin="pyjpegls", **pixel_format.pydicom_options())


def _jpeg_2000(pixels: np.ndarray, pixel_format: PixelFormat) -> bytes:
    """Reversible JPEG 2000 codestream (no JP2 boxes, PS3.5 A.4.4) at the precision of Bits Stored,
    without the multi-component transform that Photometric Interpretation RGB rules out."""
    samples = pixels.astype(_container_dtype(pixel_format), copy=False)
    return imagecodecs.jpeg2k_encode(samples, level=0, codecformat="J2K", reversible=True, mct=False,
                                     bitspersample=pixel_format.bits_stored)


def _htj2k(pixels: np.ndarray, pixel_format: PixelFormat) -> bytes:
    return _htj2k_codestream(pixels, pixel_format, decompositions=HTJ2K_DECOMPOSITIONS, rpcl=False)


def _htj2k_rpcl(pixels: np.ndarray, pixel_format: PixelFormat) -> bytes:
    longest_side = max(pixel_format.rows, pixel_format.columns)
    needed = math.ceil(math.log2(longest_side / RPCL_BASE_RESOLUTION)) if longest_side > RPCL_BASE_RESOLUTION else 0
    return _htj2k_codestream(pixels, pixel_format, decompositions=max(HTJ2K_DECOMPOSITIONS, needed), rpcl=True)


def _htj2k_codestream(pixels: np.ndarray, pixel_format: PixelFormat, *, decompositions: int, rpcl: bool) -> bytes:
    """Reversible HTJ2K at the precision of Bits Stored, without a colour transform.

    OpenJPH writes RPCL progression by default. With ``rpcl`` the codestream also has tile-parts
    per resolution and the TLM marker that indexes them (PS3.5 10.18).

    imagecodecs gives every component the precision of its array's item size. A B-bit component
    is encoded from a container of C bits as the samples the B-bit encoder would have coded: the
    DC level shift of unsigned data (ISO 15444-1 G.1.2) is 2**(B-1), so the samples are moved by
    2**(C-1) - 2**(B-1) before a C-bit encode, and SIZ then declares B bits (what PS3.5 8.2.4 asks
    of Bits Stored). The quantization exponents stay those of C bits: more bit-planes are declared
    than are used, which every code-block signals as missing most significant bit-planes.
    """
    container = _container_dtype(pixel_format)
    samples = pixels.astype(container, copy=False)
    full_bits = np.dtype(container).itemsize * 8
    if not pixel_format.signed and pixel_format.bits_stored < full_bits:
        shift = (1 << (full_bits - 1)) - (1 << (pixel_format.bits_stored - 1))
        samples = (samples + container(shift)).astype(container, copy=False)
    options = {"tlm": True, "tilepart": imagecodecs.HTJ2K.TILEPART.RESOLUTIONS} if rpcl else {}
    codestream = imagecodecs.htj2k_encode(samples, reversible=True, rgb=False, planar=False,
                                          resolutions=decompositions, **options)
    return _declare_precision(bytes(codestream), pixel_format)


def _container_dtype(pixel_format: PixelFormat) -> type[np.integer]:
    if pixel_format.bits_stored <= 8:
        return np.int8 if pixel_format.signed else np.uint8
    return np.int16 if pixel_format.signed else np.uint16


def _declare_precision(codestream: bytes, pixel_format: PixelFormat) -> bytes:
    """The codestream with every component's Ssiz set to Bits Stored and the signedness (ISO 15444-1 A.5.1)."""
    if not codestream.startswith(J2K_SIZ):
        raise RuntimeError("the HTJ2K encoder wrote no SIZ marker segment first")
    patched = bytearray(codestream)
    components = struct.unpack_from(">H", patched, SIZ_SSIZ_OFFSET - 2)[0]
    ssiz = (0x80 if pixel_format.signed else 0) | (pixel_format.bits_stored - 1)
    for component in range(components):
        patched[SIZ_SSIZ_OFFSET + 3 * component] = ssiz
    return bytes(patched)


_ENCODERS = {
    JPEGLSLossless: _jpeg_ls,
    JPEG2000Lossless: _jpeg_2000,
    HTJ2KLossless: _htj2k,
    HTJ2KLosslessRPCL: _htj2k_rpcl,
}


def with_encoded_frames(ds: Dataset, transfer_syntax_uid: str, frames: list[bytes]) -> bytes:
    """``ds`` as a Part 10 file in ``transfer_syntax_uid`` whose Pixel Data is ``frames``, each the
    codestream :func:`encode_frame` made of it, encapsulated with a Basic Offset Table (PS3.5 A.4).
    Every other element is kept: the encoding is lossless, so nothing else it describes has changed."""
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
