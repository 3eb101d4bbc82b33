"""Output shapes and input validation; no business rules here (see ``studies.services``)."""

from collections.abc import Mapping

from django.conf import settings
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from mrmc.inference.card import MAX_CARD_BYTES
from studies.models import AIModel, AIOutput, AIOutputSet, Arm, AuditEvent, Case, Job, Read, Study
from studies.models.bounds import BIGINT_MAX, SMALLINT_MAX


class RefusesUnknownKeys:
    """Mixed into every input serializer: a key the serializer does not accept is refused (400, keyed
    by its name) instead of ignored, so a misplaced value (a run option outside ``options``) is an
    error rather than a silent default. Nested input serializers refuse theirs the same way.
    """

    def to_internal_value(self, data):
        self.refuse_unknown_keys(data)
        return super().to_internal_value(data)

    def refuse_unknown_keys(self, data) -> None:
        if isinstance(data, Mapping):
            accepted = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - accepted)
            if unknown:
                raise serializers.ValidationError({key: ["unknown field: not accepted here"] for key in unknown})


class RefusesUnknownKeysSchema(OpenApiSerializerExtension):
    """The OpenAPI schema of a strict input says so: ``additionalProperties: false``."""

    target_class = RefusesUnknownKeys
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class StrictInput(RefusesUnknownKeys, serializers.Serializer):
    """A request body of declared keys only."""


class NoBody(StrictInput):
    """A request that takes no values: any key sent is refused."""


class JSONValueField(serializers.JSONField):
    """A JSON value that also refuses ``null`` sent as form text where the column cannot hold it."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is None and not self.allow_null:
            self.fail("null")
        return value


STUDY_FIELDS = [
    "id", "title", "protocol_text", "protocol_version", "status", "design", "rating_scale", "scale_min", "scale_max",
    "ordinal_labels", "binary_decision", "decision_threshold", "marks_enabled", "max_marks", "froc_acceptance_radius",
    "washout_days", "block_size", "revision_policy", "allow_identified_data", "pixel_cleaning", "endpoints",
    "reading_starts_at", "schedule_seed",
    "schedule_generated_at", "created_at", "updated_at",
]
STUDY_SET_BY_THE_PLATFORM = {"id", "status", "schedule_seed", "schedule_generated_at", "created_at", "updated_at"}


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = read_only_fields = STUDY_FIELDS


class StudyInput(RefusesUnknownKeys, serializers.ModelSerializer):
    """The fields a coordinator sets when creating or changing a study (the service checks the rules)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping, models.JSONField: JSONValueField
    }

    class Meta:
        model = Study
        fields = [name for name in STUDY_FIELDS if name not in STUDY_SET_BY_THE_PLATFORM]


class ArmSerializer(serializers.ModelSerializer):
    class Meta:
        model = Arm
        fields = read_only_fields = ["id", "name", "label", "shows_ai", "order"]


class ArmInput(RefusesUnknownKeys, serializers.ModelSerializer):
    class Meta:
        model = Arm
        fields = ["name", "label", "shows_ai"]


class CaseSerializer(serializers.ModelSerializer):
    """Staff view of a case, truth included. Readers never get this serializer."""

    class Meta:
        model = Case
        fields = [
            "id", "label", "study_instance_uid", "accession_number", "truth", "truth_method",
            "truth_established_by", "lesions", "metadata", "acquisition", "reading_group",
        ]


class AIOutputSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="label", read_only=True)

    class Meta:
        model = AIOutput
        fields = ["id", "case", "output_set", "model_name", "model_version", "score", "operating_point", "findings",
                  "inputs", "runtime", "device", "computed_at", "created_at"]


class AIModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = AIModel
        fields = ["id", "name", "version", "sha256", "size", "file_name", "card", "card_sha256", "created_at"]


class AIOutputSetSerializer(serializers.ModelSerializer):
    model_sha256 = serializers.CharField(source="model.sha256", read_only=True, allow_null=True, default=None)
    n_outputs = serializers.IntegerField(read_only=True, help_text="Cases with an output")

    class Meta:
        model = AIOutputSet
        fields = ["id", "model_name", "model_version", "source", "model", "model_sha256", "source_name",
                  "source_checksum", "outputs_sha256", "shown", "job", "n_outputs", "created_at"]


