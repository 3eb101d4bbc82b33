"""Coordinators upload DICOM files or zip archives; ingest runs as a background job."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.permissions import Action
from studies.services import ingest
from studies.services.ingest import check_upload_size

from . import serializers as s
from .auth import ERROR
from .staff import study_for


class DicomUploadInput(s.StrictInput):
    files = serializers.ListField(child=serializers.FileField(), help_text="DICOM files and/or zip archives")
    mapping = serializers.FileField(required=False, help_text="CSV: case,study_instance_uid|accession_number")


class DicomUploadView(APIView):
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        # Before authentication: a session's CSRF check would already read the whole body.
        check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0))
        super().initial(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": DicomUploadInput}, responses={202: s.JobSerializer, 413: ERROR})
    def post(self, request, study_id):
        """Store the files de-identified and link them to cases; poll the returned job for its report
        (stored, duplicates, conflicts, rejected files with a reason class). A request larger than
        ``INGEST_MAX_UPLOAD_BYTES`` is refused with 413 before it is read."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        # Only the keys: each file is checked by the ingest job, a bad one rejected with its reason.
        DicomUploadInput().refuse_unknown_keys(request.data)
        mapping = request.FILES.get("mapping")
        job = ingest.start_upload(
            actor=request.user, study=study, uploads=request.FILES.getlist("files"),
            mapping=mapping.read() if mapping else None,
        )
        job.refresh_from_db()  # already finished when tasks run in-process
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
