from django.conf import settings
from django.db import models


class AnalysisRunStatus(models.TextChoices):
    PENDING = "pending"  # queued or running: see the job for progress
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FinishedRunError(Exception):
    """A finished analysis run is a record of what was reported: it is never changed."""


class AnalysisRun(models.Model):
    """One statistical analysis of a frozen snapshot of a study's reads; immutable once finished.

    The snapshot is the reads export itself (``snapshot_csv``) with its sha256, so the run
    can be reproduced from what it stored; its FROC analysis reads the readers' marks and the
    truth's lesions frozen beside it (``marks_snapshot``, canonical JSON, with its sha256; NULL
    for runs made before marks were captured). A database trigger refuses updates of a
    finished run (migration 0004); :meth:`save` refuses them too.
    """

    Status = AnalysisRunStatus

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="analysis_runs")
    job = models.OneToOneField("studies.Job", on_delete=models.PROTECT, related_name="analysis_run")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    options = models.JSONField(default=dict, help_text="fom, cov, alpha, threshold, convention, subgroups, ...")
    is_interim = models.BooleanField(default=False, help_text="Run while reading was still under way")
    study_status = models.CharField(max_length=16, help_text="The study's status when the run started")
    snapshot_checksum = models.CharField(max_length=64, help_text="sha256 of the reads export analysed")
    snapshot_csv = models.TextField(help_text="The reads export analysed, exactly as hashed")
    marks_snapshot_checksum = models.CharField(max_length=64, null=True, blank=True,
                                               help_text="sha256 of the marks snapshot analysed")
    marks_snapshot = models.TextField(
        null=True, blank=True,
        help_text="The readers' marks, the truth's lesions and the FROC acceptance radius analysed, as canonical "
                  "JSON exactly as hashed (studies.services.analysis_snapshot); NULL: not captured (runs made before)",
    )
    software_version = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=AnalysisRunStatus.choices, default=AnalysisRunStatus.PENDING)
    results = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=AnalysisRunStatus.values), name="analysis_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status=AnalysisRunStatus.PENDING, finished_at__isnull=True)
                | (~models.Q(status=AnalysisRunStatus.PENDING) & models.Q(finished_at__isnull=False)),
                name="analysis_finished_when_done",
            ),
        ]

    def __str__(self):
        return f"analysis run {self.pk} of study {self.study_id} ({self.status})"

    def save(self, *args, **kwargs):
        if self.pk is not None and AnalysisRun.objects.filter(pk=self.pk, finished_at__isnull=False).exists():
            raise FinishedRunError(f"analysis run {self.pk} is finished and cannot change")
        super().save(*args, **kwargs)
