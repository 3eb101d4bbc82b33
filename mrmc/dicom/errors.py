"""The one error every DICOM check raises, with a reason class for reports."""

from __future__ import annotations

# Reason classes, so that reports can count rejections by cause.
KINDS = frozenset({
    "not-dicom",  # no Part 10 preamble and prefix, or an empty file
    "truncated",  # the data ends inside an element, item or sequence
    "malformed",  # elements that do not follow the encoding rules of PS3.5 7
    "too-large",  # over one of the size limits of mrmc.dicom.limits.DicomLimits
    "too-deep",  # sequences nested deeper than the limit
    "invalid-vr",  # a VR code that does not exist, or a value its attribute's VR cannot hold
    "invalid-uid",  # a UID that breaks PS3.5 9.1 (digits and dots, at most 64 characters)
    "missing-attribute",  # a UID, the transfer syntax or an Image Pixel Module attribute absent
    "pixel-length",  # native pixel data longer or shorter than its Image Pixel Module says
    "charset",  # a Specific Character Set term that is not defined, or text it cannot decode
    "sop-class",  # not an image storage SOP class
    "decode",  # compressed pixel data that its codec cannot read
})


class InvalidDicom(ValueError):
    """The input is not a usable DICOM instance.

    ``str(error)`` is a one-line reason that never names a server path;
    ``error.kind`` is one of :data:`KINDS`.
    """

    def __init__(self, message: str, kind: str = "malformed"):
        if kind not in KINDS:
            raise ValueError(f"unknown rejection kind {kind!r}")
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):  # keep the kind across pickling (worker processes, result backends)
        return type(self), (str(self), self.kind)