class AIModelUpload(StrictInput):
    model = serializers.FileField(help_text="The model file (ONNX)")
    card = serializers.FileField(help_text="Its model card (YAML or JSON)")

    def validate_model(self, upload):
        if upload.size > settings.AI_MODEL_MAX_BYTES:
            raise serializers.ValidationError(f"file larger than {settings.AI_MODEL_MAX_BYTES} bytes")
        return upload

    def validate_card(self, upload):
        if upload.size > MAX_CARD_BYTES:
            raise serializers.ValidationError(f"file larger than {MAX_CARD_BYTES} bytes")
        return upload


class PrecomputeInput(StrictInput):
    device = serializers.ChoiceField(choices=["auto", "cuda", "cpu"], default="auto")
    batch_size = serializers.IntegerField(min_value=1, max_value=256, required=False,
                                          help_text="Default: the model's own, else 8")


class EnrollInput(StrictInput):
    username = serializers.CharField(max_length=150)
    code = serializers.CharField(required=False, default="", max_length=32)
    group = serializers.IntegerField(required=False, default=0, min_value=0, max_value=SMALLINT_MAX)


class TransitionInput(StrictInput):
    status = serializers.ChoiceField(choices=Study.Status.choices)


class ScheduleInput(StrictInput):
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=BIGINT_MAX)


class FileInput(StrictInput):
    file = serializers.FileField()

    def validate_file(self, upload):
        """Imports are read whole to be checked before anything is stored: their size is bounded."""
        if upload.size > settings.IMPORT_FILE_MAX_BYTES:
            raise serializers.ValidationError(f"file larger than {settings.IMPORT_FILE_MAX_BYTES} bytes")
        return upload


class StaffReadSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="reader.code")
    case = serializers.CharField(source="case.label")
    arm = serializers.CharField(source="arm.name")

    class Meta:
        model = Read
        fields = ["id", "reader", "case", "arm", "rating", "decision", "marks", "comment", "opened_at",
                  "first_image_at", "client_submitted_at", "submitted_at", "duration_ms", "revision"]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "seq", "at", "actor_username", "action", "entity", "entity_id", "before", "after",
                  "request_id", "prev_hash", "hash"]


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "status", "progress", "message", "result", "created_at", "started_at", "finished_at"]


# ---------------------------------------------------------------- shapes of composed responses (schema)


class TruthImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    linked_to_images = serializers.IntegerField()


class AIOutputImportResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    checksum = serializers.CharField(help_text="sha256 of the imported file")
    sets = serializers.ListField(child=serializers.IntegerField(), help_text="The output sets the file went to")


class ScheduleSessionSerializer(serializers.Serializer):
    """A reading session; ``assignments`` counted by the query (``n_assignments``)."""

    reader = serializers.CharField(source="reader.code")
    number = serializers.IntegerField()
    arm = serializers.CharField(source="arm.name", allow_null=True,
                                help_text="Empty when arms are mixed in the session")
    opens_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    assignments = serializers.IntegerField(source="n_assignments")


class ScheduleSerializer(serializers.Serializer):
    """A study's schedule: its seed and sessions (prefetched, with their assignment counts)."""

    seed = serializers.IntegerField(source="schedule_seed", allow_null=True)
    generated_at = serializers.DateTimeField(source="schedule_generated_at", allow_null=True)
    sessions = ScheduleSessionSerializer(many=True)


class ProgressRowSerializer(serializers.Serializer):
    reader = serializers.CharField()
    arm = serializers.CharField()
    assigned = serializers.IntegerField()
    read = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    """``{"status", "by_reader_arm"}`` with the study's totals added."""

    status = serializers.ChoiceField(choices=Study.Status.choices)
    read = serializers.SerializerMethodField()
    assigned = serializers.SerializerMethodField()
    by_reader_arm = ProgressRowSerializer(many=True)

    def get_read(self, progress) -> int:
        return sum(row["read"] for row in progress["by_reader_arm"])

    def get_assigned(self, progress) -> int:
        return sum(row["assigned"] for row in progress["by_reader_arm"])
