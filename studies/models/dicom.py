"""The index of stored DICOM files: study → series → instance, each file content-addressed.

The files themselves live in ``settings.DICOM_STORAGE`` under their SHA-256; these rows
say which file holds which SOP instance and to which case a DICOM study belongs.
UIDs are the de-identified ones (PS3.15 E.1 action U) unless a study allows identified data.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact


class DicomStudy(models.Model):
    """One DICOM study ingested into a reader study, linked to at most one case."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="dicom_studies")
    case = models.OneToOneField(
        "studies.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="dicom_study"
    )
    study_instance_uid = models.CharField(max_length=64, unique=True, help_text="As served (de-identified)")
    accession_hash = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="Keyed hash of the original AccessionNumber, for linking without keeping it",
    )
    patient_id = models.CharField(max_length=64, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    study_date = models.CharField(max_length=8, blank=True)
    study_description = models.CharField(max_length=64, blank=True)
    modalities = models.CharField(max_length=64, blank=True, help_text="ModalitiesInStudy, backslash-separated")
    deidentification = models.JSONField(
        default=dict, blank=True, help_text="PS3.15 profile and options applied; empty when stored as received"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "DICOM studies"
        constraints = [
            models.CheckConstraint(condition=~Q(study_instance_uid=""), name="dicom_study_uid_present"),
        ]

    def __str__(self):
        return self.study_instance_uid


class DicomSeries(models.Model):
    dicom_study = models.ForeignKey(DicomStudy, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["series_number", "id"]
        verbose_name_plural = "DICOM series"
        constraints = [
            models.CheckConstraint(condition=~Q(series_instance_uid=""), name="dicom_series_uid_present"),
        ]


class DicomInstance(models.Model):
    """One stored Part 10 file; ``sha256`` names it in the content store."""

    series = models.ForeignKey(DicomSeries, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=0)
    pixel_data_offset = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="File offset of native little-endian Pixel Data, for direct frame reads"
    )
    frame_length = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes per native frame")
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    sanitize_fixes = models.JSONField(default=list, blank=True, help_text="Repairs made on ingest")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_number", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(sop_instance_uid=""), name="dicom_instance_uid_present"),
            models.CheckConstraint(condition=Exact(Length("sha256"), 64), name="dicom_instance_sha256_length"),
            models.CheckConstraint(
                condition=Q(pixel_data_offset__isnull=True) | Q(frame_length__isnull=False),
                name="dicom_instance_native_frames_sized",
            ),
        ]
