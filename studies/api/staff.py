"""Endpoints for coordinators, statisticians and admins. Thin: authorize, call a service, render."""

from django.db.models import Count, Prefetch, prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from studies import selectors
from studies.errors import NotFound
from studies.models import AuditEvent, Job, Study
from studies.permissions import Action, can_view_job, require, visible_studies
from studies.services import ai_outputs, audit, imports, precompute, schedule
from studies.services import studies as study_services

from . import serializers as s
from .ai_serializers import AIOutputExportSerializer
from .parsers import LimitedFormParser, LimitedJSONParser
from .reader_serializers import ReaderSerializer


def study_for(request, study_id: int, action: Action) -> Study:
    """The study, if the user may do ``action`` on it; 404 when they may not even see it."""
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    require(request.user, action, study)
    return study


class PagedListView(APIView):
    """A view whose GET answers a limit/offset page: the schema then shows the paginated envelope."""

    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS


def _page(view: PagedListView, request, queryset, serializer_class):
    """A limit/offset page of ``queryset``; large studies have many cases, reads and audit rows."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class StudyListView(PagedListView):
    @extend_schema(responses=s.StudySerializer(many=True))
    def get(self, request):
        require(request.user, Action.VIEW_STUDY)
        return _page(self, request, visible_studies(request.user).order_by("id"), s.StudySerializer)

    @extend_schema(request=s.StudyInput, responses={201: s.StudySerializer})
    def post(self, request):
        data = s.StudyInput(data=request.data)
        data.is_valid(raise_exception=True)
        study = study_services.create_study(actor=request.user, **data.validated_data)
        return Response(s.StudySerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailView(APIView):
    @extend_schema(responses=s.StudySerializer)
    def get(self, request, study_id):
        return Response(s.StudySerializer(study_for(request, study_id, Action.VIEW_STUDY)).data)

    @extend_schema(request=s.StudyInput, responses=s.StudySerializer)
    def patch(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.StudyInput(study, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        study = study_services.update_study(actor=request.user, study=study, **data.validated_data)
        return Response(s.StudySerializer(study).data)

    @extend_schema(responses={204: None})
    def delete(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        study_services.delete_study(actor=request.user, study=study)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StudyTransitionView(APIView):
    @extend_schema(request=s.TransitionInput, responses=s.StudySerializer)
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.TransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        study = study_services.transition_study(actor=request.user, study=study, to=data.validated_data["status"])
        return Response(s.StudySerializer(study).data)


class ArmListView(APIView):
    @extend_schema(responses=s.ArmSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(s.ArmSerializer(study.arms.all(), many=True).data)

    @extend_schema(request=s.ArmInput, responses={201: s.ArmSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.ArmInput(data=request.data)
        data.is_valid(raise_exception=True)
        arm = study_services.add_arm(actor=request.user, study=study, **data.validated_data)
        return Response(s.ArmSerializer(arm).data, status=status.HTTP_201_CREATED)


class CaseListView(PagedListView):
    @extend_schema(responses=s.CaseSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_TRUTH)
        return _page(self, request, study.cases.all(), s.CaseSerializer)


class _FileImportView(APIView):
    parser_classes = [MultiPartParser, LimitedFormParser]

    def _file(self, request):
        data = s.FileInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        return upload.read(), upload.name


class CaseImportView(_FileImportView):
    @extend_schema(request={"multipart/form-data": s.FileInput}, responses={200: s.TruthImportResultSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        content, _ = self._file(request)
        result = imports.import_truth(actor=request.user, study=study, data=content)
        return Response(s.TruthImportResultSerializer(result).data)


class AIOutputListView(PagedListView):
    @extend_schema(responses=s.AIOutputSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_AI_OUTPUTS)
        return _page(self, request, study.ai_outputs.select_related("case"), s.AIOutputSerializer)


class AIOutputImportView(_FileImportView):
    @extend_schema(request={"multipart/form-data": s.FileInput}, responses={200: s.AIOutputImportResultSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        content, name = self._file(request)
        result = imports.import_ai_outputs(actor=request.user, study=study, data=content, filename=name)
        return Response(s.AIOutputImportResultSerializer(result).data)


class AIModelListView(PagedListView):
    parser_classes = [MultiPartParser, LimitedFormParser]

    @extend_schema(responses=s.AIModelSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_AI_OUTPUTS)
        return _page(self, request, study.ai_models.all(), s.AIModelSerializer)

    @extend_schema(request={"multipart/form-data": s.AIModelUpload}, responses={201: s.AIModelSerializer})
    def post(self, request, study_id):
        """Register a model file and its card; a model that does not match its card is refused (400)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.AIModelUpload(data=request.data)
        data.is_valid(raise_exception=True)
        model, card = data.validated_data["model"], data.validated_data["card"]
        registered = precompute.register_model(actor=request.user, study=study, model_data=model.read(),
                                               card_data=card.read(), file_name=model.name)
        return Response(s.AIModelSerializer(registered).data, status=status.HTTP_201_CREATED)


