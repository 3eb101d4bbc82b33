"""Field monitoring of cleared devices: deployments, their field records (JSON or CSV), windows and alarms.

Admins see every deployment; monitors, coordinators and statisticians the deployments they are members of
(monitors and admins change them); readers and truthers none. Another's deployment does not exist (404).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.errors import NotAllowed
from studies.models import MonitoredDeployment, MonitoringAlarm
from studies.permissions import Action, can_on_deployment, require, visible_deployments
from studies.services import field_monitoring, field_monitoring_windows

from . import serializers as s
from .parsers import LimitedFormParser
from .serializers import NoBody, StrictInput
from .staff import PagedListView, _page


class DeploymentInput(StrictInput):
    name = serializers.CharField(max_length=200)
    device = serializers.CharField(max_length=200, help_text="The device (software) as cleared")
    model_name = serializers.CharField(max_length=100, required=False, default="")
    description = serializers.CharField(required=False, default="", allow_blank=True)
    rules = serializers.JSONField(required=False, default=dict,
                                  help_text="Window, operating point, CUSUM design, drift thresholds, e-mails")
    members = serializers.ListField(child=serializers.CharField(max_length=150), required=False, default=list,
                                    help_text="Usernames (monitors, coordinators, statisticians)")


class DeploymentChangeInput(StrictInput):
    name = serializers.CharField(max_length=200, required=False)
    device = serializers.CharField(max_length=200, required=False)
    model_name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    rules = serializers.JSONField(required=False)
    members = serializers.ListField(child=serializers.CharField(max_length=150), required=False,
                                    help_text="Usernames, replacing the members")


class ChartSerializer(serializers.Serializer):
    up = serializers.IntegerField(help_text="Step up after a miss, in the chart's integer units")
    down = serializers.IntegerField(help_text="Step down after a detected positive")
    threshold = serializers.IntegerField(help_text="h in integer units: the chart alarms at or above it")
    k = serializers.FloatField()
    h = serializers.FloatField()
    in_control_arl = serializers.FloatField(help_text="Confirmed positives between false alarms, on average")


class DeploymentSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()
    n_records = serializers.SerializerMethodField()
    open_alarms = serializers.SerializerMethodField()
    chart = serializers.SerializerMethodField()

    class Meta:
        model = MonitoredDeployment
        fields = ["id", "name", "device", "model_name", "description", "rules", "members", "n_records",
                  "open_alarms", "chart", "created_at"]

    def get_members(self, deployment) -> list[str]:
        return sorted(deployment.members.values_list("username", flat=True))

    def get_n_records(self, deployment) -> int:
        return deployment.records.count()

    def get_open_alarms(self, deployment) -> int:
        return deployment.alarms.filter(acknowledged_at__isnull=True).count()

    @extend_schema_field(ChartSerializer)
    def get_chart(self, deployment) -> dict:
        chart = field_monitoring_windows.chart_of(field_monitoring.validate_rules(deployment.rules))
        return ChartSerializer({"up": chart.up, "down": chart.down, "threshold": chart.threshold, "k": chart.k,
                                "h": chart.h, "in_control_arl": chart.arl(chart.p0)}).data


class RecordSerializer(serializers.Serializer):
    case_key = serializers.CharField()
    site = serializers.CharField()
    manufacturer = serializers.CharField()
    device_model = serializers.CharField()
    software_version = serializers.CharField()
    model_version = serializers.CharField()
    score = serializers.FloatField()
    positive = serializers.BooleanField(allow_null=True)
    attributes = serializers.JSONField(help_text="Acquisition attributes: kvp, pixel_spacing, ...")
    acquired_at = serializers.DateTimeField()
    outcome = serializers.IntegerField(allow_null=True)
    outcome_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField()


class RecordsInput(StrictInput):
    records = serializers.ListField(
        child=serializers.JSONField(), max_length=field_monitoring.MAX_RECORDS_PER_IMPORT,
        help_text="Each: case_key, site, manufacturer, device_model, software_version, model_version, score, positive,"
                  " attributes, acquired_at; outcome and outcome_at now or in a later import")
    source = serializers.CharField(max_length=200, required=False, default="api")


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    completed = serializers.IntegerField(help_text="Known records that got their confirmed outcome")
    unchanged = serializers.IntegerField(help_text="Sent again as stored")


class WindowFilter(StrictInput):
    group = serializers.CharField(required=False, help_text="'' for every record, or e.g. site=A, "
                                                            "device=GE Revolution, model_version=2.1")
    limit = serializers.IntegerField(required=False)
    offset = serializers.IntegerField(required=False)


class EstimateSerializer(serializers.Serializer):
    estimate = serializers.FloatField()
    ci = serializers.ListField(child=serializers.FloatField(), help_text="95% interval (Wilson; AUC: DeLong)")
    successes = serializers.IntegerField(required=False)
    n = serializers.IntegerField(required=False)


class MetricsSerializer(serializers.Serializer):
    n_positive = serializers.IntegerField(help_text="Confirmed diseased")
    n_negative = serializers.IntegerField()
    auc = EstimateSerializer(allow_null=True)
    sensitivity = EstimateSerializer(allow_null=True)
    specificity = EstimateSerializer(allow_null=True)
    ppv = EstimateSerializer(allow_null=True)


class DriftSerializer(serializers.Serializer):
    psi = serializers.FloatField()
    test = serializers.CharField(help_text="ks (continuous) or chi2 (categorical)")
    statistic = serializers.FloatField()
    p = serializers.FloatField()
    flagged = serializers.BooleanField(help_text="PSI at or above the rules' psi and p below their p")


class WindowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    group = serializers.CharField()
    n_records = serializers.IntegerField()
    n_outcomes = serializers.IntegerField()
    metrics = MetricsSerializer(help_text="Over the records with a confirmed outcome")
    drift = serializers.DictField(child=DriftSerializer(), help_text="Per attribute, against the reference windows")
    computed_at = serializers.DateTimeField()


class ComputeResultSerializer(serializers.Serializer):
    windows = serializers.IntegerField()
    outcomes = serializers.IntegerField()
    alarms = serializers.IntegerField()
    emailed = serializers.IntegerField()


class AlarmSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField()
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", default="")

    class Meta:
        model = MonitoringAlarm
        fields = ["id", "rule", "kind", "window", "raised_at", "summary", "details", "notified_at",
                  "acknowledged_by", "acknowledged_at", "note"]

    def get_summary(self, alarm) -> str:
        return field_monitoring.alarm_summary(alarm)


class AcknowledgeInput(StrictInput):
    note = serializers.CharField(max_length=2000, help_text="What was looked into and done")


def deployment_for(request, deployment_id: int, action: Action) -> MonitoredDeployment:
    """The deployment, if the user may do ``action`` on it; 404 when they may not see it."""
    require(request.user, Action.VIEW_MONITORING)
    deployment = get_object_or_404(visible_deployments(request.user), pk=deployment_id)
    if not can_on_deployment(request.user, action, deployment):
        raise NotAllowed(f"{request.user.username} may not change the monitoring of {deployment.name}")
    return deployment


class DeploymentListView(PagedListView):
    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request):
        require(request.user, Action.VIEW_MONITORING)
        return _page(self, request, visible_deployments(request.user).order_by("id"), DeploymentSerializer)

    @extend_schema(request=DeploymentInput, responses={201: DeploymentSerializer})
    def post(self, request):
        require(request.user, Action.CHANGE_MONITORING)
        data = DeploymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = field_monitoring.create_deployment(actor=request.user, **data.validated_data)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailView(APIView):
    @extend_schema(responses=DeploymentSerializer)
    def get(self, request, deployment_id):
        return Response(DeploymentSerializer(deployment_for(request, deployment_id, Action.VIEW_MONITORING)).data)

    @extend_schema(request=DeploymentChangeInput, responses=DeploymentSerializer)
    def patch(self, request, deployment_id):
        deployment = deployment_for(request, deployment_id, Action.CHANGE_MONITORING)
        data = DeploymentChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = field_monitoring.update_deployment(actor=request.user, deployment=deployment,
                                                        changes=data.validated_data)
        return Response(DeploymentSerializer(deployment).data)


class RecordListView(PagedListView):
    @extend_schema(responses=RecordSerializer(many=True))
    def get(self, request, deployment_id):
        deployment = deployment_for(request, deployment_id, Action.VIEW_MONITORING)
        return _page(self, request, deployment.records.order_by("acquired_at", "id"), RecordSerializer)

    @extend_schema(request=RecordsInput, responses=ImportResultSerializer)
    def post(self, request, deployment_id):
        """Store field records, all or none: new cases, and outcomes of cases sent before (idempotent by
        case_key). An error names the record's line (1 for the first) and field."""
        deployment = deployment_for(request, deployment_id, Action.CHANGE_MONITORING)
        data = RecordsInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = field_monitoring.import_records(actor=request.user, deployment=deployment,
                                                 rows=data.validated_data["records"],
                                                 source=data.validated_data["source"])
        return Response(ImportResultSerializer(result).data)


