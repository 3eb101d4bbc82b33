from django.conf import settings
from django.db import models
from django.db.models import Q

from .bounds import BIGINT_MAX, RATING_LIMIT, SCORE_LIMIT, SMALLINT_MAX, between, finite_between

FROC_ACCEPTANCE_RADIUS_DEFAULT = 20.0  # pixels
# at least a pixel; at most a quarter of the largest radiographs (a mammogram is about 4000 px high), beyond
# which a mark almost anywhere on the image would localize the lesion
FROC_ACCEPTANCE_RADIUS_RANGE = (1.0, 1000.0)


class StudyStatus(models.TextChoices):
    DRAFT = "draft"
    ENROLLING = "enrolling"
    READING = "reading"
    LOCKED = "locked"
    ANALYZED = "analyzed"


class StudyDesign(models.TextChoices):
    FULLY_CROSSED = "fully_crossed", "Fully crossed, independent reading"
    SEQUENTIAL = "sequential", "Sequential reading (unaided, then AI revealed)"
    SPLIT_PLOT = "split_plot", "Split-plot (reader groups read disjoint case blocks)"


class StudyScale(models.TextChoices):
    CONTINUOUS = "continuous", "Continuous (slider)"
    ORDINAL = "ordinal", "Ordinal 1..K with labels"


class StudyRevisionPolicy(models.TextChoices):
    FORBIDDEN = "forbidden", "Submitted reads are final"
    AUDITED = "audited", "Revisions allowed and kept as audited history"


class TruthMethod(models.TextChoices):
    PATHOLOGY = "pathology"
    FOLLOW_UP = "follow_up", "Follow-up"
    CONSENSUS = "consensus", "Expert consensus"
    MAJORITY = "majority", "Expert majority"
    ADJUDICATED = "adjudicated", "Adjudicated"
    OTHER = "other"


class Study(models.Model):
    """One reader study: its design, rating scale and lifecycle."""

    Status = StudyStatus
    Design = StudyDesign
    Scale = StudyScale
    RevisionPolicy = StudyRevisionPolicy

    title = models.CharField(max_length=200)
    protocol_text = models.TextField(blank=True)
    protocol_version = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=16, choices=StudyStatus.choices, default=StudyStatus.DRAFT)
    design = models.CharField(max_length=16, choices=StudyDesign.choices, default=StudyDesign.FULLY_CROSSED)
    rating_scale = models.CharField(max_length=16, choices=StudyScale.choices, default=StudyScale.CONTINUOUS)
    scale_min = models.FloatField(default=0, validators=finite_between(-RATING_LIMIT, RATING_LIMIT))
    scale_max = models.FloatField(default=100, validators=finite_between(-RATING_LIMIT, RATING_LIMIT))
    ordinal_labels = models.JSONField(default=list, blank=True, help_text="Labels of ratings 1..K")
    binary_decision = models.BooleanField(default=False, help_text="Readers also give a yes/no call")
    decision_threshold = models.FloatField(
        null=True, blank=True, help_text="Rating at or above which a case counts as positive",
        validators=finite_between(-RATING_LIMIT, RATING_LIMIT),
    )
    marks_enabled = models.BooleanField(default=False)
    max_marks = models.PositiveSmallIntegerField(default=5, validators=between(0, 100))
    froc_acceptance_radius = models.FloatField(
        default=FROC_ACCEPTANCE_RADIUS_DEFAULT,
        validators=finite_between(*FROC_ACCEPTANCE_RADIUS_RANGE),
        help_text="FROC: pixels from a lesion's centre within which a mark localizes it, for lesions given "
                  "without their own radius; fixed once the schedule exists",
    )
    washout_days = models.PositiveIntegerField(default=28, validators=between(0, 3650))
    block_size = models.PositiveIntegerField(
        default=0, help_text="0: one arm per session; N: arms interleaved in blocks of N cases",
        validators=between(0, 100_000),
    )
    revision_policy = models.CharField(
        max_length=16, choices=StudyRevisionPolicy.choices, default=StudyRevisionPolicy.FORBIDDEN
    )
    allow_identified_data = models.BooleanField(default=False)
    pixel_cleaning = models.JSONField(
        default=list,
        blank=True,
        help_text="Rules for the regions of burned-in text blacked out on ingest (mrmc.dicom.pixel_cleaning)",
    )
    endpoints = models.JSONField(
        default=dict,
        blank=True,
        help_text="Pre-specified endpoints: primary, co-primary and secondary figures of merit, hypothesis, "
                  "alpha and sidedness (studies.services.endpoints); fixed once the schedule exists",
    )
    subgroups = models.JSONField(
        default=list, blank=True,
        help_text="Case metadata variables the protocol declares as subgroups; every case must have them",
    )
    qualification = models.JSONField(
        default=dict, blank=True,
        help_text="Reader qualification rule (studies.services.qualification); empty: none required",
    )
    truthing = models.JSONField(
        default=dict, blank=True,
        help_text="Truthing panel protocol (studies.services.truthing): rounds, marks, the lesion matching rule, "
                  "agreement thresholds and how the final truth is decided; empty: truth is imported",
    )
    population = models.JSONField(
        default=dict, blank=True,
        help_text="Intended-use population: target distribution per variable and the under-representation "
                  "rule (studies.services.case_mix)",
    )
    deviation_rules = models.JSONField(
        default=dict, blank=True,
        help_text="Protocol-deviation classification rules, major or minor by kind and size "
                  "(studies.services.deviations)",
    )
    reading_starts_at = models.DateTimeField(null=True, blank=True)
    schedule_seed = models.BigIntegerField(null=True, blank=True, editable=False, validators=between(0, BIGINT_MAX))
    schedule_generated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=StudyStatus.values), name="study_status_valid"),
            models.CheckConstraint(condition=Q(design__in=StudyDesign.values), name="study_design_valid"),
            models.CheckConstraint(condition=Q(rating_scale__in=StudyScale.values), name="study_scale_valid"),
            models.CheckConstraint(condition=Q(scale_min__lt=models.F("scale_max")), name="study_scale_range"),
            models.CheckConstraint(
                condition=Q(froc_acceptance_radius__gte=FROC_ACCEPTANCE_RADIUS_RANGE[0],
                            froc_acceptance_radius__lte=FROC_ACCEPTANCE_RADIUS_RANGE[1]),
                name="study_froc_acceptance_radius_range",
            ),
            models.CheckConstraint(
                condition=Q(revision_policy__in=StudyRevisionPolicy.values), name="study_revision_policy_valid"
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def rating_bounds(self) -> tuple[float, float]:
        if self.rating_scale == self.Scale.ORDINAL:
            return 1.0, float(len(self.ordinal_labels))
        return self.scale_min, self.scale_max


class StudyMembership(models.Model):
    """Coordinators and statisticians see only the studies they belong to."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="membership_unique")]


class Arm(models.Model):
    """A reading condition (modality/treatment), e.g. unaided or AI-aided."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=50, help_text="Short code used in exports, e.g. 'unaided'")
    label = models.CharField(max_length=100)
    shows_ai = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="arm_name_unique"),
            models.UniqueConstraint(fields=["study", "order"], name="arm_order_unique"),
        ]

    def __str__(self):
        return self.name


