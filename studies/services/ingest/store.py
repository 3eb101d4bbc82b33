"""Storing one instance: its bytes in the image store of the image mode
(:mod:`.image_stores`) and its index rows (DICOM study, series, instance), or why it is a
duplicate or a conflict."""

from typing import Protocol

from django.conf import settings
from django.db import transaction
from pydicom.dataset import Dataset

from mrmc.dicom.frames import native_frame_layout
from mrmc.dicom.parse import InvalidDicom, ParsedInstance
from mrmc.dicom.storage import ContentStore
from studies.models import DicomInstance, DicomSeries, DicomStudy, Study

from .sources import Rejected


class ImageStore(Protocol):
    """Where the bytes of ingested instances are kept (:mod:`.image_stores`, one per image mode)."""

    def put(self, data: bytes, stored: ParsedInstance) -> None:
        """Keep ``data`` (parsed as ``stored``); keeping the same bytes again changes nothing."""

    def dataset(self, instance: DicomInstance) -> Dataset:
        """The kept instance that the index row ``instance`` names."""


class Conflict(Rejected):
    """The file's SOP Instance UID is stored already, with other content or in another study."""


def content_store() -> ContentStore:
    return ContentStore(settings.DICOM_STORAGE)


def is_duplicate(*, study: Study, stored: ParsedInstance, sha256: str, store: ImageStore) -> bool:
    """True when these exact bytes are stored already; a conflict when the UID is, with other content."""
    existing = (DicomInstance.objects.filter(sop_instance_uid=stored.sop_instance_uid)
                .select_related("series__dicom_study").first())
    if existing is None:
        return False
    _check_same_study(existing.series.dicom_study, study)
    if existing.sha256 == sha256:
        return True
    raise Conflict("conflict", f"SOP Instance UID {stored.sop_instance_uid} is already stored with "
                               f"{_difference(existing, stored, store)}; the stored instance is kept")


def store_instance(*, study: Study, stored: ParsedInstance, data: bytes, sha256: str, accession_hash: str,
                   deid: dict, fixes: list[str], store: ImageStore) -> None:
    """Keep ``data`` (parsed as ``stored``, hashed as ``sha256``) in ``store``, then index it in
    ``study``: a row only ever names an instance the store holds.

    A conflict when its DICOM study belongs to another study. Neither the store nor the
    database is held waiting for the other: if indexing fails, the kept bytes are named by no
    row, and storing them again when the file is imported again changes nothing.
    """
    dicom_study = DicomStudy.objects.filter(study_instance_uid=stored.study_instance_uid).first()
    if dicom_study is not None:
        _check_same_study(dicom_study, study)
    store.put(data, stored)
    _index(study, stored, sha256, len(data), accession_hash, deid, fixes, native_frame_layout(data))


def _difference(existing: DicomInstance, stored: ParsedInstance, store: ImageStore) -> str:
    try:
        kept = store.dataset(existing)
    except (OSError, InvalidDicom):
        return "different content"
    same_pixels = kept.get("PixelData") == stored.dataset.get("PixelData")
    return "different attributes" if same_pixels else "different pixel data"


def _check_same_study(dicom_study: DicomStudy, study: Study) -> None:
    if dicom_study.study_id != study.pk:
        raise Conflict(
            "other-study",
            f"DICOM study {dicom_study.study_instance_uid} is already stored for study {dicom_study.study_id}",
        )


@transaction.atomic
def _index(study, parsed: ParsedInstance, sha256, size, accession_hash, deid, fixes, layout) -> DicomInstance:
    dicom_study, created = DicomStudy.objects.select_for_update().get_or_create(
        study_instance_uid=parsed.study_instance_uid,
        defaults={
            "study": study,
            "accession_hash": accession_hash,
            "patient_id": parsed.patient_id[:64],
            "accession_number": parsed.accession_number[:64],
            "study_date": parsed.study_date[:8],
            "study_description": parsed.study_description[:64],
            "deidentification": deid,
        },
    )
    modalities = "\\".join(sorted({*dicom_study.modalities.split("\\"), parsed.modality} - {""}))
    if modalities != dicom_study.modalities:
        dicom_study.modalities = modalities
        dicom_study.save(update_fields=["modalities"])
    series, _ = DicomSeries.objects.get_or_create(
        series_instance_uid=parsed.series_instance_uid,
        defaults={
            "dicom_study": dicom_study,
            "modality": parsed.modality[:16],
            "series_number": parsed.series_number,
            "series_description": parsed.series_description[:64],
        },
    )
    offset, frame_length = layout or (None, None)
    instance, _ = DicomInstance.objects.get_or_create(
        sop_instance_uid=parsed.sop_instance_uid,
        defaults={
            "series": series,
            "sop_class_uid": parsed.sop_class_uid,
            "transfer_syntax_uid": parsed.transfer_syntax_uid,
            "instance_number": parsed.instance_number,
            "rows": parsed.rows,
            "columns": parsed.columns,
            "number_of_frames": parsed.number_of_frames,
            "pixel_data_offset": offset,
            "frame_length": frame_length,
            "sha256": sha256,
            "size": size,
            "sanitize_fixes": fixes,
        },
    )
    return instance
