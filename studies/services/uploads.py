"""Chunked, resumable uploads of DICOM files and zip archives, one file per upload (issue #17).

The protocol (routes in :mod:`studies.api.uploads`), close to tus 1.0 core without its headers' names:

1. ``create_upload`` (file name, size, the browser's fingerprint of the file) gives an upload and its
   offset: 0 for a new one, the bytes already received when the same user sends the same file to the
   same study again (same fingerprint, name and size), so that a reload or another tab resumes it.
2. ``receive_chunk`` appends the bytes of one request at an offset. Only the offset the server holds
   (``received``) is accepted; another is refused with that offset (:class:`OffsetMismatch`), except
   the last chunk sent again after its answer was lost, which is acknowledged without writing.
3. ``complete_upload``, once every byte is in, moves the file into a staging folder and queues the
   ``ingest_dicom`` job over it, as an API upload does: each file of a zip is stored, found already
   stored, or rejected with its reason in the job's report.
4. ``cancel_upload`` drops an unfinished upload and its bytes.

The bytes wait in ``DICOM_STORAGE/uploads/<id>.part``, on the volume of the staging folders, so that
completing is a rename. A chunk is written and fsynced before ``received`` moves past it: a process
killed mid-chunk loses at most that chunk, and the next chunk first cuts the file back to ``received``.
One chunk of an upload is written at a time (an exclusive ``flock`` on its file, released by the kernel
when a process dies); a second one meanwhile is refused (423) and sent again by the client.

Nothing is accepted that would leave the volume with less than ``UPLOAD_MIN_FREE_BYTES`` free besides
the bytes that unfinished uploads still need; uploads without a chunk for ``UPLOAD_ABANDONED_AFTER_H``
hours are dropped by :func:`sweep_uploads` (Celery beat), which also removes files no upload owns.
"""

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from studies.errors import DomainError, InvalidInput, NotFound, RuleViolation
from studies.models import Job, Study, Upload, User
from studies.services import audit
from studies.services.ingest import UploadTooLarge, enqueue_staged, require_images_may_be_added
from studies.services.staging import remove_staging, upload_staging_dir

UNFINISHED = (Upload.Status.RECEIVING, Upload.Status.COMPLETE)  # bytes on the volume, no job yet
READ_BYTES = 1 << 20  # a chunk is read from the request in pieces of this size
ORPHAN_GRACE_S = 3600  # a part file no upload owns is left this long (its upload may be being created)


class OffsetMismatch(RuleViolation):
    """A chunk that does not start where the received bytes end; ``expected`` says where that is."""

    def __init__(self, expected: int, sent: int):
        super().__init__(f"the chunk starts at byte {sent}, but {expected} bytes have been received: "
                         f"send from byte {expected}", field="offset")
        self.expected = expected


class InsufficientStorage(DomainError):
    status_code = 507


class ChunkInProgress(RuleViolation):
    """Another request is writing a chunk of this upload (a client that gave up waiting for its answer): 423,
    which a client retries, unlike the other refusals of a chunk."""

    status_code = 423


def parts_root() -> Path:
    """Unfinished uploads' bytes, on the staging folders' volume: completing one is a rename."""
    return Path(settings.DICOM_STORAGE) / "uploads"


def part_path(upload: Upload) -> Path:
    return parts_root() / f"{upload.pk}.part"


# ------------------------------------------------------------------------------------------- create


