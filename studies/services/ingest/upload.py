"""Uploads through the API: checked and staged in the request, ingested by an ``ingest_dicom`` job."""

from pathlib import Path

from django.conf import settings

from studies.errors import DomainError, InvalidInput
from studies.models import Job, Study, User
from studies.permissions import Action, require
from studies.services import audit, jobs
from studies.services.staging import remove_staging, stage_uploads

from .linking import link_cases, parse_link_mapping
from .pipeline import ingest_files


class UploadTooLarge(DomainError):
    status_code = 413


def check_upload_size(length: int) -> None:
    """Refuse an upload request over ``INGEST_MAX_UPLOAD_BYTES`` before its body is read."""
    limit = settings.INGEST_MAX_UPLOAD_BYTES
    if length > limit:
        raise UploadTooLarge(f"the upload is {length >> 20} MiB, more than the limit of {limit >> 20} MiB")


def start_upload(*, actor: User, study: Study, uploads: list, mapping: bytes | None = None) -> Job:
    """Stage uploaded files (DICOM or zip) next to the store and queue an ``ingest_dicom`` job."""
    require(actor, Action.CHANGE_STUDY, study)
    if not uploads:
        raise InvalidInput("attach DICOM files or zip archives as 'files'", field="files")
    check_upload_size(sum(upload.size or 0 for upload in uploads))
    if mapping is not None:
        parse_link_mapping(mapping)  # a broken mapping fails now, not in the background
    staging, files = stage_uploads(uploads)
    return enqueue_staged(actor=actor, study=study, staging=staging, files=files,
                          mapping=mapping.decode("utf-8-sig") if mapping else "")


def enqueue_staged(*, actor: User, study: Study, staging: Path, files: list[tuple[str, str]], mapping: str = "") -> Job:
    """Queue an ``ingest_dicom`` job over ``files`` ((upload name, path) pairs) staged in ``staging``, a folder
    of :func:`studies.services.staging.upload_staging_dir`; the folder goes if the job cannot be created."""
    params = {"files": files, "staging": str(staging), "mapping": mapping}
    try:
        return jobs.enqueue(kind=jobs.Kind.INGEST_DICOM, actor=actor, study=study, params=params)
    except BaseException:
        remove_staging(str(staging))
        raise


def run_ingest_job(job: Job) -> dict:
    """Job ``ingest_dicom``: params ``files`` ([upload name, staged path] pairs), ``staging`` (their
    folder, removed afterwards whatever happens), optional ``deidentify`` and ``mapping`` (CSV text)."""
    params = job.params
    try:
        with audit.context(user=job.created_by):
            report = ingest_files(
                actor=job.created_by, study=job.study, files=[(name, Path(path)) for name, path in params["files"]],
                deidentify_files=params.get("deidentify", True),
                progress=lambda fraction, message: jobs.report_progress(job, fraction, message),
            )
            if params.get("mapping"):
                report.linked |= link_cases(study=job.study, mapping=parse_link_mapping(params["mapping"].encode()))
    finally:
        remove_staging(params["staging"])
    return report.as_dict()
