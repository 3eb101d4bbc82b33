"""Analysis runs: list, start, follow, and download reports and exports. Thin: authorize, call a service."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from mrmc.stats.power_sim import DESIGNS
from studies import reports
from studies.models import AnalysisRun, Study
from studies.models.bounds import BIGINT_MAX
from studies.permissions import Action, require, visible_studies
from studies.services import analysis, analysis_exports, audit, power
from studies.services.analysis_exports import EXPORTS, REPORTS

from .serializers import JobSerializer, StrictInput
from .staff import PagedListView, _page, study_for


class AnalysisRunSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    progress = serializers.FloatField(source="job.progress")
    progress_message = serializers.CharField(source="job.message")
    job_status = serializers.CharField(source="job.status")

    class Meta:
        model = AnalysisRun
        fields = ["id", "study", "job", "status", "job_status", "progress", "progress_message", "error",
                  "is_interim", "study_status", "options", "snapshot_checksum", "marks_snapshot_checksum",
                  "software_version",
                  "created_by", "created_at", "finished_at"]


class AnalysisRunDetailSerializer(AnalysisRunSerializer):
    downloads = serializers.SerializerMethodField()

    class Meta(AnalysisRunSerializer.Meta):
        fields = [*AnalysisRunSerializer.Meta.fields, "results", "downloads"]

    def get_downloads(self, run) -> dict[str, str]:
        return {name: f"/api/v1/analysis-runs/{run.pk}/{name}" for name in analysis_exports.downloads(run)}


class AnalysisOptionsInput(StrictInput):
    """The options an analysis run accepts (``analysis.DEFAULT_OPTIONS``); the service fills in the
    defaults and checks how they combine."""

    method = serializers.ChoiceField(choices=analysis.METHOD_CHOICES, required=False,
                                     help_text="or: Obuchowski-Rockette; ustat: iMRMC's U-statistics (AUC only)")
    fom = serializers.ChoiceField(choices=analysis.FOM_CHOICES, required=False)
    cov = serializers.ChoiceField(choices=analysis.COV_CHOICES, required=False)
    alpha = serializers.FloatField(required=False)
    convention = serializers.ChoiceField(choices=analysis.CONVENTION_CHOICES, required=False, allow_null=True,
                                         help_text="OR convention; null: iowa for fully crossed reads, else mrmcaov")
    threshold = serializers.FloatField(required=False, allow_null=True,
                                       help_text="sensitivity/specificity threshold; null: the study's")
    pauc_range = serializers.ListField(child=serializers.FloatField(min_value=0, max_value=1), min_length=2,
                                       max_length=2, required=False, allow_null=True)
    n_bootstrap = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, allow_null=True)
    subgroup_variables = serializers.ListField(child=serializers.CharField(max_length=200), required=False,
                                               allow_null=True, help_text="null: every case metadata variable")
    min_subgroup_cases = serializers.IntegerField(required=False)
    power_effect = serializers.FloatField(required=False)
    r_crosscheck = serializers.BooleanField(required=False)


class StartRunInput(StrictInput):
    options = AnalysisOptionsInput(required=False, default=dict)


class ResultsRecordSerializer(serializers.Serializer):
    """The run's record in ``results.json`` (built by ``analysis_exports.results_document``)."""

    id = serializers.IntegerField()
    study = serializers.IntegerField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=AnalysisRun.Status.choices)
    error = serializers.CharField(allow_blank=True)
    is_interim = serializers.BooleanField()
    study_status = serializers.ChoiceField(choices=Study.Status.choices)
    options = serializers.JSONField()
    snapshot_sha256 = serializers.CharField()
    marks_snapshot_sha256 = serializers.CharField(
        allow_null=True, help_text="sha256 of the marks snapshot (FROC); null: marks were not captured for this run")
    software_version = serializers.CharField()


class ResultsDocumentSerializer(serializers.Serializer):
    run = ResultsRecordSerializer()
    results = serializers.JSONField(allow_null=True, help_text="The stored results, as the report shows them")


class PowerPlanInput(StrictInput):
    """A planned design (``mrmc.stats.power_plan.PowerPlan``): every reader count is simulated with every case count."""

    design = serializers.ChoiceField(choices=DESIGNS)
    effect = serializers.FloatField(min_value=0, max_value=3, help_text=(
        "AUC difference, AI minus control (ai_vs_readers: readers' mean AUC minus the AI's; froc: extra lesion "
        "separation); 0 gives the type I error"))
    readers = serializers.ListField(child=serializers.IntegerField(min_value=2, max_value=500), min_length=1,
                                    max_length=power.MAX_SIZES)
    cases = serializers.ListField(child=serializers.IntegerField(min_value=4, max_value=100_000), min_length=1,
                                  max_length=power.MAX_SIZES, help_text="case counts, each half abnormal")
    alpha = serializers.FloatField(min_value=1e-4, max_value=0.5, default=0.05)
    groups = serializers.IntegerField(min_value=2, max_value=100, default=None, allow_null=True,
                                      help_text="split-plot reader groups (split_plot only)")
    missing = serializers.FloatField(min_value=0, max_value=0.5, default=0.0, help_text="reads missing at random")


