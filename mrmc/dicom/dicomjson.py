"""Datasets as the DICOM JSON Model (PS3.18 F.2) for QIDO-RS and WADO-RS metadata.

Large binary values are not inlined: they become ``BulkDataURI`` (F.2.2), built
by a callable that the web layer supplies, so metadata stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
PIXEL_DATA_TAGS = {Tag("PixelData"), Tag("FloatPixelData"), Tag("DoubleFloatPixelData")}
DEFAULT_BULK_THRESHOLD = 1024

BulkDataUri = Callable[[str], str]


def parse_attribute(selector: str) -> BaseTag:
    """A QIDO ``includefield`` or matching key (PS3.18 8.3.4.1): keyword or ``ggggeeee``.

    Raises
    ------
    ValueError
        Neither a known keyword nor eight hex digits.
    """
    tag = tag_for_keyword(selector)
    if tag is not None:
        return Tag(tag)
    if len(selector) == 8:
        try:
            return Tag(int(selector, 16))
        except ValueError:
            pass
    raise ValueError(f"unknown attribute {selector!r}")


def to_dicom_json(ds: Dataset, *, bulk_data_uri: BulkDataUri | None = None,
                  include: Collection[str | BaseTag] | None = None,
                  transfer_syntax_uid: str | None = None,
                  bulk_data_threshold: int = DEFAULT_BULK_THRESHOLD) -> dict[str, Any]:
    """Encode ``ds`` as a DICOM JSON object (PS3.18 F.2).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Data set (file meta information is not included except as below).
    bulk_data_uri : callable, optional
        Gets the attribute path, tags as ``ggggeeee`` joined by ``/`` with item
        indexes between them (``"7FE00010"``, ``"00282000"``,
        ``"00880200/0/7FE00010"``), and returns the URI of its bulk data
        (PS3.18 F.2.2, 8.6.1.3). Pixel data and binary values longer than
        ``bulk_data_threshold`` bytes are replaced by it; without a callable, pixel
        data is left out and other binary values are inlined.
    include : collection of str or tag, optional
        Only these top-level attributes (keywords or ``ggggeeee``), as a QIDO
        response with ``includefield`` (PS3.18 8.3.4.3); None keeps all.
    transfer_syntax_uid : str, optional
        Added as (0002,0010) for WADO-RS metadata (PS3.18 8.6.1.3.2); defaults to
        the file meta information of ``ds`` when present.
    bulk_data_threshold : int
        Length in bytes above which a binary value becomes bulk data.

    Returns
    -------
    dict
        Keys ``ggggeeee`` in ascending order; round-trips through
        :meth:`pydicom.dataset.Dataset.from_json` given a bulk data handler.
    """
    wanted = None if include is None else {
        item if isinstance(item, BaseTag) else parse_attribute(item) for item in include}
    encoder = _JsonEncoder(bulk_data_uri, bulk_data_threshold)
    result = encoder.dataset(ds, "", wanted)
    if transfer_syntax_uid is None:
        transfer_syntax_uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if transfer_syntax_uid and (wanted is None or Tag(0x00020010) in wanted):
        result = {"00020010": {"vr": "UI", "Value": [str(transfer_syntax_uid)]}, **result}
    return result


class _JsonEncoder:
    def __init__(self, bulk_data_uri: BulkDataUri | None, threshold: int):
        self.bulk_data_uri = bulk_data_uri
        self.threshold = threshold

    def dataset(self, ds: Dataset, prefix: str, wanted: set[BaseTag] | None = None) -> dict:
        encoded = {}
        for elem in ds:
            if wanted is not None and elem.tag not in wanted:
                continue
            path = f"{prefix}{elem.tag:08X}"
            value = self.element(elem, path)
            if value is not None:
                encoded[f"{elem.tag:08X}"] = value
        return encoded

    def element(self, elem: DataElement, path: str) -> dict | None:
        if elem.VR == "SQ":
            items = [self.dataset(item, f"{path}/{index}/") for index, item in enumerate(elem.value)]
            return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
        if elem.VR in BULK_VRS and self._is_bulk(elem):
            if self.bulk_data_uri is not None:
                return {"vr": elem.VR, "BulkDataURI": self.bulk_data_uri(path)}
            if elem.tag in PIXEL_DATA_TAGS:
                return None
        # Inline values (strings, numbers, PN groups, small binaries) follow F.2.
        return elem.to_json_dict(None, self.threshold)

    def _is_bulk(self, elem: DataElement) -> bool:
        if elem.tag in PIXEL_DATA_TAGS:
            return elem.value is not None
        return elem.value is not None and len(elem.value) > self.threshold
