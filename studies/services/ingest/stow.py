"""Instances sent by STOW-RS (PS3.18 10.5): each part of the request body is one file of the ingest.

The body is read part by part while the ingest runs (:mod:`mrmc.dicom.multipart`), so memory
holds one part of at most ``INGEST_MAX_FILE_BYTES`` and the instance made of it, whatever the
number of parts. Every part takes the path of an imported file (:func:`.pipeline.ingest`):
parsed within the limits, de-identified, pixel-cleaned, stored before it is indexed, and its
DICOM study linked to a case by the same rules; a part that fails is reported with its reason
class and the others go in.
"""

from collections.abc import Callable, Iterable, Iterator

from django.conf import settings

from mrmc.dicom.multipart import BAD_HEADERS, MAX_HEADER_BYTES, TOO_LARGE, TRUNCATED, MalformedBody, Part, read_parts
from studies.errors import InvalidInput
from studies.models import Study, User
from studies.services import audit

from .pipeline import ingest
from .report import IngestReport
from .sources import DicomSource, Rejected, refusal

DICOM_MEDIA_TYPE = "application/dicom"


def store_instances(*, actor: User, study: Study, body: Callable[[int], bytes], boundary: str,
                    study_instance_uid: str | None = None) -> IngestReport:
    """Ingest the application/dicom parts of a multipart/related body into ``study``, de-identified.

    Parameters
    ----------
    body
        Reads the request body: ``body(size)`` gives at most ``size`` bytes, ``b""`` at its end.
    boundary
        The ``boundary`` parameter of the request's Content-Type.
    study_instance_uid
        The DICOM study of the target resource (``/studies/{uid}``): instances of another are rejected.

    The request is recorded in the audit trail as ``dicomweb_store`` with the ingest's report.
    A body without any part, or with a boundary RFC 2046 does not allow, is :class:`InvalidInput`.
    """
    try:
        parts = read_parts(body, boundary, max_part_bytes=settings.INGEST_MAX_FILE_BYTES)
        report = ingest(actor=actor, study=study, sources=_sources(parts), study_instance_uid=study_instance_uid)
    except MalformedBody as exc:
        raise InvalidInput(str(exc)) from None
    if not report.files:
        raise InvalidInput("the request holds no instance")
    audit.record(action="dicomweb_store", entity="studies.Study", entity_id=study.pk, study_id=study.pk, actor=actor,
                 after=report.as_dict())
    return report


def _sources(parts: Iterable[Part]) -> Iterator[DicomSource]:
    """Each part as a file named by its place in the body; the pipeline takes its content (the part keeps none)."""
    for number, part in enumerate(parts, start=1):
        problem = _problem(part)
        yield f"part {number}", refusal(problem) if problem else part.take


def _problem(part: Part) -> Rejected | None:
    if part.problem == TOO_LARGE:
        return Rejected("too-large", f"{part.size} bytes, more than the limit of {settings.INGEST_MAX_FILE_BYTES} "
                                     "bytes (INGEST_MAX_FILE_BYTES)")
    if part.problem == TRUNCATED:
        return Rejected("truncated", "the request body ended inside this part")
    if part.problem == BAD_HEADERS:
        return Rejected("malformed", f"its header fields are malformed or longer than {MAX_HEADER_BYTES} bytes")
    media_type = part.headers.get("content-type", DICOM_MEDIA_TYPE).partition(";")[0].strip().lower()
    if media_type != DICOM_MEDIA_TYPE:
        return Rejected("media-type", f"its Content-Type is not {DICOM_MEDIA_TYPE}")
    return None