class Case(models.Model):
    """One case (a DICOM study) with its reference-standard truth; truth never reaches readers."""

    TruthMethod = TruthMethod

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cases")
    label = models.CharField(max_length=64, help_text="The coordinator's case identifier")
    study_instance_uid = models.CharField(max_length=64, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    truth = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 diseased, 0 not", validators=between(0, 1)
    )
    truth_method = models.CharField(max_length=16, choices=TruthMethod.choices, blank=True)
    truth_established_by = models.CharField(max_length=200, blank=True)
    lesions = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="Subgroup variables")
    acquisition = models.JSONField(
        default=dict, blank=True,
        help_text="Coarse attributes read from the DICOM before de-identification, as the profile allows: "
                  "age band, sex, manufacturer, model, … (studies.services.case_mix)",
    )
    truth_provenance = models.JSONField(
        default=dict, blank=True,
        help_text="How the truth was established: imported, or the panel's labels, agreement and adjudication",
    )
    excluded_reason = models.CharField(
        max_length=500, blank=True, help_text="Why the case is excluded from the analysis; empty: included")
    excluded_at = models.DateTimeField(null=True, blank=True)
    reading_group = models.PositiveSmallIntegerField(
        default=0, help_text="Case block (split-plot)", validators=between(0, SMALLINT_MAX)
    )
    is_training = models.BooleanField(
        default=False, help_text="A training case: read for qualification with feedback, never scheduled or analysed"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="case_label_unique"),
            models.UniqueConstraint(
                fields=["study", "study_instance_uid"],
                condition=~Q(study_instance_uid=""),
                name="case_uid_unique",
            ),
            models.CheckConstraint(condition=Q(truth__isnull=True) | Q(truth__in=[0, 1]), name="case_truth_binary"),
            models.CheckConstraint(
                condition=Q(truth_method__in=[*TruthMethod.values, ""]), name="case_truth_method_valid"
            ),
        ]

    def __str__(self):
        return self.label


def _refuse_after_draft(study_id: int, what: str) -> None:
    # Readers' AI-aided reads rely on exactly these: they are fixed once enrolling starts.
    if Study.objects.filter(pk=study_id).exclude(status=Study.Status.DRAFT).exists():
        raise ValueError(f"{what} are fixed once the study leaves draft")


