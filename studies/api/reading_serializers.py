"""What a reader sends and receives: each output serializer lists exactly the fields a reader may see.

No truth, no case labels, nothing about other readers; the AI output only where
``studies.selectors.reader_assignment`` says it shows. ``tests/studies/test_reader_payloads.py``
holds these fields against what the viewer reads (``viewer_static/src/reader_fields.json``).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.models import AIOutput, Read, Study
from studies.models.bounds import BIGINT_MAX

from .serializers import JSONValueField, StrictInput

# ---------------------------------------------------------------- values kept in JSON columns


class _Stored(serializers.Field):
    """A value of a JSON column (marks, AI findings, labels), rendered exactly as stored; an absent key
    stays absent unless the field is ``required``. The read checks (``services.reads``) and the AI
    import vouch for its type and for the keys that are required.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.NUMBER)
class StoredNumber(_Stored):
    pass


@extend_schema_field(OpenApiTypes.INT)
class StoredInteger(_Stored):
    pass


@extend_schema_field(OpenApiTypes.STR)
class StoredString(_Stored):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class StoredStrings(_Stored):
    pass


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "number"}}})
class StoredPoints(_Stored):
    pass


# ---------------------------------------------------------------- inputs


@extend_schema_field({"type": "object", "nullable": True})
class InteractionsField(JSONValueField):
    """What the reader did while reading: images viewed and for how long, view changes, AI toggles
    (version 1, ``studies.services.interactions``, which checks it whole; at most 64 KiB)."""


class ReadInputSerializer(StrictInput):
    assignment = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    idempotency_key = serializers.UUIDField()
    rating = serializers.FloatField()
    decision = serializers.BooleanField(required=False, allow_null=True, default=None)
    marks = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    opened_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    first_image_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    submitted_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    interactions = InteractionsField(required=False, allow_null=True, default=None)


class ReviseInputSerializer(ReadInputSerializer):
    assignment = None
    interactions = None  # a change keeps the record of the first reading
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# ---------------------------------------------------------------- the reader's own reads


class MarkSerializer(serializers.Serializer):
    """A lesion mark: image pixel, the instance and frame it is on, and its confidence on the study's scale."""

    x = StoredNumber(required=True)
    y = StoredNumber(required=True)
    confidence = StoredNumber(required=True)
    instance_uid = StoredString(allow_null=True)
    frame = StoredInteger(allow_null=True)


class OwnReadSerializer(serializers.ModelSerializer):
    """A reader's view of their own read: no truth, nothing about other readers."""

    marks = MarkSerializer(many=True, read_only=True)

    class Meta:
        model = Read
        fields = ["id", "assignment", "rating", "decision", "marks", "comment", "opened_at", "first_image_at",
                  "client_submitted_at", "submitted_at", "duration_ms", "revision", "idempotency_key"]


# ---------------------------------------------------------------- AI output (aided arms only)


class AIFindingSerializer(serializers.Serializer):
    """A finding as the AI import stores it: box (x, y, width, height), point (x, y) or contour (points)."""

    type = StoredString(required=True)
    x = StoredNumber()
    y = StoredNumber()
    width = StoredNumber()
    height = StoredNumber()
    points = StoredPoints()
    score = StoredNumber()
    sop_instance_uid = StoredString()
    frame = StoredInteger()


class ReaderAIOutputSerializer(serializers.ModelSerializer):
    findings = AIFindingSerializer(many=True, read_only=True)

    class Meta:
        model = AIOutput
        fields = ["model_name", "model_version", "score", "operating_point", "findings"]


# ---------------------------------------------------------------- worklist, session, assignment


class StudyBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    design = serializers.ChoiceField(choices=Study.Design.choices)


class ScaleSerializer(serializers.Serializer):  # renders a Study
    """The study's rating scale and what the scoring panel offers."""

    type = serializers.ChoiceField(source="rating_scale", choices=Study.Scale.choices)
    min = serializers.SerializerMethodField()
    max = serializers.SerializerMethodField()
    labels = StoredStrings(source="ordinal_labels", required=True)
    binary_decision = serializers.BooleanField()
    marks_enabled = serializers.BooleanField()
    max_marks = serializers.IntegerField()
    revisions_allowed = serializers.SerializerMethodField()

    def get_min(self, study: Study) -> float:
        return study.rating_bounds[0]

    def get_max(self, study: Study) -> float:
        return study.rating_bounds[1]

    def get_revisions_allowed(self, study: Study) -> bool:
        return study.revision_policy == Study.RevisionPolicy.AUDITED


class WorklistSessionSerializer(serializers.Serializer):  # renders a selectors.WorklistSession
    id = serializers.IntegerField(source="session.pk")
    study = StudyBriefSerializer(source="session.study")
    number = serializers.IntegerField(source="session.number")
    arm = serializers.CharField(source="session.arm.label", allow_null=True,
                                help_text="The arm's label; empty when arms are mixed")
    opens_at = serializers.DateTimeField(source="session.opens_at")
    completed_at = serializers.DateTimeField(source="session.completed_at", allow_null=True)
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    assigned = serializers.IntegerField(source="n_assigned")
    read = serializers.IntegerField(source="n_read")
    next_assignment = serializers.IntegerField(source="next_assignment_id", allow_null=True)


class WorklistSerializer(serializers.Serializer):
    sessions = WorklistSessionSerializer(many=True)


class SessionAssignmentSerializer(serializers.Serializer):  # an assignment as selectors.reader_session annotates it
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    arm = serializers.CharField(source="arm.label", help_text="The arm's label")
    read = serializers.BooleanField(source="is_read")
    study_instance_uid = serializers.CharField(source="visible_study_instance_uid", allow_null=True,
                                               help_text="Only while the session is open")


class SessionDetailSerializer(serializers.Serializer):  # renders a selectors.ReaderSession
    id = serializers.IntegerField(source="session.pk")
    number = serializers.IntegerField(source="session.number")
    study = StudyBriefSerializer(source="session.study")
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    scale = ScaleSerializer(source="session.study")
    assignments = SessionAssignmentSerializer(many=True)


class AssignmentArmSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    shows_ai = serializers.BooleanField()


class AssignmentDetailSerializer(serializers.Serializer):  # renders a selectors.ReaderAssignment
    id = serializers.IntegerField(source="assignment.pk")
    session = serializers.IntegerField(source="assignment.session_id")
    order = serializers.IntegerField(source="assignment.order")
    arm = AssignmentArmSerializer(source="assignment.arm")
    study_instance_uid = serializers.CharField(source="visible_study_instance_uid", allow_null=True,
                                               help_text="Only while the session is open")
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    scale = ScaleSerializer(source="assignment.session.study")
    read = OwnReadSerializer(allow_null=True)
    final_because = serializers.CharField(allow_null=True, help_text="Why the read can no longer change")
    ai = ReaderAIOutputSerializer(source="ai_outputs", many=True, allow_null=True,
                                  help_text="Only in arms that show the AI, once allowed")