def create_upload(*, actor: User, study: Study, file_name: str, size: int,
                  fingerprint: str = "") -> tuple[Upload, bool]:
    """A new upload of ``file_name`` (``size`` bytes), or the unfinished one of the same file by the same user
    (``fingerprint``, name and size alike); True when new."""
    require_images_may_be_added(actor=actor, study=study)
    _check_file(file_name, size)
    parts_root().mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()  # one creation per study at a time
        unfinished = Upload.objects.filter(study=study, created_by=actor, status__in=UNFINISHED)
        if fingerprint:
            same = unfinished.filter(fingerprint=fingerprint, file_name=file_name, size=size).first()
            if same is not None:
                return same, False
        if unfinished.count() >= settings.UPLOAD_MAX_ACTIVE:
            raise RuleViolation(f"{actor.username} has {settings.UPLOAD_MAX_ACTIVE} unfinished uploads in this "
                                "study, the most allowed: let them finish or cancel one first")
        _check_space_for_upload(size)
        upload = Upload.objects.create(study=study, created_by=actor, file_name=file_name, size=size,
                                       fingerprint=fingerprint)
        part_path(upload).touch(exist_ok=False)
        _fsync_folder(parts_root())  # the new file's name survives a crash with the row that names it
        audit.record(action="upload_started", entity="studies.Upload", entity_id=upload.pk, study_id=study.pk,
                     actor=actor, after={"file_name": file_name, "size": size})
    return upload, True


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _check_file(file_name: str, size: int) -> None:
    if not file_name.strip() or any(ord(char) < 32 or ord(char) == 127 for char in file_name):
        raise InvalidInput("a file name must not be empty or hold control characters", field="file_name")
    if size < 1:
        raise InvalidInput("the file is empty", field="size")
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLarge(f"the file is {_gib(size)} GiB, more than the limit of {_gib(settings.UPLOAD_MAX_BYTES)} "
                             "GiB per upload", field="size")


def _check_space_for_upload(size: int) -> None:
    """Refuse an upload the volume could not hold beside the rest of every unfinished upload."""
    promised = Upload.objects.filter(status=Upload.Status.RECEIVING).aggregate(
        bytes=Sum(F("size") - F("received")))["bytes"] or 0
    free = _free_bytes()
    if free - promised - size < settings.UPLOAD_MIN_FREE_BYTES:
        raise InsufficientStorage(
            f"the upload volume would be nearly full: {_gib(free)} GiB free, {_gib(promised)} GiB still to come for "
            f"unfinished uploads, {_gib(size)} GiB for this file, and {_gib(settings.UPLOAD_MIN_FREE_BYTES)} GiB "
            "must stay free")


def _check_space_for_chunk(length: int) -> None:
    free = _free_bytes()
    if free - length < settings.UPLOAD_MIN_FREE_BYTES:
        raise InsufficientStorage(f"the upload volume is nearly full ({_gib(free)} GiB free, "
                                  f"{_gib(settings.UPLOAD_MIN_FREE_BYTES)} GiB must stay free): try again later")


def _free_bytes() -> int:
    return shutil.disk_usage(parts_root()).free


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}"


# ------------------------------------------------------------------------------------------- chunks


def upload_of(*, actor: User, study: Study, upload_id: UUID) -> Upload:
    """The study's upload, for someone who may add images to it; an import that has ended is recorded."""
    require_images_may_be_added(actor=actor, study=study)
    upload = Upload.objects.select_related("job").filter(pk=upload_id, study=study).first()
    if upload is None:
        raise NotFound("no such upload in this study")
    return follow_job(upload)


def receive_chunk(*, actor: User, study: Study, upload_id: UUID, offset: int, length: int, stream: BinaryIO) -> Upload:
    """Append ``length`` bytes read from ``stream`` at ``offset``; the upload with its new offset.

    Refused: a chunk over ``UPLOAD_CHUNK_MAX_BYTES`` or past the file's size, another offset than the
    received bytes' end (:class:`OffsetMismatch`), a body shorter than ``length`` (nothing kept of it).
    """
    upload = upload_of(actor=actor, study=study, upload_id=upload_id)
    if length > settings.UPLOAD_CHUNK_MAX_BYTES:
        raise UploadTooLarge(f"a chunk is at most {settings.UPLOAD_CHUNK_MAX_BYTES} bytes, not {length}")
    if offset < 0 or offset + length > upload.size:
        raise InvalidInput(f"bytes {offset} to {offset + length} are outside the file's {upload.size} bytes",
                           field="offset")
    with _locked_part(upload) as part:
        upload.refresh_from_db()
        _check_unfinished(upload)
        if part is None:
            raise RuleViolation("the bytes received for this upload are gone: upload the file again")
        end = offset + length
        if offset == upload.received and upload.status == Upload.Status.RECEIVING:
            _check_space_for_chunk(length)
            _append(part, offset, stream, length)
            return _advance(upload, end)
        if 0 < length and end == upload.received and _holds(part, offset, stream, length):
            return upload  # the last chunk again, after its answer was lost: nothing is written twice
        raise OffsetMismatch(upload.received, offset)


