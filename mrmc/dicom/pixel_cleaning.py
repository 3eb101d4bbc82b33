"""Burned-in text removal by configured regions (PS3.15 E.3.1, Clean Pixel Data Option).

Text burned into the pixels (patient name on an ultrasound header band, a scanner's
label in a corner) sits where the device puts it, so a study lists, per kind of image,
the rectangles to black out: a rule matches images by attribute values (Modality,
Manufacturer, ManufacturerModelName, Rows, Columns, ...) and names its regions in
pixels. Every frame is cleaned; the image is stored uncompressed afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless

from .deid import code_item

CLEAN_PIXEL_DATA_CODE = ("113101", "Clean Pixel Data Option")
# transfer syntaxes that always lose information, and their Lossy Image Compression Method
_LOSSY_SYNTAXES = {JPEGBaseline8Bit: "ISO_10918_1", JPEGExtended12Bit: "ISO_10918_1", JPEGLSNearLossless: "ISO_14495_1"}


@dataclass(frozen=True)
class PixelCleaningRule:
    """Images whose attributes equal every value of ``match`` get ``regions`` blacked out.

    Regions are (x, y, width, height) in pixels, x to the right and y down from the
    top left corner, as a viewer shows the stored image.
    """

    match: tuple[tuple[str, str], ...]
    regions: tuple[tuple[int, int, int, int], ...]

    def matches(self, ds: Dataset) -> bool:
        return all(_text(ds.get(keyword)) == value for keyword, value in self.match)


def parse_rules(config: Sequence[Mapping]) -> tuple[PixelCleaningRule, ...]:
    """Rules from their configuration: a list of ``{"match": {keyword: value},
    "regions": [[x, y, width, height], ...]}``.

    Raises
    ------
    ValueError
        Naming the rule and the field at fault.
    """
    if not isinstance(config, list):
        raise ValueError("pixel cleaning rules must be a list")
    return tuple(_parse_rule(item, f"rule {index + 1}") for index, item in enumerate(config))


def _parse_rule(item: object, where: str) -> PixelCleaningRule:
    if not isinstance(item, Mapping) or set(item) != {"match", "regions"}:
        raise ValueError(f"{where}: needs exactly the fields 'match' and 'regions'")
    match, regions = item["match"], item["regions"]
    if not isinstance(match, Mapping) or not match:
        raise ValueError(f"{where}: 'match' must map at least one DICOM keyword to a value")
    for keyword, value in match.items():
        if tag_for_keyword(str(keyword)) is None:
            raise ValueError(f"{where}: '{keyword}' is not a DICOM keyword")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f"{where}: the value of {keyword} must be a string or an integer")
    if not isinstance(regions, list) or not regions:
        raise ValueError(f"{where}: 'regions' must list at least one [x, y, width, height]")
    for region in regions:
        valid = isinstance(region, list) and len(region) == 4 and all(type(v) is int for v in region)
        if not valid or min(region[:2]) < 0 or min(region[2:]) < 1:
            raise ValueError(f"{where}: region {region!r} is not [x, y, width, height] with x, y >= 0, sizes >= 1")
    return PixelCleaningRule(
        match=tuple((str(keyword), str(value).strip()) for keyword, value in match.items()),
        regions=tuple(tuple(region) for region in regions),
    )


def find_rule(ds: Dataset, rules: Sequence[PixelCleaningRule]) -> PixelCleaningRule | None:
    """The first rule that matches ``ds``."""
    return next((rule for rule in rules if rule.matches(ds)), None)


def clean_pixels(ds: Dataset, rule: PixelCleaningRule) -> None:
    """Black out the rule's regions in every frame of ``ds``, in place.

    The pixels are decoded (color as RGB) and stored again uncompressed; the SOP
    Instance UID stays, and so does Number of Frames, and an image decoded from a lossy
    transfer syntax keeps saying so (Lossy Image Compression 01, PS3.3 C.7.6.1.1.5).
    Burned In Annotation becomes NO and the Clean Pixel Data Option is added to the
    de-identification method.

    Raises
    ------
    ValueError
        If a region does not lie inside the image, or the pixel data cannot be decoded.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    for x, y, width, height in rule.regions:
        if x + width > columns or y + height > rows:
            raise ValueError(
                f"region [{x}, {y}, {width}, {height}] does not lie inside the {columns} x {rows} image"
            )
    try:
        pixels = np.array(ds.pixel_array)  # a writable copy
    except Exception as exc:  # pydicom raises many types for data it cannot decode
        raise ValueError(f"the pixel data could not be decoded to clean it: {exc}") from exc
    color = int(ds.get("SamplesPerPixel", 1)) > 1
    photometric = "RGB" if color else str(ds.PhotometricInterpretation)
    bits_stored = int(ds.BitsStored)
    blackest = _blackest_value(photometric, pixels.dtype, bits_stored)
    frames = pixels.reshape((-1, rows, columns, pixels.shape[-1]) if color else (-1, rows, columns))
    for x, y, width, height in rule.regions:
        frames[:, y : y + height, x : x + width] = blackest
    _keep_lossy_history(ds)
    frame_count = ds.get("NumberOfFrames")
    ds.set_pixel_data(pixels, photometric, bits_stored, generate_instance_uid=False)
    if frame_count is not None:  # Type 1 in multi-frame IODs, even for a single frame
        ds.NumberOfFrames = frame_count
    ds.BurnedInAnnotation = "NO"
    _add_method(ds, CLEAN_PIXEL_DATA_CODE)


def _keep_lossy_history(ds: Dataset) -> None:
    method = _LOSSY_SYNTAXES.get(ds.file_meta.get("TransferSyntaxUID"))
    if method is not None:
        ds.LossyImageCompression = "01"
        ds.setdefault("LossyImageCompressionMethod", method)


def _blackest_value(photometric: str, dtype: np.dtype, bits_stored: int) -> int:
    """The stored value shown darkest: the largest for MONOCHROME1, else the smallest."""
    signed = np.issubdtype(dtype, np.signedinteger)
    low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
    return high if photometric == "MONOCHROME1" else low


def _add_method(ds: Dataset, code: tuple[str, str]) -> None:
    methods = ds.get("DeidentificationMethod")
    earlier = [] if methods is None else list(methods) if isinstance(methods, MultiValue) else [methods]
    ds.DeidentificationMethod = [*earlier, code[1]]
    ds.DeidentificationMethodCodeSequence = [*ds.get("DeidentificationMethodCodeSequence", []), code_item(*code)]


def _text(value: object) -> str:
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value).strip()
