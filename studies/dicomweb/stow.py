"""STOW-RS (PS3.18 10.5) into one reader study: ``POST /dicomweb/studies-of/{study_id}/studies[/{study}]``.

The reader study is part of the path because nothing in an instance says which study it is for.
With ``/studies/{study}`` only instances of that DICOM study (its StudyInstanceUID as sent or as
stored) are taken, the others fail (PS3.18 10.5.1).

Who: authenticated as on every DICOMweb route (a session, whose POST also needs Django's CSRF
token, or ``Authorization: Token``; else 401). The reader study must be one the user can see
(else 404) and change (its coordinators, admins; else 403), in a status that still takes images
(else 409, as the ingest of an upload says).

Request: ``Content-Type: multipart/related; type="application/dicom"; boundary=...``, one Part 10
instance per part. Metadata with bulk data (``type="application/dicom+json"`` or ``+xml``,
PS3.18 8.6.1.1) is not accepted: 415. The body needs a Content-Length (411 without, e.g. a
chunked request that no proxy buffered) of at most ``INGEST_MAX_UPLOAD_BYTES`` (413, refused
before it is read); it is read part by part while the instances are ingested, a part over
``INGEST_MAX_FILE_BYTES`` is read past and fails.

Synchronous: STOW-RS answers with what was stored under which UIDs and what failed (a 202
there already means "some failed"), which a background job could only tell later. The work
is bounded by the body's size limit, and each part costs what one imported file costs.
Large archives go through the upload API's background job instead.

Every part takes the path of an imported file (:func:`studies.services.ingest.store_instances`):
de-identified, pixel-cleaned, parsed within the limits, stored before it is indexed, linked to
a case by StudyInstanceUID or accession number, and the request is audit-logged.

Response (PS3.18 10.5.3, Annex I), ``application/dicom+json`` (else 406): Referenced SOP
Sequence with the UIDs as stored (de-identified), a Retrieve URL and Warning Reason B000
(coercion: de-identification replaced UIDs and attributes; the Original Attributes Sequence
is deliberately not stored, it would keep what was removed); Failed SOP Sequence with the
UIDs as sent (empty when the part could not be parsed) and a Failure Reason
(:data:`FAILURE_REASONS`); the reasons in words in a ``Warning`` header. 200 when every part
was stored (or was stored already), 202 when some failed, 409 when none was stored.
"""

import json

from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydicom.dataset import Dataset

from mrmc.dicom.validate import MAX_UID_LENGTH, UID_PATTERN
from studies.errors import DomainError
from studies.permissions import Action, can, visible_studies
from studies.services import ingest
from studies.services.ingest import IngestReport, Problem
from studies.services.ingest.report import StoredInstance
from studies.services.ingest.stow import DICOM_MEDIA_TYPE

from . import http
from .target import Target

# Failure Reason (0008,1197) per reason class of the ingest: PS3.18 Table I.2-2, 0111 (Duplicate SOP
# Instance) from PS3.7 Annex C, and C409, this service's own "Cannot understand" code for an instance
# of another StudyInstanceUID than the target resource's.
OUT_OF_RESOURCES, DOES_NOT_MATCH_SOP_CLASS, CANNOT_UNDERSTAND = 0xA700, 0xA900, 0xC000
PROCESSING_FAILURE, DUPLICATE_SOP_INSTANCE, SOP_CLASS_NOT_SUPPORTED, OTHER_STUDY = 0x0110, 0x0111, 0x0122, 0xC409
FAILURE_REASONS = {
    "too-large": OUT_OF_RESOURCES, "too-deep": OUT_OF_RESOURCES,
    "missing-attribute": DOES_NOT_MATCH_SOP_CLASS, "pixel-length": DOES_NOT_MATCH_SOP_CLASS,
    "sop-class": SOP_CLASS_NOT_SUPPORTED,
    "not-dicom": CANNOT_UNDERSTAND, "truncated": CANNOT_UNDERSTAND, "malformed": CANNOT_UNDERSTAND,
    "invalid-vr": CANNOT_UNDERSTAND, "invalid-uid": CANNOT_UNDERSTAND, "charset": CANNOT_UNDERSTAND,
    "decode": CANNOT_UNDERSTAND, "unreadable": CANNOT_UNDERSTAND, "media-type": CANNOT_UNDERSTAND,
    "conflict": DUPLICATE_SOP_INSTANCE,
    "other-dicom-study": OTHER_STUDY,
    # the rest (identified, pixel-cleaning, other-study, archive-refused): PROCESSING_FAILURE
}
COERCION_OF_DATA_ELEMENTS = 0xB000  # Warning Reason (0008,1196), PS3.18 Table I.2-1
SERVICE = "mrmc-stow"
MAX_WARNINGS, MAX_WARNING_TEXT = 10, 200  # the Warning header stays within a proxy's header buffer


