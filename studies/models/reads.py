from django.conf import settings
from django.db import models

from .bounds import INTEGER_MAX, RATING_LIMIT, between, finite_between


class Read(models.Model):
    """A reader's submitted score for one assignment. One per reader × case × arm."""

    assignment = models.OneToOneField("studies.Assignment", on_delete=models.PROTECT, related_name="read")
    reader = models.ForeignKey("studies.Reader", on_delete=models.PROTECT, related_name="reads")
    case = models.ForeignKey("studies.Case", on_delete=models.PROTECT, related_name="reads")
    arm = models.ForeignKey("studies.Arm", on_delete=models.PROTECT, related_name="reads")
    rating = models.FloatField(validators=finite_between(-RATING_LIMIT, RATING_LIMIT))
    ai_output = models.ForeignKey(
        "studies.AIOutput", null=True, blank=True, on_delete=models.PROTECT, related_name="reads",
        help_text="The AI output the reader was shown (AI-aided arms): its set names the model and its hash",
    )
    decision = models.BooleanField(null=True, blank=True)
    marks = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    first_image_at = models.DateTimeField(null=True, blank=True)
    client_submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Opened to submitted", validators=between(0, INTEGER_MAX)
    )
    interactions = models.JSONField(
        default=dict, blank=True,
        help_text="What the reader did while reading: images viewed and dwell, window/level, zoom and pan "
                  "changes, AI overlay toggles (studies.services.interactions)",
    )
    idempotency_key = models.UUIDField(unique=True)
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "case", "arm"], name="read_once_per_arm"),
        ]


class ReadRevision(models.Model):
    """The values a read had before each revision (studies that allow audited revisions)."""

    read = models.ForeignKey(Read, on_delete=models.PROTECT, related_name="revisions")
    revision = models.PositiveIntegerField()
    previous = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    idempotency_key = models.UUIDField(unique=True)

    class Meta:
        ordering = ["read_id", "revision"]
        constraints = [models.UniqueConstraint(fields=["read", "revision"], name="read_revision_unique")]


class TrainingRead(models.Model):
    """A reader's score of a training case: the qualification evidence, never analysed."""

    reader = models.ForeignKey("studies.Reader", on_delete=models.PROTECT, related_name="training_reads")
    case = models.ForeignKey("studies.Case", on_delete=models.PROTECT, related_name="training_reads")
    arm = models.ForeignKey("studies.Arm", on_delete=models.PROTECT, related_name="training_reads")
    rating = models.FloatField(validators=finite_between(-RATING_LIMIT, RATING_LIMIT))
    decision = models.BooleanField(null=True, blank=True)
    marks = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    interactions = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, validators=between(0, INTEGER_MAX))
    idempotency_key = models.UUIDField(unique=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "case", "arm"], name="training_read_once_per_arm"),
        ]
