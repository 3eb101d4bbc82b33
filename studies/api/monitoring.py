"""A study's readiness (both gates, the counterbalancing tables) and its monitoring tables, as the
console's pages show them. Members of the study only: coordinators, statisticians, admins."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.permissions import Action
from studies.services import monitoring, readiness

from .staff import study_for


class ItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    ok = serializers.BooleanField()
    found = serializers.CharField(help_text="What was checked and seen")
    fix = serializers.CharField(help_text="How to fix it; empty when it holds")


class GateSerializer(serializers.Serializer):
    to = serializers.CharField(help_text="The status the study goes to once every item holds")
    ok = serializers.BooleanField()
    items = ItemSerializer(many=True)


class TableSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Also the name of its CSV file in the console")
    title = serializers.CharField()
    note = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))


class ReadinessSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The study's status")
    enrolling = GateSerializer()
    reading = GateSerializer()
    tables = TableSerializer(many=True, help_text="The counterbalancing tables, once a schedule exists")


class ThresholdsSerializer(serializers.Serializer):
    too_fast_s = serializers.FloatField()
    too_long_s = serializers.FloatField()
    scale_min_categories = serializers.IntegerField()
    scale_min_range = serializers.FloatField()
    scale_min_reads = serializers.IntegerField()
    opening_soon_days = serializers.IntegerField()
    overdue_days = serializers.IntegerField()


class MonitoringSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    thresholds = ThresholdsSerializer()
    tables = TableSerializer(many=True)


class ReadinessView(APIView):
    @extend_schema(responses=ReadinessSerializer)
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(ReadinessSerializer(readiness.readiness(study)).data)


class MonitoringView(APIView):
    @extend_schema(responses=MonitoringSerializer)
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return Response(MonitoringSerializer(monitoring.monitoring(study)).data)
