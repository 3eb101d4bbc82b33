"""After clearance (issue 19): a locked study kept as a versioned evaluation that new model versions are
re-evaluated against under a predetermined change control plan, and monitored deployments whose field
records (device outputs, later their confirmed diagnoses) are summarised per time window and watched
by alarm rules. Computations: :mod:`studies.services.model_updates`, :mod:`studies.services.field_monitoring`
over :mod:`mrmc.stats.model_update` and :mod:`mrmc.stats.monitoring`."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .bounds import INTEGER_MAX, between


class LockedEvaluation(models.Model):
    """A locked study's case list, truth and analysis plan frozen under their SHA-256: the test set a model
    update is evaluated on, with the modification protocol's acceptance criteria fixed before the first look."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="locked_evaluations")
    version = models.PositiveIntegerField(validators=between(1, INTEGER_MAX))
    name = models.CharField(max_length=200)
    cases = models.JSONField(help_text="The frozen cases: label, truth and subgroup values, in label order")
    reference = models.JSONField(
        help_text="The cleared model: name, version, operating point and its score per case (the study's shown set)")
    criteria = models.JSONField(help_text="Acceptance criteria of the modification protocol")
    cases_sha256 = models.CharField(max_length=64)
    truth_sha256 = models.CharField(max_length=64)
    plan_sha256 = models.CharField(max_length=64, help_text="Of the criteria and the analysis options, canonical JSON")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study_id", "version"]
        constraints = [models.UniqueConstraint(fields=["study", "version"], name="locked_evaluation_version_unique")]

    def __str__(self):
        return f"{self.name} v{self.version}"


class ModelUpdateEvaluation(models.Model):
    """One look at a locked evaluation: a model version's outputs on its cases and the verdict per criterion."""

    class Source(models.TextChoices):
        PRECOMPUTED = "precomputed", "Computed by the platform"
        IMPORTED = "imported", "Imported"

    evaluation = models.ForeignKey(LockedEvaluation, on_delete=models.PROTECT, related_name="looks")
    look = models.PositiveIntegerField(help_text="How many times the test set has been used, this one included",
                                       validators=between(1, INTEGER_MAX))
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50)
    model_sha256 = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    operating_point = models.FloatField(null=True, blank=True)
    scores = models.JSONField(help_text="Score per case label")
    scores_sha256 = models.CharField(max_length=64)
    result = models.JSONField(default=dict, help_text="Each criterion: estimate, interval, threshold, pass, why")
    passed = models.BooleanField(null=True, help_text="Every criterion passed; null until evaluated")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["evaluation_id", "look"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "look"], name="model_update_look_unique"),
            models.CheckConstraint(condition=Q(source__in=["precomputed", "imported"]),
                                   name="model_update_source_valid"),
        ]


class MonitoredDeployment(models.Model):
    """A cleared device in the field whose outputs and confirmed diagnoses are monitored."""

    name = models.CharField(max_length=200, unique=True)
    device = models.CharField(max_length=200, help_text="The device (software) as cleared")
    model_name = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(
        default=dict, blank=True,
        help_text="Windows, the CUSUM design (in-control ARL, rates) and drift thresholds set by the manufacturer")
    state = models.JSONField(default=dict, blank=True,
                             help_text="Incremental state: CUSUM statistics and the last window computed")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="monitored_deployments")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class FieldRecord(models.Model):
    """One field case: the device's output when it ran, and the confirmed diagnosis when it came. No PHI: the
    case is named by a pseudonymous key of the site's choosing."""

    deployment = models.ForeignKey(MonitoredDeployment, on_delete=models.CASCADE, related_name="records")
    case_key = models.CharField(max_length=64)
    site = models.CharField(max_length=100)
    manufacturer = models.CharField(max_length=100, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    software_version = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=50)
    score = models.FloatField()
    positive = models.BooleanField(null=True, blank=True, help_text="The device's call at its operating point")
    attributes = models.JSONField(default=dict, blank=True, help_text="Acquisition attributes: kVp, pixel spacing, …")
    acquired_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Confirmed diagnosis: 1 diseased, 0 not", validators=between(0, 1))
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment_id", "acquired_at", "id"]
        indexes = [models.Index(fields=["deployment", "acquired_at"], name="field_record_time")]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "case_key"], name="field_record_case_unique"),
            models.CheckConstraint(condition=Q(outcome__isnull=True) | Q(outcome__in=[0, 1]),
                                   name="field_record_outcome_binary"),
        ]


class MonitoringWindow(models.Model):
    """A time window's performance and drift figures, for all records or one group (site, device, model)."""

    deployment = models.ForeignKey(MonitoredDeployment, on_delete=models.CASCADE, related_name="windows")
    start = models.DateTimeField()
    end = models.DateTimeField()
    group = models.CharField(max_length=200, blank=True, help_text="Empty: every record; else e.g. site=A")
    n_records = models.PositiveIntegerField(default=0)
    n_outcomes = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    drift = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment_id", "start", "group"]
        constraints = [models.UniqueConstraint(fields=["deployment", "start", "group"], name="monitoring_window_once")]


class MonitoringAlarm(models.Model):
    """An alarm rule that fired, with what it saw; acknowledged by the manufacturer's quality staff."""

    deployment = models.ForeignKey(MonitoredDeployment, on_delete=models.CASCADE, related_name="alarms")
    rule = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=[("cusum", "CUSUM"), ("drift", "Drift"), ("threshold", "Threshold")])
    window = models.ForeignKey(MonitoringWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    raised_at = models.DateTimeField()
    details = models.JSONField(default=dict)
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["deployment_id", "raised_at", "id"]
