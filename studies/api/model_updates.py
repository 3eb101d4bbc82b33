"""Locked evaluations of a study and the model updates evaluated on them (a predetermined change control plan):
list and lock evaluations, read one with its looks, evaluate an update (scores as JSON or a CSV file), and each
look's report. Coordinators and statisticians of the study, and monitors who are its members; readers never."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.models import LockedEvaluation, ModelUpdateEvaluation
from studies.models.bounds import SCORE_LIMIT
from studies.permissions import Action
from studies.reports.model_update import render_look_html, render_look_pdf
from studies.services import audit, model_updates

from .analysis import _documented
from .serializers import FileInput, StrictInput
from .staff import PagedListView, _page, study_for


class LockInput(StrictInput):
    name = serializers.CharField(max_length=model_updates.NAME_MAX)
    criteria = serializers.DictField(help_text="The modification protocol's acceptance criteria, e.g. "
                                               '{"auc_noninferiority": {"margin": 0.02}, "sensitivity_floor": 0.85, '
                                               '"subgroup_max_drop": {"variable": "site", "max": 0.05}}')
    options = serializers.DictField(required=False, default=dict,
                                    help_text="Analysis options: reference_operating_point (the cleared model's, "
                                              "when its outputs carry none)")


class NonInferioritySpec(serializers.Serializer):
    margin = serializers.FloatField()
    alpha = serializers.FloatField()


class FloorSpec(serializers.Serializer):
    min = serializers.FloatField()
    judge = serializers.CharField(help_text="lower_bound (of the interval) or estimate")
    alpha = serializers.FloatField()
    interval = serializers.CharField(help_text="The binomial interval: wilson or clopper_pearson")


class SubgroupSpec(serializers.Serializer):
    variable = serializers.CharField(help_text="A case variable: metadata (e.g. site) or an acquisition attribute")
    max = serializers.FloatField(help_text="The largest drop allowed in any level")
    metric = serializers.CharField(help_text="auc or sensitivity")
    judge = serializers.CharField(help_text="estimate or lower_bound")
    alpha = serializers.FloatField()
    min_per_class = serializers.IntegerField(help_text="Levels with fewer cases of a class are not compared")


class CalibrationSpec(serializers.Serializer):
    slope = serializers.ListField(child=serializers.FloatField(), allow_null=True, help_text="[low, high]")
    intercept = serializers.ListField(child=serializers.FloatField(), allow_null=True, help_text="[low, high]")
    ece_max = serializers.FloatField(required=False)
    alpha = serializers.FloatField()
    n_bins = serializers.IntegerField()


class CriteriaSerializer(serializers.Serializer):
    """The acceptance criteria in full (defaults filled in), as :mod:`mrmc.stats.model_update` reads them."""

    auc_noninferiority = NonInferioritySpec(required=False)
    sensitivity_floor = FloorSpec(required=False)
    specificity_floor = FloorSpec(required=False)
    subgroup_max_drop = SubgroupSpec(required=False)
    calibration = CalibrationSpec(required=False)


class OptionsSerializer(serializers.Serializer):
    reference_operating_point = serializers.FloatField(allow_null=True)


class ReferenceSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    operating_point = serializers.FloatField(allow_null=True)
    outputs_sha256 = serializers.CharField()


class LookSummarySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    source = serializers.CharField(help_text="imported, or precomputed (by the platform)")

    class Meta:
        model = ModelUpdateEvaluation
        fields = ["id", "look", "model_name", "model_version", "model_sha256", "source", "operating_point",
                  "scores_sha256", "passed", "created_by", "created_at"]


class SubgroupResultSerializer(serializers.Serializer):
    level = serializers.CharField()
    n_normal = serializers.IntegerField()
    n_abnormal = serializers.IntegerField()
    compared = serializers.BooleanField(help_text="False: too few cases of a class to compare")
    metric = serializers.CharField(required=False)
    reference = serializers.FloatField(required=False, help_text="The cleared model's figure")
    candidate = serializers.FloatField(required=False, help_text="The update's figure")
    difference = serializers.FloatField(required=False, help_text="Update minus cleared")
    ci = serializers.ListField(child=serializers.FloatField(allow_null=True), required=False)


class CriterionResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    estimate = serializers.FloatField(allow_null=True)
    ci = serializers.ListField(child=serializers.FloatField(allow_null=True))
    limit = serializers.CharField(help_text="What passes")
    reason = serializers.CharField(help_text="Why it passed or failed, with the figures")
    subgroups = SubgroupResultSerializer(many=True, required=False, help_text="subgroup_max_drop: each level")


class LookResultSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    n_normal = serializers.IntegerField()
    n_abnormal = serializers.IntegerField()
    criteria = CriterionResultSerializer(many=True)


class LookSerializer(LookSummarySerializer):
    result = LookResultSerializer()

    class Meta(LookSummarySerializer.Meta):
        fields = [*LookSummarySerializer.Meta.fields, "result"]


class LockedEvaluationSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    reference = ReferenceSerializer(help_text="The cleared model (the study's shown AI output set)")
    criteria = CriteriaSerializer(source="criteria.criteria")
    options = OptionsSerializer(source="criteria.options")
    n_cases = serializers.SerializerMethodField()
    n_looks = serializers.SerializerMethodField(help_text="How many times the test set has been used")

    class Meta:
        model = LockedEvaluation
        fields = ["id", "study", "version", "name", "criteria", "options", "reference", "cases_sha256",
                  "truth_sha256", "plan_sha256", "n_cases", "n_looks", "created_by", "created_at"]

    def get_n_cases(self, evaluation) -> int:
        return len(evaluation.cases)

    def get_n_looks(self, evaluation) -> int:
        return evaluation.looks.count()


class LockedEvaluationDetailSerializer(LockedEvaluationSerializer):
    looks = LookSerializer(many=True)

    class Meta(LockedEvaluationSerializer.Meta):
        fields = [*LockedEvaluationSerializer.Meta.fields, "looks"]


class LookInput(StrictInput):
    model_name = serializers.CharField(max_length=model_updates.MODEL_NAME_MAX)
    model_version = serializers.CharField(max_length=model_updates.MODEL_VERSION_MAX)
    operating_point = serializers.FloatField(help_text="A score at or above it is a positive call")
    model_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False, default="",
                                          help_text="The model file's SHA-256, where known")


class LookScoresInput(LookInput):
    scores = serializers.DictField(child=serializers.FloatField(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT),
                                   help_text="Score per case label: every case of the test set, nothing else")


class LookFileInput(LookInput, FileInput):
    """A CSV file with the columns case and score."""


class StudyEvaluationListView(PagedListView):
    @extend_schema(responses=LockedEvaluationSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.EVALUATE_MODEL_UPDATES)
        evaluations = study.locked_evaluations.select_related("created_by").order_by("version")
        return _page(self, request, evaluations, LockedEvaluationSerializer)

    @extend_schema(request=LockInput, responses={201: LockedEvaluationSerializer})
    def post(self, request, study_id):
        """Freeze the locked study's cases, truth, cleared model's outputs and these acceptance criteria as the next
        version of its evaluation."""
        study = study_for(request, study_id, Action.EVALUATE_MODEL_UPDATES)
        data = LockInput(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = model_updates.lock_evaluation(actor=request.user, study=study, **data.validated_data)
        return Response(LockedEvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)


class EvaluationDetailView(APIView):
    @extend_schema(responses=LockedEvaluationDetailSerializer)
    def get(self, request, evaluation_id):
        evaluation = model_updates.evaluation_for(actor=request.user, evaluation_id=evaluation_id)
        return Response(LockedEvaluationDetailSerializer(evaluation).data)


class LookListView(APIView):
    @extend_schema(request={"application/json": LookScoresInput, "multipart/form-data": LookFileInput},
                   responses={201: LookSerializer})
    def post(self, request, evaluation_id):
        """Evaluate a model update on the test set: its scores as JSON, or a CSV file (case,score). The look is
        counted and kept whether the update passes or not."""
        evaluation = model_updates.evaluation_for(actor=request.user, evaluation_id=evaluation_id)
        data = (LookFileInput if "file" in request.data else LookScoresInput)(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("file", None)
        scores = model_updates.scores_from_csv(upload.read()) if upload else values.pop("scores")
        look = model_updates.evaluate_update(actor=request.user, evaluation=evaluation, scores=scores,
                                             source=ModelUpdateEvaluation.Source.IMPORTED, **values)
        return Response(LookSerializer(look).data, status=status.HTTP_201_CREATED)


class LookReportView(APIView):
    """``report.html`` (shown inline) or ``report.pdf`` of one look, from what it stored."""

    def get(self, request, evaluation_id, look, report):
        found = model_updates.look_for(actor=request.user, evaluation_id=evaluation_id, look=look)
        audit.record_download(actor=request.user, study_id=found.evaluation.study_id, filename=report,
                              entity="studies.ModelUpdateEvaluation", entity_id=found.pk)
        if report == "report.html":
            return HttpResponse(render_look_html(found), content_type="text/html; charset=utf-8")
        response = HttpResponse(render_look_pdf(found), content_type="application/pdf")
        response["Content-Disposition"] = (f'attachment; filename="evaluation-{evaluation_id}-look-{look}.pdf"')
        return response


REPORTS = {"report.html": ("text/html", OpenApiTypes.STR), "report.pdf": ("application/pdf", OpenApiTypes.BINARY)}


def report_view(report: str):
    media_type, body = REPORTS[report]
    return _documented(LookReportView, report, media_type=media_type, body=body)
