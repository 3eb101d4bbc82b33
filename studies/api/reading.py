"""Endpoints for readers: worklist, what to read next, submitting and revising reads.

Nothing here returns truth, other readers' data, case labels, or AI output outside an
arm that shows it.
"""

from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies import selectors
from studies.errors import NotFound
from studies.models import Assignment, Read, ReadingSession, Study
from studies.permissions import Action, require
from studies.services import reads
from studies.services.schedule import session_state

from . import serializers as s


def _scale(study: Study) -> dict:
    return {
        "type": study.rating_scale,
        "min": study.rating_bounds[0],
        "max": study.rating_bounds[1],
        "labels": study.ordinal_labels,
        "binary_decision": study.binary_decision,
        "marks_enabled": study.marks_enabled,
        "max_marks": study.max_marks,
        "revisions_allowed": study.revision_policy == Study.RevisionPolicy.AUDITED,
    }


class WorklistView(APIView):
    @extend_schema(responses={200: s.WorklistSerializer})
    def get(self, request):
        require(request.user, Action.READ_CASES)
        return Response({"sessions": [_worklist_item(item) for item in selectors.worklist(request.user)]})


def _worklist_item(item: selectors.WorklistSession) -> dict:
    session = item.session
    return {
        "id": session.pk,
        "study": {"id": session.study_id, "title": session.study.title, "design": session.study.design},
        "number": session.number,
        "arm": session.arm.label if session.arm else None,
        "opens_at": session.opens_at,
        "completed_at": session.completed_at,
        "is_open": item.is_open,
        "reason_closed": item.reason_closed,
        "assigned": item.n_assigned,
        "read": item.n_read,
        "next_assignment": item.next_assignment_id,
    }


class SessionView(APIView):
    @extend_schema(responses={200: s.SessionDetailSerializer})
    def get(self, request, session_id):
        require(request.user, Action.READ_CASES)
        session = (
            ReadingSession.objects.select_related("study", "reader", "arm")
            .filter(pk=session_id, reader__user=request.user)
            .first()
        )
        if session is None:
            raise NotFound(f"no session {session_id} in your worklist")
        is_open, why = session_state(session)
        assignments = session.assignments.select_related("arm", "case").annotate(
            is_read=Exists(Read.objects.filter(assignment=OuterRef("pk")))
        )
        return Response(
            {
                "id": session.pk,
                "number": session.number,
                "study": {"id": session.study_id, "title": session.study.title, "design": session.study.design},
                "is_open": is_open,
                "reason_closed": why,
                "scale": _scale(session.study),
                # The UIDs let the viewer prefetch the next case's images while the reader scores.
                "assignments": [
                    {
                        "id": a.pk,
                        "order": a.order,
                        "arm": a.arm.label,
                        "read": a.is_read,
                        "study_instance_uid": a.case.study_instance_uid if is_open else None,
                    }
                    for a in assignments
                ],
            }
        )


class AssignmentView(APIView):
    """What the reading page needs for one case; the AI output only where the arm shows it."""

    @extend_schema(responses={200: s.AssignmentDetailSerializer})
    def get(self, request, assignment_id):
        require(request.user, Action.READ_CASES)
        assignment = (
            Assignment.objects.select_related("session__study", "session__reader", "case", "arm", "read")
            .filter(pk=assignment_id, reader__user=request.user)
            .first()
        )
        if assignment is None:
            raise NotFound(f"no assignment {assignment_id} in your worklist")
        study = assignment.session.study
        is_open, why = session_state(assignment.session)
        existing = assignment.read if hasattr(assignment, "read") else None  # joined above: no query
        body = {
            "id": assignment.pk,
            "session": assignment.session_id,
            "order": assignment.order,
            "arm": {"name": assignment.arm.name, "label": assignment.arm.label, "shows_ai": assignment.arm.shows_ai},
            "study_instance_uid": assignment.case.study_instance_uid if is_open else None,
            "is_open": is_open,
            "reason_closed": why,
            "scale": _scale(study),
            "read": s.OwnReadSerializer(existing).data if existing else None,
            # Whether the reader may still change the read, and if not, why (shown in the viewer).
            "final_because": reads.revision_refusal(assignment) if existing else None,
            "ai": None,
        }
        if is_open and assignment.arm.shows_ai and _ai_may_show(assignment):
            body["ai"] = s.ReaderAIOutputSerializer(assignment.case.ai_outputs.all(), many=True).data
        return Response(body)


def _ai_may_show(assignment: Assignment) -> bool:
    """Sequential design: the AI appears only once the unaided score for the case is in."""
    if assignment.session.study.design != Study.Design.SEQUENTIAL:
        return True
    return not Assignment.objects.filter(
        session=assignment.session, case=assignment.case, order__lt=assignment.order, read__isnull=True
    ).exists()


def _read_input(data: dict) -> reads.ReadInput:
    return reads.ReadInput(
        rating=data["rating"],
        decision=data["decision"],
        marks=data["marks"],
        comment=data["comment"],
        opened_at=data["opened_at"],
        first_image_at=data["first_image_at"],
        client_submitted_at=data["submitted_at"],
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