class AIModel(models.Model):
    """A model file and its model card registered with a study; kept by SHA-256 and never changed."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ai_models")
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    sha256 = models.CharField(max_length=64, help_text="Of the model file")
    size = models.PositiveBigIntegerField(validators=between(1, BIGINT_MAX))
    file_name = models.CharField(max_length=255, blank=True)
    card = models.JSONField(help_text="The card as parsed")
    card_text = models.TextField(help_text="The card as registered")
    card_sha256 = models.CharField(max_length=64)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "sha256"], name="ai_model_file_unique"),
            models.UniqueConstraint(fields=["study", "name", "version"], name="ai_model_version_unique"),
        ]

    def __str__(self):
        return f"{self.name} {self.version}"

    def save(self, *args, **kwargs):
        _refuse_after_draft(self.study_id, "AI models")
        super().save(*args, **kwargs)


class AIOutputSource(models.TextChoices):
    IMPORTED = "imported", "Imported from a file"
    COMPUTED = "computed", "Computed by the platform"


class AIOutputSet(models.Model):
    """One model version's outputs for a study's cases. Exactly one set is shown in the AI-aided arm."""

    Source = AIOutputSource

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ai_output_sets")
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50)
    source = models.CharField(max_length=16, choices=AIOutputSource.choices)
    model = models.ForeignKey(AIModel, null=True, blank=True, on_delete=models.PROTECT, related_name="output_sets",
                              help_text="The model that computed the outputs (computed sets)")
    source_name = models.CharField(max_length=255, blank=True, help_text="The file imported (imported sets)")
    source_checksum = models.CharField(max_length=64, blank=True, help_text="sha256 of the file imported")
    outputs_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Of every output of the set, once complete (see services.ai_outputs)"
    )
    shown = models.BooleanField(default=False, help_text="The set readers see in the AI-aided arm")
    job = models.ForeignKey("studies.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "model_name", "model_version"], name="ai_output_set_unique"),
            models.UniqueConstraint(fields=["study"], condition=Q(shown=True), name="ai_output_set_one_shown"),
            models.CheckConstraint(condition=Q(source__in=AIOutputSource.values), name="ai_output_set_source_valid"),
            models.CheckConstraint(condition=Q(source="imported") | Q(model__isnull=False),
                                   name="ai_output_set_computed_has_model"),
        ]

    def __str__(self):
        return f"{self.model_name} {self.model_version}"

    def save(self, *args, **kwargs):
        _refuse_after_draft(self.study_id, "AI output sets")
        super().save(*args, **kwargs)


class AIOutput(models.Model):
    """A precomputed AI result for a case; immutable once the study leaves draft."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ai_outputs")
    output_set = models.ForeignKey(AIOutputSet, on_delete=models.CASCADE, related_name="outputs")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="ai_outputs")
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50)
    score = models.FloatField(validators=finite_between(-SCORE_LIMIT, SCORE_LIMIT))
    operating_point = models.FloatField(
        null=True, blank=True, help_text="The model's positive threshold",
        validators=finite_between(-SCORE_LIMIT, SCORE_LIMIT),
    )
    findings = models.JSONField(default=list, blank=True)
    inputs = models.JSONField(
        default=list, blank=True,
        help_text="Computed outputs: each image seen (SOP Instance UID, frame, pixel SHA-256, score)",
    )
    runtime = models.CharField(max_length=100, blank=True, help_text="Computed outputs: e.g. onnxruntime 1.30.0")
    device = models.CharField(max_length=255, blank=True, help_text="Computed outputs: the GPU or CPU it ran on")
    computed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case_id", "model_name", "model_version"]
        constraints = [
            models.UniqueConstraint(fields=["case", "model_name", "model_version"], name="ai_output_unique"),
            models.UniqueConstraint(fields=["output_set", "case"], name="ai_output_once_per_set"),
        ]

    def save(self, *args, **kwargs):
        _refuse_after_draft(self.study_id, "AI outputs")
        super().save(*args, **kwargs)


class Reader(models.Model):
    """A reader's enrollment in one study; the code pseudonymizes them in exports."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="readers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrollments")
    code = models.CharField(max_length=32, help_text="Pseudonym in exports, e.g. R01")
    group = models.PositiveSmallIntegerField(
        default=0, help_text="Reader group (split-plot)", validators=between(0, SMALLINT_MAX)
    )
    enrolled_at = models.DateTimeField(auto_now_add=True)
    qualified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader passed the study's qualification rule"
    )
    qualification = models.JSONField(
        default=dict, blank=True, help_text="The last evaluation of the qualification rule (figures and outcome)"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="reader_unique"),
            models.UniqueConstraint(fields=["study", "code"], name="reader_code_unique"),
        ]

    def __str__(self):
        return self.code
