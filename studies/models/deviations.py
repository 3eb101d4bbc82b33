"""Protocol deviations (issue 18): what departed from the protocol while the study ran, each classified
major or minor by the protocol's rules and reviewed by the coordinator; found by
:mod:`studies.services.deviations` (late sessions, washout shortened, reads outside their window,
revisions, technical failures) or recorded by hand."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class DeviationKind(models.TextChoices):
    LATE_SESSION = "late_session", "Session read late"
    WASHOUT_SHORTENED = "washout_shortened", "Washout shortened"
    READ_OUTSIDE_WINDOW = "read_outside_window", "Read outside its window"
    REVISION = "revision", "Read revised"
    TECHNICAL_FAILURE = "technical_failure", "Technical failure"
    CASE_EXCLUDED = "case_excluded", "Case excluded"
    OTHER = "other", "Other"


class DeviationSeverity(models.TextChoices):
    MAJOR = "major"
    MINOR = "minor"


class DeviationSource(models.TextChoices):
    DETECTED = "detected", "Found by the platform"
    RECORDED = "recorded", "Recorded by hand"


class ProtocolDeviation(models.Model):
    Kind = DeviationKind
    Severity = DeviationSeverity
    Source = DeviationSource

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="deviations")
    key = models.CharField(max_length=200, blank=True,
                           help_text="What a detected deviation is about (e.g. read:123), so that it is found once")
    kind = models.CharField(max_length=32, choices=DeviationKind.choices)
    severity = models.CharField(max_length=8, choices=DeviationSeverity.choices,
                                help_text="By the protocol's classification rules; the reviewer may change it")
    rule = models.CharField(max_length=200, blank=True, help_text="The classification rule that applied")
    source = models.CharField(max_length=16, choices=DeviationSource.choices, default=DeviationSource.DETECTED)
    description = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    detected_at = models.DateTimeField(auto_now_add=True)
    reader = models.ForeignKey("studies.Reader", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey("studies.ReadingSession", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    case = models.ForeignKey("studies.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    read = models.ForeignKey("studies.Read", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["study_id", "occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], condition=~Q(key=""), name="deviation_found_once"),
            models.CheckConstraint(condition=Q(kind__in=DeviationKind.values), name="deviation_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=DeviationSeverity.values), name="deviation_severity_valid"),
            models.CheckConstraint(condition=Q(source__in=DeviationSource.values), name="deviation_source_valid"),
        ]
