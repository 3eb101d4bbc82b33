"""Output shapes and input validation; no business rules here (see ``studies.services``)."""

from django.conf import settings
from rest_framework import serializers

from studies.models import AIOutput, Arm, AuditEvent, Case, Job, Read, Reader, Study


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = [
            "id", "title", "protocol_text", "protocol_version", "status", "design", "rating_scale", "scale_min",
            "scale_max", "ordinal_labels", "binary_decision", "decision_threshold", "marks_enabled", "max_marks",
            "washout_days", "block_size", "revision_policy", "allow_identified_data", "pixel_cleaning",
            "reading_starts_at", "schedule_seed", "schedule_generated_at", "created_at", "updated_at",
        ]
        read_only_fields = ["status", "schedule_seed", "schedule_generated_at", "created_at", "updated_at"]


class ArmSerializer(serializers.ModelSerializer):
    class Meta:
        model = Arm
        fields = ["id", "name", "label", "shows_ai", "order"]
        read_only_fields = ["order"]


class CaseSerializer(serializers.ModelSerializer):
    """Staff view of a case, truth included. Readers never get this serializer."""

    class Meta:
        model = Case
        fields = [
            "id", "label", "study_instance_uid", "accession_number", "truth", "truth_method",
            "truth_established_by", "lesions", "metadata", "reading_group",
        ]


class AIOutputSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="label", read_only=True)

    class Meta:
        model = AIOutput
        fields = ["id", "case", "model_name", "model_version", "score", "operating_point", "findings",
                  "source_name", "source_checksum", "created_at"]


class ReaderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    specialty = serializers.CharField(source="user.specialty", read_only=True)
    years_experience = serializers.IntegerField(source="user.years_experience", read_only=True)

    class Meta:
        model = Reader
        fields = ["id", "code", "group", "username", "specialty", "years_experience", "enrolled_at"]


class EnrollInput(serializers.Serializer):
    username = serializers.CharField()
    code = serializers.CharField(required=False, default="")
    group = serializers.IntegerField(required=False, default=0, min_value=0)


class TransitionInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Study.Status.choices)


class ScheduleInput(serializers.Serializer):
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)


class FileInput(serializers.Serializer):
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


# ---------------------------------------------------------------- reader side


class ReadInputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    idempotency_key = serializers.UUIDField()
    rating = serializers.FloatField()
    decision = serializers.BooleanField(required=False, allow_null=True, default=None)
    marks = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    opened_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    first_image_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    submitted_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ReviseInputSerializer(ReadInputSerializer):
    assignment = None
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class OwnReadSerializer(serializers.ModelSerializer):
    """A reader's view of their own read: no truth, nothing about other readers."""

    class Meta:
        model = Read
        fields = ["id", "assignment", "rating", "decision", "marks", "comment", "opened_at", "first_image_at",
                  "client_submitted_at", "submitted_at", "duration_ms", "revision", "idempotency_key"]


class ReaderAIOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AIOutput
        fields = ["model_name", "model_version", "score", "operating_point", "findings"]
