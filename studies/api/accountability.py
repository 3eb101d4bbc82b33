"""A study's accountability: its cases excluded from the analysis, the subject accountability table, and its
protocol deviations (list, record, detect now, review). Members of the study see them; coordinators and admins
exclude cases and record, detect and review deviations."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.models import ProtocolDeviation
from studies.permissions import Action
from studies.services import accountability, deviations

from .serializers import NoBody, StrictInput
from .staff import PagedListView, _page, study_for

Kind, Severity = ProtocolDeviation.Kind, ProtocolDeviation.Severity


class ExclusionInput(StrictInput):
    case = serializers.CharField(max_length=64, help_text="The case's label")
    reason = serializers.CharField(max_length=accountability.REASON_MAX,
                                   help_text="Why it leaves (or rejoins) the analysis; kept with the case")


class ExcludedCaseSerializer(serializers.Serializer):
    case = serializers.CharField(source="label")
    excluded_reason = serializers.CharField()
    excluded_at = serializers.DateTimeField(allow_null=True)


class ReadStatesSerializer(serializers.Serializer):
    arm = serializers.CharField()
    complete = serializers.IntegerField(help_text="Cases every reader scheduled in this arm read")
    partial = serializers.IntegerField(help_text="Cases some of them read")
    none = serializers.IntegerField(help_text="Cases nobody read in this arm")


class ExclusionSerializer(serializers.Serializer):
    case = serializers.CharField()
    reason = serializers.CharField()


class NotAnalysedSerializer(serializers.Serializer):
    excluded = serializers.IntegerField()
    no_truth = serializers.IntegerField()
    never_read = serializers.IntegerField()


class AccountabilitySerializer(serializers.Serializer):
    enrolled = serializers.IntegerField(help_text="Every case of the study but its training cases")
    excluded = ExclusionSerializer(many=True)
    read_per_arm = ReadStatesSerializer(many=True)
    not_analysed = NotAnalysedSerializer(help_text="Why cases are not analysed, each case counted once")
    analysed = serializers.IntegerField()


class DeviationSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="reader.code", default="")
    case = serializers.CharField(source="case.label", default="")
    session = serializers.IntegerField(source="session.number", default=None, allow_null=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", default="")

    class Meta:
        model = ProtocolDeviation
        fields = ["id", "kind", "severity", "rule", "source", "description", "details", "occurred_at", "detected_at",
                  "reader", "case", "session", "read", "reviewed_by", "reviewed_at", "review_note"]


class DeviationFilter(StrictInput):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    reviewed = serializers.BooleanField(required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(required=False)
    offset = serializers.IntegerField(required=False)


class DeviationInput(StrictInput):
    kind = serializers.ChoiceField(choices=Kind.choices)
    description = serializers.CharField()
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened; now if not given")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False,
                                       help_text="The protocol's rules decide when not given")
    reader = serializers.CharField(required=False, default="", help_text="A reader's code")
    case = serializers.CharField(required=False, default="", help_text="A case's label")


class ReviewInput(StrictInput):
    note = serializers.CharField(help_text="What the review found; changing the severity, why")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)


class DetectionSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Unreviewed deviations whose facts changed")
    found = serializers.IntegerField()


class AccountabilityView(APIView):
    @extend_schema(responses=AccountabilitySerializer)
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return Response(AccountabilitySerializer(accountability.accountability(study)).data)


class CaseExclusionView(APIView):
    @extend_schema(responses=ExcludedCaseSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(ExcludedCaseSerializer(accountability.excluded_cases(study), many=True).data)

    @extend_schema(request=ExclusionInput, responses=ExcludedCaseSerializer)
    def post(self, request, study_id):
        """Exclude a case from the analysis, saying why."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = ExclusionInput(data=request.data)
        data.is_valid(raise_exception=True)
        case = accountability.exclude_case(actor=request.user, study=study, case_label=data.validated_data["case"],
                                           reason=data.validated_data["reason"])
        return Response(ExcludedCaseSerializer(case).data)


class CaseExclusionWithdrawView(APIView):
    @extend_schema(request=ExclusionInput, responses=ExcludedCaseSerializer)
    def post(self, request, study_id):
        """Take an excluded case back into the analysis, saying why."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = ExclusionInput(data=request.data)
        data.is_valid(raise_exception=True)
        case = accountability.include_case(actor=request.user, study=study, case_label=data.validated_data["case"],
                                           reason=data.validated_data["reason"])
        return Response(ExcludedCaseSerializer(case).data)


class DeviationListView(PagedListView):
    @extend_schema(parameters=[DeviationFilter], responses=DeviationSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        query = DeviationFilter(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {key: query.validated_data.get(key) for key in ("kind", "severity", "reviewed")}
        listed = deviations.deviation_list(study, kind=filters["kind"] or "", severity=filters["severity"] or "",
                                           reviewed=filters["reviewed"])
        return _page(self, request, listed, DeviationSerializer)

    @extend_schema(request=DeviationInput, responses={201: DeviationSerializer})
    def post(self, request, study_id):
        """Record a deviation the platform cannot see."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = DeviationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        deviation = deviations.record_deviation(
            actor=request.user, study=study, kind=values["kind"], description=values["description"],
            occurred_at=values.get("occurred_at"), severity=values.get("severity"), reader_code=values["reader"],
            case_label=values["case"])
        return Response(DeviationSerializer(deviation).data, status=status.HTTP_201_CREATED)


class DeviationDetectView(APIView):
    @extend_schema(request=None, responses=DetectionSerializer)
    def post(self, request, study_id):
        """Look for deviations now (Celery beat also does, while the study reads)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        NoBody(data=request.data).is_valid(raise_exception=True)
        return Response(DetectionSerializer(deviations.detect_now(actor=request.user, study=study)).data)


class DeviationReviewView(APIView):
    @extend_schema(request=ReviewInput, responses=DeviationSerializer)
    def post(self, request, study_id, deviation_id):
        """Mark a deviation reviewed with a note; a new severity takes the note as its reason."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        deviation = deviations.review_deviation(actor=request.user, study=study, deviation_id=deviation_id,
                                                note=data.validated_data["note"],
                                                severity=data.validated_data.get("severity"))
        return Response(DeviationSerializer(deviation).data)
