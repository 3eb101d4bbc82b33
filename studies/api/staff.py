"""Endpoints for coordinators, statisticians and admins. Thin: authorize, call a service, render."""

from django.db.models import Count
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
from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import AuditEvent, Job, Study, User
from studies.permissions import Action, can, require, visible_studies
from studies.services import audit, imports, jobs, schedule
from studies.services import studies as study_services

from . import serializers as s
from .parsers import LimitedFormParser, LimitedJSONParser


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

    @extend_schema(request=s.StudySerializer, responses={201: s.StudySerializer})
    def post(self, request):
        data = s.StudySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = study_services.create_study(actor=request.user, **data.validated_data)
        return Response(s.StudySerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailView(APIView):
    @extend_schema(responses=s.StudySerializer)
    def get(self, request, study_id):
        return Response(s.StudySerializer(study_for(request, study_id, Action.VIEW_STUDY)).data)

    @extend_schema(request=s.StudySerializer, responses=s.StudySerializer)
    def patch(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.StudySerializer(study, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        study = study_services.update_study(actor=request.user, study=study, **data.validated_data)
        return Response(s.StudySerializer(study).data)

    @extend_schema(responses={204: None})
    def delete(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        if study.status != Study.Status.DRAFT:
            raise RuleViolation("only a draft study can be deleted")
        study.delete()
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

    @extend_schema(request=s.ArmSerializer, responses={201: s.ArmSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.ArmSerializer(data=request.data)
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
        return Response(imports.import_truth(actor=request.user, study=study, data=content))


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
        return Response(imports.import_ai_outputs(actor=request.user, study=study, data=content, filename=name))


class ReaderListView(APIView):
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    @extend_schema(responses=s.ReaderSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(s.ReaderSerializer(study.readers.select_related("user"), many=True).data)

    @extend_schema(request=s.EnrollInput, responses={201: s.ReaderSerializer})
    def post(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.EnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = User.objects.filter(username=data.validated_data.pop("username")).first()
        if user is None:
            raise InvalidInput("no such user", field="username")
        reader = study_services.enroll_reader(actor=request.user, study=study, user=user, **data.validated_data)
        return Response(s.ReaderSerializer(reader).data, status=status.HTTP_201_CREATED)


class ScheduleView(APIView):
    @extend_schema(responses={200: s.ScheduleSerializer})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        sessions = (
            study.sessions.select_related("reader", "arm")
            .annotate(n_assignments=Count("assignments"))
            .order_by("reader__code", "number")
        )
        return Response(
            {
                "seed": study.schedule_seed,
                "generated_at": study.schedule_generated_at,
                "sessions": [
                    {
                        "reader": session.reader.code,
                        "number": session.number,
                        "arm": session.arm.name if session.arm else None,
                        "opens_at": session.opens_at,
                        "completed_at": session.completed_at,
                        "assignments": session.n_assignments,
                    }
                    for session in sessions
                ],
            }
        )

    @extend_schema(request=s.ScheduleInput, responses={202: s.JobSerializer})
    def post(self, request, study_id):
        """Generate (or regenerate) the schedule in the background; poll the returned job."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = s.ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        if study.status not in (Study.Status.DRAFT, Study.Status.ENROLLING):
            raise RuleViolation("the schedule can only be generated before reading starts")
        job = jobs.enqueue(
            kind="generate_schedule", actor=request.user, study=study, params={"seed": data.validated_data.get("seed")}
        )
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
        rows = selectors.progress(study)
        done = sum(r["read"] for r in rows)
        total = sum(r["assigned"] for r in rows)
        return Response({"status": study.status, "read": done, "assigned": total, "by_reader_arm": rows})


class StudyReadsView(PagedListView):
    @extend_schema(responses=s.StaffReadSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _page(self, request, selectors.study_reads(study), s.StaffReadSerializer)


class StudyReadsCsvView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _csv_response(request, study, selectors.reads_csv(study), f"study-{study.pk}-reads.csv")


class AuditView(PagedListView):
    @extend_schema(responses=s.AuditEventSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_READS)
        return _page(self, request, AuditEvent.objects.filter(study_id=study.pk), s.AuditEventSerializer)


class JobView(APIView):
    @extend_schema(responses=s.JobSerializer)
    def get(self, request, job_id):
        job = get_object_or_404(Job, pk=job_id)
        if job.created_by_id != request.user.pk and not (job.study and can(request.user, Action.VIEW_STUDY, job.study)):
            raise NotFound(f"no job {job_id}")
        return Response(s.JobSerializer(job).data)
