"""What a DICOMweb request is about (study / series / instance) and the attributes QIDO returns."""

from dataclasses import dataclass, replace

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from studies.errors import NotFound

from .query import QidoQuery

# Default QIDO-RS result attributes per level (PS3.18 Tables 10.6.3-3, -4, -5), when the instance
# has them; the computed ones (counts, ModalitiesInStudy, RetrieveURL...) are added by the archive.
LEVEL_ATTRIBUTES = {
    "study": ("StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "TimezoneOffsetFromUTC",
              "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
              "StudyDescription"),
    "series": ("Modality", "TimezoneOffsetFromUTC", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
               "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "RequestAttributesSequence",
               "StudyInstanceUID"),
    "instance": ("SOPClassUID", "SOPInstanceUID", "TimezoneOffsetFromUTC", "InstanceNumber", "Rows", "Columns",
                 "BitsAllocated", "NumberOfFrames", "StudyInstanceUID", "SeriesInstanceUID"),
}


# Result attributes an archive computes rather than reads from an instance (PS3.18 Tables 10.6.3-3 to -5).
COMPUTED_ATTRIBUTES = ("ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                       "NumberOfSeriesRelatedInstances", "InstanceAvailability", "RetrieveURL")
ONLINE = ("CS", ["ONLINE"])  # Instance Availability (0008,0056) of what this service answers with at once


@dataclass(frozen=True)
class Target:
    """A study, one of its series, or one instance of that series, by UID."""

    study: str
    series: str | None = None
    instance: str | None = None

    @classmethod
    def of_instance(cls, instance) -> "Target":
        series = instance.series
        return cls(series.dicom_study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid)

    @property
    def depth(self) -> int:
        """How many UIDs name it: 1 a study, 2 a series, 3 an instance."""
        return 1 + bool(self.series) + bool(self.instance)

    def child(self, **uids) -> "Target":
        return replace(self, **uids)

    def url(self, base_url: str) -> str:
        url = f"{base_url}/studies/{self.study}"
        if self.series:
            url += f"/series/{self.series}"
        if self.instance:
            url += f"/instances/{self.instance}"
        return url


def qido_result(document: dict, levels: tuple[str, ...], query: QidoQuery, **computed) -> dict:
    """One QIDO-RS result (PS3.18 10.6.3.3): the attributes of ``levels`` (the result's level and those
    above it that the URL leaves open, PS3.18 Tables 10.6.3-3 to -5), the included fields and matching
    keys, and the computed ones.

    ``document`` is the DICOM JSON of a representative instance, or another archive's result;
    ``computed`` maps keyword to (VR, values).
    """
    if query.wants_all:
        wanted = {tag for tag, element in document.items() if "BulkDataURI" not in element}
    else:
        keywords = [*(keyword for level in levels for keyword in LEVEL_ATTRIBUTES[level]), *COMPUTED_ATTRIBUTES]
        wanted = {f"{tag_for_keyword(keyword):08X}" for keyword in keywords} | query.extra_tags()
    result = {tag: element for tag, element in document.items() if tag in wanted and not tag.startswith("0002")}
    for keyword, (vr, values) in computed.items():
        result[f"{tag_for_keyword(keyword):08X}"] = {"vr": vr, "Value": values} if values else {"vr": vr}
    return dict(sorted(result.items()))


def bulk_element(ds: Dataset, attribute_path: str) -> DataElement:
    """The element a BulkDataURI path names: tags ``ggggeeee`` with item indexes between them."""
    parts = attribute_path.strip("/").split("/")
    try:
        for tag_text, index in zip(parts[:-2:2], parts[1:-1:2], strict=True):
            ds = ds[Tag(int(tag_text, 16))].value[int(index)]
        element = ds[Tag(int(parts[-1], 16))]
    except (KeyError, IndexError, ValueError, TypeError):
        raise NotFound(f"no bulk data at {attribute_path}") from None
    if element.VR == "SQ" or not isinstance(element.value, bytes):
        raise NotFound(f"{attribute_path} is not bulk data")
    return element