class _Refused(Exception):
    """The request is answered ``status`` with this message, before anything is read or stored."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@csrf_exempt  # a token needs no CSRF token; a session's POST is checked in _authorized_study
@require_POST
def store(request, study_id: int, study: str | None = None):
    by_session = request.user.is_authenticated
    user = http.authenticated_user(request)
    if user is None:
        return http.unauthorized()
    try:
        reading_study = _authorized_study(request, user, study_id, by_session)
        _check_request(request, study)
        report = ingest.store_instances(actor=user, study=reading_study, body=request.read,
                                        boundary=request.content_params.get("boundary", ""), study_instance_uid=study)
    except _Refused as exc:
        return http.error(exc.status, str(exc))
    except http.NotAcceptable as exc:
        return http.error(406, str(exc))
    except DomainError as exc:
        return http.error(exc.status_code, exc.message)
    return _store_response(report, http.service_root(request))


def _authorized_study(request, user, study_id: int, by_session: bool):
    """The reader study, if ``user`` may add images to it; the user is then the request's, for the audit."""
    if by_session and (reason := _csrf_refusal(request)):
        raise _Refused(403, f"CSRF check failed: {reason}")
    request.user = user  # the rows the ingest writes are audited as theirs (a token sets no session user)
    reading_study = visible_studies(user).filter(pk=study_id).first()
    if reading_study is None:
        raise _Refused(404, "no such study")
    if not can(user, Action.CHANGE_STUDY, reading_study):
        raise _Refused(403, f"{user.username} may not add images to this study")
    return reading_study


def _check_request(request, study: str | None) -> None:
    """What can be refused before the body is read: target, Accept, Content-Type and Content-Length."""
    if study is not None and (len(study) > MAX_UID_LENGTH or not UID_PATTERN.fullmatch(study)):
        raise _Refused(400, "the target resource's StudyInstanceUID is not a UID (PS3.5 9.1)")
    http.require_acceptable(http.accepted(request), http.DICOM_JSON)
    _check_media_type(request)
    ingest.check_upload_size(_content_length(request))


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason


def _csrf_refusal(request) -> str | None:
    """Django's CSRF check, as DRF's SessionAuthentication makes it: why it fails, or None."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def _check_media_type(request) -> None:
    if request.content_type != "multipart/related":
        raise _Refused(415, 'STOW-RS takes multipart/related; type="application/dicom" (PS3.18 10.5.1)')
    part_type = request.content_params.get("type", DICOM_MEDIA_TYPE).strip().lower()
    if part_type != DICOM_MEDIA_TYPE:
        raise _Refused(415, f"parts of type {part_type[:80]} are not accepted: send Part 10 instances as "
                            f"{DICOM_MEDIA_TYPE} (metadata with bulk data, PS3.18 8.6.1.1, is not supported)")


def _content_length(request) -> int:
    length = request.META.get("CONTENT_LENGTH") or ""
    if not (length.isascii() and length.isdigit()):
        raise _Refused(411, "a Content-Length is required (a chunked body is not read)")
    return int(length)




def _store_response(report: IngestReport, base_url: str) -> HttpResponse:
    """The Store Instances Response Module (PS3.18 Annex I) with its status code (PS3.18 10.5.3.1)."""
    failed = [*report.rejected, *report.conflicts]
    body = Dataset()
    studies = {instance.study_instance_uid for instance in report.instances}
    body.RetrieveURL = Target(studies.pop()).url(base_url) if len(studies) == 1 else None  # the study's, if one
    if failed:
        body.FailedSOPSequence = [_failed_item(problem, report) for problem in failed]
    if report.instances:
        body.ReferencedSOPSequence = [_stored_item(instance, base_url) for instance in report.instances]
    status = 200 if not failed else 202 if report.instances else 409
    response = HttpResponse(json.dumps(body.to_json_dict()), content_type=http.DICOM_JSON, status=status)
    if failed:
        response["Warning"] = _warnings(failed)
    return response


def _stored_item(instance: StoredInstance, base_url: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = instance.sop_class_uid
    item.ReferencedSOPInstanceUID = instance.sop_instance_uid
    item.RetrieveURL = Target(instance.study_instance_uid, instance.series_instance_uid,
                              instance.sop_instance_uid).url(base_url)
    item.WarningReason = COERCION_OF_DATA_ELEMENTS
    return item


def _failed_item(problem: Problem, report: IngestReport) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = report.received.get(problem.file, ("", ""))
    item.FailureReason = FAILURE_REASONS.get(problem.kind, PROCESSING_FAILURE)
    return item


def _warnings(failed: list[Problem]) -> str:
    """One entry per failed part as PS3.18 13.4.3.2 recommends ("A700 <service>: text"), the first few."""
    entries = [f"{FAILURE_REASONS.get(problem.kind, PROCESSING_FAILURE):04X} {SERVICE}: "
               f"{_header_text(f'{problem.file} [{problem.kind}] {problem.reason}')}" for problem in failed]
    if len(entries) > MAX_WARNINGS:
        entries[MAX_WARNINGS:] = [f"{PROCESSING_FAILURE:04X} {SERVICE}: {len(failed) - MAX_WARNINGS} more failed parts "
                                  "in the Failed SOP Sequence"]
    return ", ".join(entries)


def _header_text(text: str) -> str:
    """Printable ASCII without the commas that separate the entries, at most :data:`MAX_WARNING_TEXT` long."""
    printable = "".join(char if " " <= char <= "~" else "?" for char in text).replace(",", ";")
    return printable[:MAX_WARNING_TEXT]


urlpatterns = [
    path("studies-of/<int:study_id>/studies", store, name="dicomweb-stow"),
    # <str:>: the uid converter is registered by urls.py, which may import this module before doing so
    path("studies-of/<int:study_id>/studies/<str:study>", store, name="dicomweb-stow-study"),
]
