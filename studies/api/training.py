"""Endpoints for a reader's training: the study's training cases, one case to read, a score and its feedback.

The truth of a training case is answered only with the reader's own score of it (``feedback``); the shapes
are in ``training_serializers``.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.services import training
from studies.services.reads import ReadInput

from . import training_serializers as s


class TrainingView(APIView):
    """The reader's training in a study: every training case in every training arm, and the evaluation."""

    @extend_schema(responses={200: s.TrainingSerializer})
    def get(self, request, study_id):
        return Response(s.TrainingSerializer(training.reader_training(request.user, study_id)).data)


class TrainingCaseView(APIView):
    """What the workstation needs to read one training case in one arm; the feedback once it is read."""

    @extend_schema(operation_id="v1_studies_training_case_retrieve", responses={200: s.TrainingCaseSerializer})
    def get(self, request, study_id, case_id, arm):
        return Response(s.TrainingCaseSerializer(training.training_case(request.user, study_id, case_id, arm)).data)


class TrainingReadListView(APIView):
    @extend_schema(request=s.TrainingReadInputSerializer,
                   responses={201: s.TrainingSubmissionSerializer, 200: s.TrainingSubmissionSerializer})
    def post(self, request, study_id):
        """Submit a training score; the answer carries the feedback. Retrying with the same idempotency key
        returns the stored read (200)."""
        data = s.TrainingReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        submission = training.submit_training_read(
            user=request.user, study_id=study_id, case_id=values["case"], arm_name=values["arm"],
            idempotency_key=values["idempotency_key"],
            values=ReadInput(rating=values["rating"], decision=values["decision"], marks=values["marks"],
                             comment=values["comment"], opened_at=values["opened_at"],
                             client_submitted_at=values["submitted_at"], interactions=values["interactions"]),
        )
        code = status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK
        return Response(s.TrainingSubmissionSerializer(submission).data, status=code)