class StartPowerSimulationInput(StrictInput):
    plan = PowerPlanInput()
    studies = serializers.IntegerField(min_value=100, max_value=power.MAX_STUDIES, default=2000,
                                       help_text="simulated studies per (readers, cases) pair")
    seed = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, default=0)
    target_power = serializers.FloatField(min_value=0.01, max_value=0.99, default=0.8)


def run_for(request, run_id: int) -> AnalysisRun:
    """The run, if the user may see its study's reads; 404 when they may not see the study at all."""
    run = get_object_or_404(
        AnalysisRun.objects.select_related("study", "job", "created_by"),
        pk=run_id, study__in=visible_studies(request.user),
    )
    require(request.user, Action.VIEW_READS, run.study)
    return run


class AnalysisRunListView(PagedListView):
    @extend_schema(responses=AnalysisRunSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _page(self, request, analysis.visible_runs(study), AnalysisRunSerializer)

    @extend_schema(request=StartRunInput, responses={202: AnalysisRunDetailSerializer})
    def post(self, request, study_id):
        """Freeze the reads and analyse them in the background; poll the returned run."""
        study = study_for(request, study_id, Action.RUN_ANALYSIS)
        data = StartRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = analysis.start_run(actor=request.user, study=study, options=data.validated_data["options"])
        run.refresh_from_db()  # already finished when tasks run in-process
        return Response(AnalysisRunDetailSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AnalysisRunDetailView(APIView):
    @extend_schema(responses=AnalysisRunDetailSerializer)
    def get(self, request, run_id):
        return Response(AnalysisRunDetailSerializer(run_for(request, run_id)).data)


class PowerSimulationView(APIView):
    @extend_schema(request=StartPowerSimulationInput, responses={202: JobSerializer})
    def post(self, request, run_id):
        """Simulate the power of a planned design with this run as the pilot, in chunks on the workers; poll
        the returned job (``/api/v1/jobs/{id}/``) for its progress and result."""
        run = run_for(request, run_id)
        data = StartPowerSimulationInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = power.start_power_simulation(
            actor=request.user, run=run, plan=dict(data.validated_data["plan"]),
            n_studies=data.validated_data["studies"], seed=data.validated_data["seed"],
            target_power=data.validated_data["target_power"],
        )
        job.refresh_from_db()  # already finished when tasks run in-process
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _attachment(request, run: AnalysisRun, content, content_type: str, filename: str) -> HttpResponse:
    audit.record_download(actor=request.user, study_id=run.study_id, filename=filename,
                          entity="studies.AnalysisRun", entity_id=run.pk)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class AnalysisReportView(APIView):
    """``report.html`` (shown inline) or ``report.pdf``, rendered from the stored results."""

    def get(self, request, run_id, report):
        run = run_for(request, run_id)
        if report == "report.html":
            content = reports.render_html(run)
            audit.record_download(actor=request.user, study_id=run.study_id, filename=report,
                                  entity="studies.AnalysisRun", entity_id=run.pk)
            return HttpResponse(content, content_type="text/html; charset=utf-8")
        return _attachment(request, run, reports.render_pdf(run), "application/pdf",
                           f"study-{run.study_id}-run-{run.pk}.pdf")


class AnalysisExportView(APIView):
    """The frozen reads, the data in MRMCaov / iMRMC / RJafroc formats, or the results JSON."""

    def get(self, request, run_id, export):
        run = run_for(request, run_id)
        content = analysis_exports.render_export(run=run, name=export)
        stem, extension = export.rsplit(".", 1)
        return _attachment(request, run, content, EXPORTS[export].content_type,
                           f"study-{run.study_id}-run-{run.pk}-{stem}.{extension}")


REPORT_BODIES = {"report.html": ("text/html", OpenApiTypes.STR), "report.pdf": ("application/pdf", OpenApiTypes.BINARY)}
assert set(REPORT_BODIES) == set(REPORTS)


def _documented(view: type[APIView], name: str, *, media_type: str, body, description: str = ""):
    """``view`` for one download, its schema naming that download's media type and body."""
    subclass = type(f"{view.__name__}[{name}]", (view,), {})
    schema = extend_schema(description=description, responses={(200, media_type): body})
    return extend_schema_view(get=schema)(subclass).as_view()


def report_view(report: str):
    media_type, body = REPORT_BODIES[report]
    return _documented(AnalysisReportView, report, media_type=media_type, body=body)


def export_view(export: str):
    spec = EXPORTS[export]
    media_type = spec.content_type.split(";")[0]
    body = ResultsDocumentSerializer if media_type == "application/json" else OpenApiTypes.BINARY
    return _documented(AnalysisExportView, export, media_type=media_type, body=body, description=spec.description)