@contextlib.contextmanager
def _locked_part(upload: Upload, *, wait: bool = False) -> Iterator[BinaryIO | None]:
    """The upload's file, open and locked against every other writer (any process on this host); None when
    there is no file (moved to be imported, or deleted)."""
    try:
        handle = part_path(upload).open("r+b")
    except FileNotFoundError:
        yield None
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ChunkInProgress("another chunk of this upload is being received: ask for the offset and send "
                                  "from there") from None
        yield handle


def _check_unfinished(upload: Upload) -> None:
    if upload.status not in UNFINISHED:
        raise RuleViolation(f"the upload is {upload.get_status_display().lower()}: it takes no more bytes")


def _append(part: BinaryIO, offset: int, stream: BinaryIO, length: int) -> None:
    """Write the chunk after the received bytes and fsync it; on any failure the file ends at ``offset``."""
    part.truncate(offset)  # whatever lies past it is a chunk cut short (a crash, a dropped connection)
    part.seek(offset)
    try:
        left = length
        while left:
            piece = stream.read(min(READ_BYTES, left))
            if not piece:
                raise InvalidInput(f"the chunk ended after {length - left} of its {length} bytes", field="body")
            part.write(piece)
            left -= len(piece)
        part.flush()
        os.fsync(part.fileno())
    except BaseException:
        part.truncate(offset)
        raise


def _holds(part: BinaryIO, offset: int, stream: BinaryIO, length: int) -> bool:
    """Whether the file holds exactly the chunk's bytes at ``offset`` (the whole body is read either way)."""
    part.seek(offset)
    same, left = True, length
    while left:
        piece = stream.read(min(READ_BYTES, left))
        if not piece:
            raise InvalidInput(f"the chunk ended after {length - left} of its {length} bytes", field="body")
        same = same and part.read(len(piece)) == piece
        left -= len(piece)
    return same


def _advance(upload: Upload, end: int) -> Upload:
    """Record the bytes as received, only after they are on disk; the last byte makes the upload complete."""
    status = Upload.Status.COMPLETE if end == upload.size else Upload.Status.RECEIVING
    with transaction.atomic():
        Upload.objects.filter(pk=upload.pk).update(received=end, status=status, updated_at=timezone.now())
        if status == Upload.Status.COMPLETE:
            audit.record(action="upload_received", entity="studies.Upload", entity_id=upload.pk,
                         study_id=upload.study_id, after={"size": upload.size})
    upload.refresh_from_db()
    return upload


# --------------------------------------------------------------------------------------- completion


def complete_upload(*, actor: User, study: Study, upload_id: UUID) -> Upload:
    """Queue the import of a fully received upload; asked again, the upload with the job it has."""
    upload = upload_of(actor=actor, study=study, upload_id=upload_id)
    with _locked_part(upload, wait=True) as part:
        upload.refresh_from_db()
        if upload.job_id is not None:
            return follow_job(upload)
        _check_unfinished(upload)
        if upload.status != Upload.Status.COMPLETE:
            raise RuleViolation(f"{upload.received} of the file's {upload.size} bytes have been received: send the "
                                "rest first", field="offset")
        if part is None:
            raise RuleViolation("the bytes received for this upload are gone: upload the file again")
        return _import(actor, study, upload)


def _import(actor: User, study: Study, upload: Upload) -> Upload:
    staging = upload_staging_dir()
    staged = staging / ("upload.zip" if upload.file_name.lower().endswith(".zip") else "upload")
    os.replace(part_path(upload), staged)
    try:
        with transaction.atomic():
            job = enqueue_staged(actor=actor, study=study, staging=staging, files=[(upload.file_name, str(staged))])
            Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.IMPORTING, job=job,
                                                       updated_at=timezone.now())
            audit.record(action="upload_imported", entity="studies.Upload", entity_id=upload.pk, study_id=study.pk,
                         actor=actor, after={"job": job.pk})
    except BaseException:
        if staged.exists():  # the job was not queued: the bytes go back where a new attempt finds them
            os.replace(staged, part_path(upload))
        remove_staging(str(staging))
        raise
    upload.refresh_from_db()  # the job has already run where tasks run in-process
    return follow_job(upload)


