import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .bounds import BIGINT_MAX, between


class UploadStatus(models.TextChoices):
    RECEIVING = "receiving", "Receiving chunks"
    COMPLETE = "complete", "All bytes received"
    IMPORTING = "importing", "Being imported"
    IMPORTED = "imported", "Imported"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Upload(models.Model):
    """One file sent from a browser in chunks; resumable from ``received`` after any interruption."""

    Status = UploadStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="uploads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(validators=between(0, BIGINT_MAX))
    received = models.PositiveBigIntegerField(default=0, validators=between(0, BIGINT_MAX))
    fingerprint = models.CharField(
        max_length=255, blank=True, help_text="The browser's key for the file (name, size, modified), to resume it"
    )
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.RECEIVING)
    job = models.ForeignKey("studies.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=UploadStatus.values), name="upload_status_valid"),
            models.CheckConstraint(condition=Q(received__lte=F("size")), name="upload_received_within_size"),
        ]

    def __str__(self):
        return self.file_name