class RecordImportView(APIView):
    parser_classes = [MultiPartParser, LimitedFormParser]

    @extend_schema(request={"multipart/form-data": s.FileInput}, responses=ImportResultSerializer)
    def post(self, request, deployment_id):
        """Store the records of a CSV file (a header of record fields and attr_<name> columns), all or none;
        an error names its line in the file and its column."""
        deployment = deployment_for(request, deployment_id, Action.CHANGE_MONITORING)
        data = s.FileInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        rows = field_monitoring.parse_csv(upload.read())
        result = field_monitoring.import_records(actor=request.user, deployment=deployment, rows=rows,
                                                 source=f"csv:{upload.name}", first_line=2)
        return Response(ImportResultSerializer(result).data)


class WindowListView(PagedListView):
    @extend_schema(parameters=[WindowFilter], responses=WindowSerializer(many=True))
    def get(self, request, deployment_id):
        deployment = deployment_for(request, deployment_id, Action.VIEW_MONITORING)
        query = WindowFilter(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        windows = deployment.windows.order_by("start", "group")
        if "group" in query.validated_data:
            windows = windows.filter(group=query.validated_data["group"])
        return _page(self, request, windows, WindowSerializer)


class ComputeView(APIView):
    @extend_schema(request=NoBody, responses=ComputeResultSerializer)
    def post(self, request, deployment_id):
        """Compute the windows touched by new records and advance the charts now (Celery beat does it too)."""
        deployment = deployment_for(request, deployment_id, Action.CHANGE_MONITORING)
        NoBody(data=request.data).is_valid(raise_exception=True)
        result = field_monitoring_windows.compute(deployment_id=deployment.pk, actor=request.user)
        return Response(ComputeResultSerializer(result).data)


class AlarmListView(PagedListView):
    @extend_schema(responses=AlarmSerializer(many=True))
    def get(self, request, deployment_id):
        deployment = deployment_for(request, deployment_id, Action.VIEW_MONITORING)
        return _page(self, request, deployment.alarms.select_related("acknowledged_by").order_by("-raised_at", "-id"),
                     AlarmSerializer)


class AlarmAcknowledgeView(APIView):
    @extend_schema(request=AcknowledgeInput, responses=AlarmSerializer)
    def post(self, request, alarm_id):
        """Acknowledge an alarm with a note (audited); once."""
        require(request.user, Action.VIEW_MONITORING)
        alarm = get_object_or_404(MonitoringAlarm.objects.filter(deployment__in=visible_deployments(request.user)),
                                  pk=alarm_id)
        deployment_for(request, alarm.deployment_id, Action.CHANGE_MONITORING)
        data = AcknowledgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        alarm = field_monitoring.acknowledge_alarm(actor=request.user, alarm=alarm, note=data.validated_data["note"])
        return Response(AlarmSerializer(alarm).data)
