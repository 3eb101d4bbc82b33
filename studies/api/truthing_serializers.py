"""What a truthing panel sends and receives, and what coordinators and statisticians see of it.

A truther's payloads carry cases, their own labels and, in round 2 only, the other experts' round-1 labels: never
the AI's output, readers' reads or the imported truth. The shapes are those of ``studies.services.truthing``.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.models.bounds import BIGINT_MAX
from studies.models.truthing import MAX_ROUNDS

from .reading_serializers import StoredInteger, StoredNumber, StoredPoints, StoredString
from .serializers import JSONValueField, StrictInput

# ---------------------------------------------------------------- inputs


@extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {
    "type": {"type": "string", "enum": ["box", "point", "polygon"]}, "sop_instance_uid": {"type": "string"},
    "frame": {"type": "integer"},
    "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                          "maxItems": 2}}}}})
class MarksField(JSONValueField):
    """Lesion marks ``{type, sop_instance_uid, frame, points}`` (box: two corners; point: one; polygon: 3 to 200
    points, edges not crossing), in image pixels; checked whole by the service, which names the field at fault."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        super().__init__(**kwargs)


class LabelInput(StrictInput):
    case = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    round = serializers.IntegerField(min_value=1, max_value=MAX_ROUNDS)
    idempotency_key = serializers.UUIDField()
    label = serializers.IntegerField(min_value=0, max_value=1, help_text="1 diseased, 0 not")
    lesions = MarksField()
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    opened_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AdjudicationInput(StrictInput):
    case = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    label = serializers.IntegerField(min_value=0, max_value=1, help_text="1 diseased, 0 not")
    lesions = MarksField()
    note = serializers.CharField(allow_blank=True, max_length=5000, help_text="Why the case is decided so (required)")
    idempotency_key = serializers.UUIDField()


@extend_schema_field({
    "type": "object", "additionalProperties": False,
    "description": "The truthing rule (studies.services.truthing); {} for imported truth",
    "properties": {
        "rounds": {"type": "integer", "enum": [1, 2]},
        "marks": {"type": "array", "items": {"type": "string", "enum": ["box", "point", "polygon"]}},
        "matching": {"type": "object", "additionalProperties": False,
                     "properties": {"iou": {"type": "number"}, "point_radius": {"type": "number"}}},
        "thresholds": {"type": "object", "additionalProperties": False,
                       "properties": {"kappa": {"type": "number"}, "dice": {"type": "number"}}},
        "final": {"type": "string", "enum": ["adjudicated", "majority"]},
    },
})
class RuleField(JSONValueField):
    pass


class RuleInput(StrictInput):
    rule = RuleField()


class MemberInput(StrictInput):
    username = serializers.CharField(max_length=150)
    adjudicator = serializers.BooleanField(required=False, default=False)


# ---------------------------------------------------------------- a member's view


class TruthMarkSerializer(serializers.Serializer):
    type = StoredString(required=True)
    sop_instance_uid = StoredString(required=True)
    frame = StoredInteger(required=True)
    points = StoredPoints(required=True)


class PanelSerializer(serializers.Serializer):
    study = serializers.IntegerField()
    title = serializers.CharField()
    code = serializers.CharField(help_text="The member's pseudonym on the panel (E1, E2, …; A1 the adjudicator)")
    role = serializers.ChoiceField(choices=["truther", "adjudicator"])
    round = serializers.IntegerField(allow_null=True, help_text="The round open to the truther; null when done, "
                                                                "waiting for the others, closed, or adjudicator")
    state = serializers.ChoiceField(choices=["open", "waiting", "done", "closed"])
    reason_closed = serializers.CharField(allow_blank=True)
    cases_total = serializers.IntegerField(help_text="Truther: the study's cases; adjudicator: the disputed ones")
    cases_done = serializers.IntegerField()
    disputes_open = serializers.IntegerField(allow_null=True, help_text="Adjudicator: disputes not yet adjudicated")


class MemberCaseSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    label = serializers.CharField()
    position = serializers.IntegerField()
    round = serializers.IntegerField(allow_null=True)
    done = serializers.BooleanField()
    study_instance_uid = serializers.CharField(allow_blank=True)


class OwnLabelSerializer(serializers.Serializer):
    label = serializers.IntegerField()
    lesions = TruthMarkSerializer(many=True)
    comment = serializers.CharField(allow_blank=True, help_text="The truther's comment; the adjudicator's note")


