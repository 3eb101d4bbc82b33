"""One image into the model's input tensor, as its card declares, and the hash of the pixels it saw."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from mrmc.dicom.frames import decode_frame, display_values

from .card import ModelCard

PIL_RESAMPLING = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                  "area": Image.Resampling.BOX}


class UnusableImage(ValueError):
    """An image that cannot go into the model (not decodable, not grayscale); the message says why."""


@dataclass(frozen=True)
class PreparedImage:
    """An image as the model receives it: ``tensor`` is one item of the batch, in the card's layout."""

    sop_instance_uid: str
    frame: int
    rows: int
    columns: int
    pixel_sha256: str
    tensor: np.ndarray


def pixel_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of decoded stored pixel values: dtype and shape, then the values little-endian, row-major.

    The same pixels give the same hash whatever the file's transfer syntax (a lossless transcode keeps it).
    """
    values = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<"))
    header = f"{values.dtype.str}{values.shape}".encode()
    return hashlib.sha256(header + values.tobytes()).hexdigest()


def prepare(ds: Dataset, frame: int, card: ModelCard) -> PreparedImage:
    """Decode frame ``frame`` (1-based) of ``ds``, window, resize and normalize it for ``card``."""
    try:
        pixels = decode_frame(ds, frame)
    except Exception as exc:  # any codec failure: the case is reported, never scored
        raise UnusableImage(f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from None
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UnusableImage(f"{ds.PhotometricInterpretation} colour image; the model takes grayscale")
    window = card.window
    values = display_values(ds, pixels, window.center, window.width, file_window=window.mode == "dicom")
    resized = resize(values, card.height, card.width, card.resize)
    normalized = (resized - np.float32(card.mean)) / np.float32(card.std)
    return PreparedImage(
        sop_instance_uid=str(ds.SOPInstanceUID), frame=frame, rows=int(ds.Rows), columns=int(ds.Columns),
        pixel_sha256=pixel_sha256(pixels), tensor=_layout(normalized, card),
    )


def resize(values: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
    """float32 ``values`` resampled to height x width with Pillow (``area`` is its box filter)."""
    if values.shape == (height, width):
        return values
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    image = image.resize((width, height), PIL_RESAMPLING[method])
    return np.asarray(image, dtype=np.float32)


def _layout(image: np.ndarray, card: ModelCard) -> np.ndarray:
    if card.layout == "NCHW":
        return np.repeat(image[np.newaxis], card.channels, axis=0)
    return np.repeat(image[..., np.newaxis], card.channels, axis=2)