class PrecomputeView(APIView):
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    @extend_schema(request=s.PrecomputeInput, responses={202: s.JobSerializer})
    def post(self, request, study_id, model_id):
        """Compute the model's outputs for every case without one, in chunks on the workers of the
        ``precompute`` queue; poll the returned job (``/api/v1/jobs/{id}/``)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        model = get_object_or_404(study.ai_models, pk=model_id)
        data = s.PrecomputeInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = precompute.start_precompute(actor=request.user, model=model, run=precompute.Settings(
            device=data.validated_data["device"], batch_size=data.validated_data.get("batch_size")))
        job.refresh_from_db()  # already finished when tasks run in-process
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _output_sets(study: Study):
    return study.ai_output_sets.select_related("model").annotate(n_outputs=Count("outputs"))


class AIOutputSetListView(PagedListView):
    @extend_schema(responses=s.AIOutputSetSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_AI_OUTPUTS)
        return _page(self, request, _output_sets(study), s.AIOutputSetSerializer)


class AIOutputSetDetailView(APIView):
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    @extend_schema(responses=s.AIOutputSetSerializer)
    def get(self, request, study_id, set_id):
        study = study_for(request, study_id, Action.VIEW_AI_OUTPUTS)
        return Response(s.AIOutputSetSerializer(get_object_or_404(_output_sets(study), pk=set_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, study_id, set_id):
        """Delete a set and its outputs, while the study is a draft."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        ai_outputs.delete_output_set(actor=request.user, output_set=get_object_or_404(study.ai_output_sets, pk=set_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AIOutputSetShowView(APIView):
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    @extend_schema(request=None, responses=s.AIOutputSetSerializer)
    def post(self, request, study_id, set_id):
        """Make this the set readers see in the AI-aided arm (draft only)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        ai_outputs.show_output_set(actor=request.user, output_set=get_object_or_404(study.ai_output_sets, pk=set_id))
        return Response(s.AIOutputSetSerializer(get_object_or_404(_output_sets(study), pk=set_id)).data)


class _AIOutputSetExportView(APIView):
    """The set as the import reads it; the JSON also gives each output's provenance."""

    fmt = ""

    def get(self, request, study_id, set_id):
        study = study_for(request, study_id, Action.VIEW_AI_OUTPUTS)
        output_set = get_object_or_404(study.ai_output_sets, pk=set_id)
        text, content_type = ai_outputs.export_output_set(actor=request.user, output_set=output_set, fmt=self.fmt)
        response = HttpResponse(text, content_type=content_type)
        filename = f"study-{study.pk}-ai-outputs-{output_set.pk}.{self.fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@extend_schema(responses={(200, "application/json"): AIOutputExportSerializer})
class AIOutputSetJsonView(_AIOutputSetExportView):
    fmt = "json"


@extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
class AIOutputSetCsvView(_AIOutputSetExportView):
    fmt = "csv"


class ReaderListView(APIView):
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    @extend_schema(responses=ReaderSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(ReaderSerializer(study.readers.select_related("user"), many=True).data)

    @extend_schema(request=s.EnrollInput, responses={201: ReaderSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.EnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = study_services.reader_user(data.validated_data.pop("username"))
        reader = study_services.enroll_reader(actor=request.user, study=study, user=user, **data.validated_data)
        return Response(ReaderSerializer(reader).data, status=status.HTTP_201_CREATED)


class ScheduleView(APIView):
    @extend_schema(responses={200: s.ScheduleSerializer})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        sessions = study.sessions.select_related("reader", "arm").annotate(n_assignments=Count("assignments"))
        prefetch_related_objects([study], Prefetch("sessions", sessions.order_by("reader__code", "number")))
        return Response(s.ScheduleSerializer(study).data)

    @extend_schema(request=s.ScheduleInput, responses={202: s.JobSerializer})
    def post(self, request, study_id):
        """Generate (or regenerate) the schedule in the background; poll the returned job."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = study_services.request_schedule(actor=request.user, study=study, seed=data.validated_data.get("seed"))
        job.refresh_from_db()  # already finished when tasks run in-process
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _csv_response(request, study: Study, text: str, filename: str) -> HttpResponse:
    audit.record_download(actor=request.user, study_id=study.pk, filename=filename)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ScheduleCsvView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return _csv_response(request, study, schedule.schedule_csv(study), f"study-{study.pk}-schedule.csv")


class ProgressView(APIView):
    @extend_schema(responses={200: s.ProgressSerializer})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        progress = {"status": study.status, "by_reader_arm": selectors.progress(study)}
        return Response(s.ProgressSerializer(progress).data)


class StudyReadsView(PagedListView):
    @extend_schema(responses=s.StaffReadSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _page(self, request, selectors.study_reads(study), s.StaffReadSerializer)


class StudyReadsCsvView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        text = selectors.reads_csv(study, with_excluded=True)  # excluded cases too, with the reason
        return _csv_response(request, study, text, f"study-{study.pk}-reads.csv")


class AuditView(PagedListView):
    @extend_schema(responses=s.AuditEventSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _page(self, request, AuditEvent.objects.filter(study_id=study.pk), s.AuditEventSerializer)


class JobView(APIView):
    @extend_schema(responses=s.JobSerializer)
    def get(self, request, job_id):
        job = get_object_or_404(Job, pk=job_id)
        if not can_view_job(request.user, job):
            raise NotFound(f"no job {job_id}")
        return Response(s.JobSerializer(job).data)