def follow_job(upload: Upload) -> Upload:
    """An importing upload whose job has ended takes its outcome (imported, or failed with the job's reason)."""
    if upload.status != Upload.Status.IMPORTING or upload.job is None:
        return upload
    outcome = {Job.Status.SUCCEEDED: Upload.Status.IMPORTED, Job.Status.FAILED: Upload.Status.FAILED}
    status = outcome.get(upload.job.status)
    if status is not None:
        error = upload.job.message if status == Upload.Status.FAILED else ""
        Upload.objects.filter(pk=upload.pk, status=Upload.Status.IMPORTING).update(status=status, error=error)
        upload.status, upload.error = status, error
    return upload


# ------------------------------------------------------------------------------- cancel and sweep


def cancel_upload(*, actor: User, study: Study, upload_id: UUID) -> Upload:
    """Drop an unfinished upload and its bytes; cancelling again changes nothing."""
    upload = upload_of(actor=actor, study=study, upload_id=upload_id)
    if upload.status == Upload.Status.CANCELLED:
        return upload
    with _locked_part(upload, wait=True):  # waits for a chunk being written
        if not _drop(upload, actor=actor, action="upload_cancelled", error=""):
            upload.refresh_from_db()
            if upload.status != Upload.Status.CANCELLED:
                _check_unfinished(upload)
    return upload


def _drop(upload: Upload, *, actor: User | None, action: str, error: str) -> bool:
    """Cancel an unfinished upload (its file locked by the caller) and delete its bytes; False if it had moved on."""
    with transaction.atomic():
        dropped = Upload.objects.filter(pk=upload.pk, status__in=UNFINISHED).update(
            status=Upload.Status.CANCELLED, error=error, updated_at=timezone.now())
        if dropped:
            audit.record(action=action, entity="studies.Upload", entity_id=upload.pk, study_id=upload.study_id,
                         actor=actor, after={"status": Upload.Status.CANCELLED, "error": error})
    if dropped:
        part_path(upload).unlink(missing_ok=True)
        upload.status, upload.error = Upload.Status.CANCELLED, error
    return bool(dropped)


def sweep_uploads(*, now: datetime | None = None) -> dict:
    """Drop uploads without a chunk for ``UPLOAD_ABANDONED_AFTER_H`` hours, record the outcome of imports that
    have ended, and delete part files no unfinished upload owns. Returns what it did, by upload id."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.UPLOAD_ABANDONED_AFTER_H)
    reason = f"abandoned: no bytes arrived for {settings.UPLOAD_ABANDONED_AFTER_H:g} hours"
    abandoned = [str(upload.pk) for upload in Upload.objects.filter(status__in=UNFINISHED, updated_at__lt=cutoff)
                 if _abandon(upload, reason)]
    importing = Upload.objects.select_related("job").filter(
        status=Upload.Status.IMPORTING, job__status__in=(Job.Status.SUCCEEDED, Job.Status.FAILED))
    followed = [str(follow_job(upload).pk) for upload in importing]
    return {"abandoned": abandoned, "imports_ended": followed, "orphans_removed": _remove_orphans()}


def _abandon(upload: Upload, reason: str) -> bool:
    try:
        with _locked_part(upload):
            return _drop(upload, actor=None, action="upload_abandoned", error=reason)
    except ChunkInProgress:  # a chunk is arriving after all
        return False


def _remove_orphans() -> list[str]:
    root = parts_root()
    if not root.is_dir():
        return []
    owned = {f"{pk}.part" for pk in Upload.objects.filter(status__in=UNFINISHED).values_list("pk", flat=True)}
    cutoff = time.time() - ORPHAN_GRACE_S
    removed = []
    for path in root.iterdir():
        if path.name not in owned and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def recent_uploads(*, study: Study, limit: int = 50) -> list[Upload]:
    """The study's latest uploads, newest first, with their jobs and the outcome of those that have ended."""
    latest = Upload.objects.filter(study=study).select_related("job", "created_by").order_by("-created_at")[:limit]
    return [follow_job(upload) for upload in latest]
