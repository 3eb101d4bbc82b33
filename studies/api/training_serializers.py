"""What a reader sends and receives in training: the reading payloads' shapes, plus the feedback.

A training case is shown like an assignment (``reading_serializers.AssignmentDetailSerializer``), so that the
workstation reads both alike. The truth of a training case and its lesions appear only in ``feedback``, once
the reader's own score of the case is in; nothing here is about other readers.
"""

from rest_framework import serializers

from studies.models import TrainingRead
from studies.models.bounds import BIGINT_MAX

from .reading_serializers import (
    AssignmentArmSerializer,
    MarkSerializer,
    ReaderAIOutputSerializer,
    ReadInputSerializer,
    ScaleSerializer,
    StoredInteger,
    StoredNumber,
    StoredString,
    StudyBriefSerializer,
)

# ---------------------------------------------------------------- input


class TrainingReadInputSerializer(ReadInputSerializer):
    """A training score: a read's values for training case ``case`` in training arm ``arm``."""

    assignment = None
    first_image_at = None  # not kept for training reads
    case = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    arm = serializers.SlugField(max_length=50, help_text="The training arm's code (its name)")


# ---------------------------------------------------------------- the reader's training read and its feedback


class TrainingReadSerializer(serializers.ModelSerializer):
    """A reader's own training read."""

    arm = serializers.SlugRelatedField(slug_field="name", read_only=True)
    marks = MarkSerializer(many=True, read_only=True)

    class Meta:
        model = TrainingRead
        fields = ["id", "case", "arm", "rating", "decision", "marks", "comment", "opened_at", "submitted_at",
                  "duration_ms", "idempotency_key"]


class LesionSerializer(serializers.Serializer):
    """A lesion of the truth, as the truth import stores it."""

    sop_instance_uid = StoredString()
    frame = StoredInteger()
    x = StoredNumber()
    y = StoredNumber()
    radius = StoredNumber()
    weight = StoredNumber()


class FeedbackSerializer(serializers.Serializer):  # renders services.training.feedback
    truth = serializers.IntegerField(help_text="1 diseased, 0 not")
    lesions = LesionSerializer(many=True)
    call = serializers.BooleanField(allow_null=True, help_text="The read's yes/no call: the decision, else rating "
                                                               ">= the study's threshold; null where neither exists")
    correct = serializers.BooleanField(allow_null=True, help_text="Whether the call agrees with the truth")
    ai = ReaderAIOutputSerializer(many=True, allow_null=True, help_text="Only in arms that show the AI")


class CriterionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The rule's key, e.g. min_auc or calibration.min_spread")
    label = serializers.CharField()
    value = StoredNumber(required=True, allow_null=True, help_text="The reader's figure; null while it cannot "
                                                                   "be computed")
    threshold = StoredNumber(required=True)
    passed = serializers.BooleanField()
    note = serializers.CharField()


class EvaluationSerializer(serializers.Serializer):  # renders a qualification evaluation
    passed = serializers.BooleanField()
    evaluated_at = serializers.DateTimeField()
    cases_read = serializers.IntegerField(help_text="Training cases read in every training arm")
    cases_available = serializers.IntegerField()
    reads_evaluated = serializers.IntegerField(help_text="Reads in the first training arm, the ones evaluated")
    criteria = CriterionSerializer(many=True)
    summary = serializers.CharField()


# ---------------------------------------------------------------- training overview, one case, a submission


class TrainingItemSerializer(serializers.Serializer):  # renders a services.training.TrainingItem
    case = serializers.IntegerField(source="case_id")
    order = serializers.IntegerField()
    arm = AssignmentArmSerializer()
    read = serializers.BooleanField(source="is_read")
    read_first_in = serializers.CharField(source="read_first_in.label", allow_null=True,
                                          help_text="The arm this case must be read in first, while it is not")


class TrainingSerializer(serializers.Serializer):  # renders a services.training.Training
    study = StudyBriefSerializer()
    required = serializers.SerializerMethodField(help_text="Whether the study requires qualification")
    qualified_at = serializers.DateTimeField(source="reader.qualified_at", allow_null=True)
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    scale = ScaleSerializer(source="study")
    items = TrainingItemSerializer(many=True)
    read = serializers.IntegerField(source="n_read")
    next = TrainingItemSerializer(source="next_item", allow_null=True)
    qualification = EvaluationSerializer(allow_null=True)

    def get_required(self, training) -> bool:
        return bool(training.study.qualification)


class TrainingCaseSerializer(serializers.Serializer):  # renders a services.training.TrainingCase
    case = serializers.IntegerField(source="item.case_id")
    order = serializers.IntegerField(source="item.order")
    arm = AssignmentArmSerializer(source="item.arm")
    study_instance_uid = serializers.CharField(source="visible_study_instance_uid", allow_null=True,
                                               help_text="Only while the case can be read")
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    scale = ScaleSerializer(source="study")
    read = TrainingReadSerializer(allow_null=True)
    final_because = serializers.SerializerMethodField(help_text="Why the read can no longer change")
    ai = ReaderAIOutputSerializer(source="ai_outputs", many=True, allow_null=True,
                                  help_text="Only in arms that show the AI, while the case can be read")
    feedback = FeedbackSerializer(allow_null=True, help_text="Once the reader's score of the case is in")

    def get_final_because(self, training_case) -> str | None:
        return "training reads are final" if training_case.read else None


class TrainingSubmissionSerializer(serializers.Serializer):  # renders a services.training.TrainingSubmission
    read = TrainingReadSerializer()
    feedback = FeedbackSerializer()
    qualification = EvaluationSerializer(allow_null=True, help_text="After this read; null where none is required")
