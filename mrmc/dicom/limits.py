"""Size and shape limits that bound the memory one DICOM instance can cost.

Reading a file costs about one more copy of it (the dataset's values); ingest
holds four (the bytes received, the dataset, the file written back and the
dataset read back from it), so the 64 MiB defaults keep an instance near
256 MiB above the worker's own, within a budget of 512 MiB.
Mammography, the largest single images read in studies, is 15 to 30 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class DicomLimits:
    """Largest instance :func:`mrmc.dicom.parse.read_instance` accepts.

    Parameters
    ----------
    max_file_bytes : int
        Size of the Part 10 file as received.
    max_inflated_bytes : int
        Size of the data set after inflating the Deflated Explicit VR Little
        Endian transfer syntax (PS3.5 A.5); inflation stops at this size.
    max_sequence_depth : int
        Sequences nested inside sequences (a top-level sequence is depth 1).
        Real image objects nest functional groups and code sequences about
        five deep.
    max_element_bytes : int
        Declared value length of any one element.
    max_pixel_values : int
        Number of Frames x Rows x Columns x Samples per Pixel, the decoded
        size of the image in values whatever its transfer syntax.
    max_elements : int
        Elements, items and delimiters in the data set: each costs pydicom
        some hundred bytes, so a file of empty elements is a memory bomb too.
        A multi-frame image with per-frame functional groups has a few
        dozen per frame.
    """

    max_file_bytes: int = 64 * MiB
    max_inflated_bytes: int = 64 * MiB
    max_sequence_depth: int = 32
    max_element_bytes: int = 64 * MiB
    max_pixel_values: int = 32 * MiB
    max_elements: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_inflated_bytes", "max_sequence_depth",
                     "max_element_bytes", "max_pixel_values", "max_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
