"""Whether an instance that our ingest did not de-identify may be shown to a reader.

Images served from an external archive (the platform's upstream mode) were de-identified, if
at all, by someone else, so the platform shows an instance only where its own header
vouches for it:

- headers (QIDO-RS results, WADO-RS metadata): Patient Identity Removed (0012,0062) is YES,
  which every PS3.15 E.1 de-identifier sets and which PS3.3 C.7.1.1 defines as "the true
  identity of the patient has been removed from the Attributes and the Pixel Data"; and the
  SOP class, where known, is an image storage class (documents and reports carry free text
  that no header flag vouches for, as on ingest);
- pixels (frames, rendered images, bulk data, whole instances), in addition: Burned In
  Annotation (0028,0301) is not YES, and is explicitly NO for the kinds of image that
  usually carry burned-in text (ultrasound, screen and camera captures, secondary captures),
  where an absent flag says nothing.

A reason class names every refusal: ``not-deidentified``, ``sop-class``,
``burned-in-annotation``, ``burned-in-annotation-unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.dataset import Dataset

from .validate import IMAGE_STORAGE_SOP_CLASSES

# Keyword -> tag of the attributes the rule reads; an archive must return them (QIDO includefield).
RELEASE_ATTRIBUTES = {
    "PatientIdentityRemoved": "00120062",
    "BurnedInAnnotation": "00280301",
    "Modality": "00080060",
    "SOPClassUID": "00080016",
}
# Modalities whose images are screens or photographs: the header band of an ultrasound
# scanner and the overlay of an endoscope or fundus camera hold the patient's name.
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "ES", "XC", "OP", "GM"})
# Secondary captures (single and multi-frame) are screenshots of whatever a workstation showed (PS3.3 A.8).
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BURNED_IN_SOP_CLASSES = frozenset(uid for uid in IMAGE_STORAGE_SOP_CLASSES
                                  if uid == SECONDARY_CAPTURE or uid.startswith(SECONDARY_CAPTURE + "."))


@dataclass(frozen=True)
class Refusal:
    """Why an instance is withheld: a reason class and a sentence that names no patient data."""

    reason: str
    message: str


def release_refusal(values: Mapping[str, str], *, pixels: bool) -> Refusal | None:
    """The reason an instance may not be shown, or None when it may.

    Parameters
    ----------
    values
        The instance's :data:`RELEASE_ATTRIBUTES` by keyword (missing or empty when absent),
        as :func:`release_values_of_json` or :func:`release_values_of_dataset` give them.
    pixels
        Whether the pixels are to be shown too (frames, rendered, bulk data, the whole
        instance), not only the header.
    """
    identity_removed = values.get("PatientIdentityRemoved", "")
    if identity_removed != "YES":
        return Refusal("not-deidentified", "the instance is not marked de-identified (Patient Identity Removed "
                                           f"is {identity_removed or 'absent'}, not YES)")
    sop_class = values.get("SOPClassUID", "")
    if sop_class and sop_class not in IMAGE_STORAGE_SOP_CLASSES:
        return Refusal("sop-class", f"SOP class {sop_class} is not an image storage class")
    if not pixels:
        return None
    burned_in = values.get("BurnedInAnnotation", "")
    if burned_in == "YES":
        return Refusal("burned-in-annotation", "text is burned into the pixels (Burned In Annotation YES)")
    modality = values.get("Modality", "")
    if burned_in != "NO" and (modality in BURNED_IN_MODALITIES or sop_class in BURNED_IN_SOP_CLASSES):
        kind = f"modality {modality}" if modality in BURNED_IN_MODALITIES else "secondary capture"
        return Refusal("burned-in-annotation-unknown", f"images of {kind} usually carry burned-in text and "
                                                       f"Burned In Annotation is {burned_in or 'absent'}, not NO")
    return None


def release_values_of_json(document: Mapping) -> dict[str, str]:
    """:data:`RELEASE_ATTRIBUTES` of a DICOM JSON object (PS3.18 F.2), first values upper-cased."""
    values = {}
    for keyword, tag in RELEASE_ATTRIBUTES.items():
        found = (document.get(tag) or {}).get("Value") or [""]
        values[keyword] = str(found[0] or "").strip().upper()
    return values


def release_values_of_dataset(ds: Dataset) -> dict[str, str]:
    """:data:`RELEASE_ATTRIBUTES` of a data set, upper-cased."""
    return {keyword: str(ds.get(keyword) or "").strip().upper() for keyword in RELEASE_ATTRIBUTES}  # all VM 1