class PanelLabelSerializer(serializers.Serializer):
    member = serializers.CharField(help_text="The expert's code")
    round = serializers.IntegerField()
    label = serializers.IntegerField(allow_null=True)
    lesions = TruthMarkSerializer(many=True)


class MemberCaseDetailSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    label = serializers.CharField()
    study_instance_uid = serializers.CharField(allow_blank=True)
    round = serializers.IntegerField(allow_null=True, help_text="null for the adjudicator")
    is_open = serializers.BooleanField()
    reason_closed = serializers.CharField(allow_blank=True)
    marks_allowed = serializers.ListField(child=serializers.CharField())
    own = OwnLabelSerializer(allow_null=True)
    others = PanelLabelSerializer(many=True, help_text="Round 2: the other truthers' round-1 labels; adjudicator: "
                                                       "every truther's label in every round; else empty")


class StoredLabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    round = serializers.IntegerField()
    label = serializers.IntegerField()
    lesions = TruthMarkSerializer(many=True)
    comment = serializers.CharField(allow_blank=True)
    opened_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField(allow_null=True)
    idempotency_key = serializers.UUIDField()


class DisputeSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    label = serializers.CharField()
    study_instance_uid = serializers.CharField(allow_blank=True)
    why = serializers.CharField()
    labels = PanelLabelSerializer(many=True)
    adjudicated = serializers.BooleanField()


class StoredAdjudicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    label = serializers.IntegerField()
    lesions = TruthMarkSerializer(many=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    idempotency_key = serializers.UUIDField()


# ---------------------------------------------------------------- the coordinator's and statistician's view


class RuleSerializer(serializers.Serializer):
    rule = RuleField()
    fixed_because = serializers.CharField(allow_blank=True, help_text="Why rule and panel can no longer change")
    closed_because = serializers.CharField(allow_blank=True, help_text="Why no label can be submitted now")


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.get_full_name")
    role = serializers.SerializerMethodField()
    labels = serializers.IntegerField(source="label_count")
    adjudications = serializers.IntegerField(source="adjudication_count")

    def get_role(self, member) -> str:
        return "adjudicator" if member.is_adjudicator else "truther"


class IntervalField(serializers.ListField):
    child = serializers.FloatField()


class LabelAgreementSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    statistic = serializers.ChoiceField(choices=["cohen", "fleiss"])
    n_cases = serializers.IntegerField()
    n_truthers = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True)
    ci = IntervalField(allow_null=True, help_text="95% interval")
    observed_agreement = serializers.FloatField(allow_null=True)
    threshold = StoredNumber(required=True, allow_null=True)
    passed = serializers.BooleanField(allow_null=True)


class MatchingSerializer(serializers.Serializer):
    iou = serializers.FloatField()
    point_radius = serializers.FloatField()


class LesionAgreementSerializer(serializers.Serializer):
    mean_dice = serializers.FloatField(allow_null=True)
    dice_ci = IntervalField(allow_null=True)
    mean_iou = serializers.FloatField(allow_null=True)
    iou_ci = IntervalField(allow_null=True)
    n_pairs = serializers.IntegerField()
    n_point_pairs = serializers.IntegerField()
    n_unmatched = serializers.IntegerField()
    mean_point_distance = serializers.FloatField(allow_null=True)
    matching = MatchingSerializer()
    threshold = StoredNumber(required=True, allow_null=True)
    passed = serializers.BooleanField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    rule = RuleField()
    truthers = serializers.ListField(child=serializers.CharField())
    adjudicator = serializers.CharField(allow_null=True)
    cases_total = serializers.IntegerField()
    cases_complete = serializers.IntegerField(help_text="Cases every truther has labelled in the last round")
    label = LabelAgreementSerializer(allow_null=True, help_text="The last round's")
    label_by_round = LabelAgreementSerializer(many=True)
    lesion = LesionAgreementSerializer(allow_null=True, help_text="null where the rule asks for no marks")
    disputes = serializers.IntegerField()
    adjudicated = serializers.IntegerField()
    final = serializers.BooleanField()


class MethodCountsSerializer(serializers.Serializer):
    consensus = serializers.IntegerField()
    majority = serializers.IntegerField()
    adjudicated = serializers.IntegerField()


class FinalizeSerializer(serializers.Serializer):
    cases = serializers.IntegerField()
    methods = MethodCountsSerializer()
    established_by = serializers.CharField()
    agreement = AgreementSerializer()
