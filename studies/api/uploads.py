"""Chunked, resumable uploads of DICOM files and zip archives (the protocol: studies.services.uploads).

``POST studies/{id}/uploads/`` {file_name, size, fingerprint} creates one (201) or finds the same file's
unfinished upload (200); ``GET .../uploads/{upload}/`` gives its offset and state; ``PATCH`` with the
chunk's bytes as ``application/offset+octet-stream`` and its offset in ``Upload-Offset`` appends them (a
wrong offset: 409 with the expected one in the body and the header); ``POST .../complete/`` queues the
import (202); ``DELETE`` cancels. Every answer carries the offset in ``Upload-Offset``.
"""

import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.errors import InvalidInput
from studies.models import Upload
from studies.models.bounds import BIGINT_MAX
from studies.permissions import Action
from studies.services import uploads

from . import serializers as s
from .auth import ERROR
from .staff import study_for

CHUNK_MEDIA_TYPE = "application/offset+octet-stream"


class UploadInput(s.StrictInput):
    file_name = serializers.CharField(max_length=255, trim_whitespace=False,
                                      help_text="as shown in reports; a folder's files with their path in it")
    size = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    fingerprint = serializers.CharField(max_length=255, required=False, default="",
                                        help_text="the client's key for the file (e.g. path, size, modified time)")


class UploadSerializer(serializers.ModelSerializer):
    offset = serializers.IntegerField(source="received", help_text="bytes received: the next chunk starts here")
    job = s.JobSerializer(read_only=True, allow_null=True, help_text="the import, once completed: its report")

    class Meta:
        model = Upload
        fields = ["id", "file_name", "size", "offset", "status", "error", "job", "created_at", "updated_at"]


class ChunkRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(required=False)
    offset = serializers.IntegerField(required=False, help_text="where the next chunk must start")


def _answer(upload: Upload, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(UploadSerializer(upload).data, status=status_code,
                    headers={"Upload-Offset": str(upload.received), "Cache-Control": "no-store"})


class UploadListView(APIView):
    @extend_schema(request=UploadInput,
                   responses={201: UploadSerializer, 200: UploadSerializer, 413: ERROR, 507: ERROR})
    def post(self, request, study_id):
        """Start uploading a file, or find the unfinished upload of the same file (200) to resume it."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload, created = uploads.create_upload(actor=request.user, study=study, **data.validated_data)
        return _answer(upload, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class UploadDetailView(APIView):
    @extend_schema(responses=UploadSerializer)
    def get(self, request, study_id, upload_id):
        """The upload's offset and state; once imported, its job's report (stored, duplicates, rejected files)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        return _answer(uploads.upload_of(actor=request.user, study=study, upload_id=upload_id))

    @extend_schema(
        request={CHUNK_MEDIA_TYPE: OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True,
                                     description="where the chunk starts in the file")],
        responses={200: UploadSerializer, 409: ChunkRefusedSerializer, 413: ERROR, 507: ERROR},
    )
    def patch(self, request, study_id, upload_id):
        """Append one chunk (at most ``UPLOAD_CHUNK_MAX_BYTES``) at the offset the server holds. The last chunk sent
        again after a lost answer is acknowledged without being written twice."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        if request.content_type.split(";")[0].strip().lower() != CHUNK_MEDIA_TYPE:
            s.NoBody(data=request.data).is_valid(raise_exception=True)  # a form or JSON key is named
            raise UnsupportedMediaType(request.content_type, f"send a chunk's bytes as {CHUNK_MEDIA_TYPE}")
        offset = _header_int(request, "Upload-Offset")
        length = _header_int(request, "Content-Length")
        try:
            upload = uploads.receive_chunk(actor=request.user, study=study, upload_id=upload_id, offset=offset,
                                           length=length, stream=request.stream or io.BytesIO())
        except uploads.OffsetMismatch as exc:
            return Response({"detail": str(exc), "field": "offset", "offset": exc.expected},
                            status=status.HTTP_409_CONFLICT, headers={"Upload-Offset": str(exc.expected)})
        return _answer(upload)

    @extend_schema(responses={204: None})
    def delete(self, request, study_id, upload_id):
        """Cancel an unfinished upload and delete what was received."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        uploads.cancel_upload(actor=request.user, study=study, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadCompleteView(APIView):
    @extend_schema(request=None, responses={202: UploadSerializer})
    def post(self, request, study_id, upload_id):
        """Import the received file (a DICOM file or a zip) as an ``ingest_dicom`` job; asked again, the same job."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        upload = uploads.complete_upload(actor=request.user, study=study, upload_id=upload_id)
        return _answer(upload, status.HTTP_202_ACCEPTED)


def _header_int(request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isascii() or not value.isdigit():
        raise InvalidInput(f"the {name} header must be a whole number of bytes", field=name)
    return int(value)
