"""Endpoints for readers: worklist, what to read next, submitting and revising reads.

Nothing here returns truth, other readers' data, case labels, or AI output outside an
arm that shows it: the output serializers (``reading_serializers``) list what a reader may see.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies import selectors
from studies.models import Read
from studies.permissions import Action, require
from studies.services import reads

from . import reading_serializers as s


class WorklistView(APIView):
    @extend_schema(responses={200: s.WorklistSerializer})
    def get(self, request):
        require(request.user, Action.READ_CASES)
        return Response(s.WorklistSerializer({"sessions": selectors.worklist(request.user)}).data)


class SessionView(APIView):
    @extend_schema(responses={200: s.SessionDetailSerializer})
    def get(self, request, session_id):
        require(request.user, Action.READ_CASES)
        return Response(s.SessionDetailSerializer(selectors.reader_session(request.user, session_id)).data)


class AssignmentView(APIView):
    """What the reading page needs for one case; the AI output only where the arm shows it."""

    @extend_schema(responses={200: s.AssignmentDetailSerializer})
    def get(self, request, assignment_id):
        require(request.user, Action.READ_CASES)
        return Response(s.AssignmentDetailSerializer(selectors.reader_assignment(request.user, assignment_id)).data)


def _read_input(data: dict) -> reads.ReadInput:
    return reads.ReadInput(
        rating=data["rating"],
        decision=data["decision"],
        marks=data["marks"],
        comment=data["comment"],
        opened_at=data["opened_at"],
        first_image_at=data["first_image_at"],
        client_submitted_at=data["submitted_at"],
        interactions=data.get("interactions"),  # first reads only: a change does not take one
    )


class ReadListView(APIView):
    @extend_schema(responses=s.OwnReadSerializer(many=True))
    def get(self, request):
        require(request.user, Action.READ_CASES)
        return Response(s.OwnReadSerializer(Read.objects.filter(reader__user=request.user), many=True).data)

    @extend_schema(request=s.ReadInputSerializer, responses={201: s.OwnReadSerializer, 200: s.OwnReadSerializer})
    def post(self, request):
        """Submit a read. Retrying with the same idempotency key returns the stored read (200)."""
        data = s.ReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        read, created = reads.submit_read(
            user=request.user,
            assignment_id=values["assignment"],
            idempotency_key=values["idempotency_key"],
            values=_read_input(values),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.OwnReadSerializer(read).data, status=code)


class ReadDetailView(APIView):
    @extend_schema(request=s.ReviseInputSerializer, responses=s.OwnReadSerializer)
    def patch(self, request, read_id):
        """Revise a submitted read, where the study allows audited revisions."""
        data = s.ReviseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        read = reads.revise_read(
            user=request.user,
            read_id=read_id,
            idempotency_key=values["idempotency_key"],
            values=_read_input(values),
            reason=values["reason"],
        )
        return Response(s.OwnReadSerializer(read).data)
