"""Repairs that make an instance safe for browser viewers, each one recorded.

Only values that are wrong by the standard and that break rendering or
measurement are touched; what cannot be repaired is refused by
:func:`mrmc.dicom.parse.read_instance` instead (which also re-encodes pixel
description attributes sent with the wrong VR, see
:func:`mrmc.dicom.validate.fix_value_representations`).
"""

from __future__ import annotations

import math

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

# Spacings are "physical distance ... in mm" (PS3.3 10.7.1.1, 10.7.1.3) and must be
# positive; a 0\0 spacing (as in the WG04 RG1 film) renders black in Cornerstone3D.
SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def sanitize(ds: Dataset) -> list[str]:
    """Repair ``ds`` in place and describe every change.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A parsed instance (see :func:`mrmc.dicom.parse.read_instance`).

    Returns
    -------
    list of str
        One human-readable sentence per repair; empty when nothing changed.

    Notes
    -----
    - Pixel spacing attributes with other than two positive finite values are
      removed (PS3.3 10.7.1.1), at the top level and in Pixel Measures functional
      groups (C.7.6.16.2.1).
    - Window Width below 1 is invalid for the LINEAR VOI function (C.11.2.1.2.1);
      the window pairs are removed so viewers fall back to the pixel range.
    - Rescale Slope 0 (C.11.1.1.2) maps every pixel to one value; it becomes 1.
    - High Bit must be Bits Stored - 1 (PS3.5 8.1.1).
    """
    fixes: list[str] = []
    for location, item in _spacing_holders(ds):
        fixes += _drop_bad_spacing(item, location)
    fixes += _drop_bad_window(ds)
    fixes += _fix_rescale_slope(ds)
    fixes += _fix_high_bit(ds)
    return fixes


def _spacing_holders(ds: Dataset):
    yield "", ds
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for index, frame_item in enumerate(ds.get(group, [])):
            for measures in frame_item.get("PixelMeasuresSequence", []):
                yield f" in {group}[{index}].PixelMeasuresSequence", measures


def _drop_bad_spacing(ds: Dataset, location: str) -> list[str]:
    fixes = []
    for keyword in SPACING_KEYWORDS:
        if keyword not in ds:
            continue
        values = _floats(ds[keyword].value)
        if values is None or len(values) != 2 or not all(v > 0 and math.isfinite(v) for v in values):
            fixes.append(f"removed {keyword}{location} = {_show(ds[keyword].value)}: "
                         "spacing must be two positive numbers")
            del ds[keyword]
    return fixes


def _drop_bad_window(ds: Dataset) -> list[str]:
    if "WindowWidth" not in ds and "WindowCenter" not in ds:
        return []
    widths = _floats(ds.get("WindowWidth"))
    centers = _floats(ds.get("WindowCenter"))
    if widths and centers and len(widths) == len(centers) and all(w >= 1 for w in widths):
        return []
    fix = (f"removed WindowCenter/WindowWidth = {_show(ds.get('WindowCenter'))}/"
           f"{_show(ds.get('WindowWidth'))}: a window needs a center and a width of at least 1")
    for keyword in ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation"):
        ds.pop(keyword, None)
    return [fix]


def _fix_rescale_slope(ds: Dataset) -> list[str]:
    slope = _floats(ds.get("RescaleSlope"))
    if slope is None or slope[0] != 0:
        return []
    ds.RescaleSlope = 1
    return ["set RescaleSlope 0 to 1: a zero slope maps every pixel to the intercept"]


def _fix_high_bit(ds: Dataset) -> list[str]:
    if "PixelData" not in ds or "BitsStored" not in ds:
        return []
    expected = ds.BitsStored - 1
    if ds.get("HighBit") == expected:
        return []
    fix = f"set HighBit {ds.get('HighBit')} to {expected}: it must be BitsStored - 1"
    ds.HighBit = expected
    return [fix]


def _floats(value) -> list[float] | None:
    """Numeric values of a DS/IS/US element, or None when absent or not numeric."""
    if value is None or value == "":
        return None
    try:
        return [float(v) for v in _as_list(value)]
    except (TypeError, ValueError):
        return None


def _as_list(value) -> list:
    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]


def _show(value) -> str:
    """A value as DICOM writes it, multiple values joined by backslash."""
    return "\\".join(str(v) for v in _as_list(value))
