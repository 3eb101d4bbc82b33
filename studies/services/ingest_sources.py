"""Where ingested files come from: files, folders and zip archives on disk, uploads staged for a job.

Each source is (name shown in reports, function returning the bytes). The name is the
file's own name (a folder's name and the path inside it, ``archive.zip:member``), never
the server's path, and ``read`` stops at the configured limits while reading, so an
oversized file or archive member costs at most its limit in memory.
"""

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from mrmc.dicom.archive import ArchiveLimits, ArchiveRefused, looks_like_zip, read_at_most, zip_members
from mrmc.dicom.limits import DicomLimits
from studies.errors import DomainError
from studies.models import Job

# (name shown in reports, function returning the file's bytes)
DicomSource = tuple[str, Callable[[], bytes]]
HEAD_BYTES = 132  # preamble and DICM prefix (PS3.10 7.1), enough to tell DICOM from zip


class Rejected(Exception):
    """One file is left out: ``kind`` classes the reason, the message says it next to the file's name."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class UploadTooLarge(DomainError):
    status_code = 413


def dicom_limits() -> DicomLimits:
    """The configured limits of one instance (``INGEST_*`` settings)."""
    return DicomLimits(
        max_file_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_inflated_bytes=settings.INGEST_MAX_INFLATED_BYTES,
        max_sequence_depth=settings.INGEST_MAX_SEQUENCE_DEPTH,
        max_element_bytes=settings.INGEST_MAX_ELEMENT_BYTES,
        max_elements=settings.INGEST_MAX_ELEMENTS,
        max_pixel_values=settings.INGEST_MAX_PIXEL_VALUES,
    )


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.INGEST_MAX_ARCHIVE_MEMBERS,
        max_member_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_total_bytes=settings.INGEST_MAX_ARCHIVE_BYTES,
    )


def named_paths(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """Paths given by an operator, each shown by its last part."""
    return [(Path(path).name or str(path), Path(path)) for path in paths]


def file_sources(files: Iterable[tuple[str, Path]]) -> Iterator[DicomSource]:
    """Every file of ``files`` ((name, path) of files, folders searched recursively, zip archives),
    read one at a time so that an archive of any size never sits whole in memory."""
    limit = settings.INGEST_MAX_FILE_BYTES
    for name, path in files:
        if path.is_dir():
            yield from file_sources((f"{name}/{p.relative_to(path)}", p) for p in sorted(path.rglob("*"))
                                     if p.is_file())
        elif _is_archive(path):
            yield from _archive_sources(name, path)
        else:
            yield name, _file_reader(path, limit)


def count_sources(files: Iterable[tuple[str, Path]]) -> int:
    """How many sources :func:`file_sources` will give (archives' directories are read, no member)."""
    return sum(1 for _ in file_sources(files))


def _is_archive(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return False  # its reader reports it
    return looks_like_zip(head) or (path.suffix.lower() == ".zip" and head[128:132] != b"DICM")


def _archive_sources(name: str, path: Path) -> Iterator[DicomSource]:
    """Its members, or the archive itself refused (so that every upload appears in the report)."""
    members = 0
    try:
        for member in zip_members(path, archive_limits()):
            members += 1
            yield f"{name}:{member.name}", member.read
    except ArchiveRefused as exc:
        yield name, refusal(exc)
    else:
        if not members:
            yield name, refusal(ArchiveRefused("empty-archive", "the archive holds no files"))


def refusal(exc: Exception) -> Callable[[], bytes]:
    """A source that is reported with ``exc``'s reason instead of being read."""

    def read() -> bytes:
        raise exc

    return read


def _file_reader(path: Path, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with path.open("rb") as handle:
                data = None if os.fstat(handle.fileno()).st_size > limit else read_at_most(handle, limit)
        except FileNotFoundError:
            raise Rejected("unreadable", "no such file") from None
        except OSError as exc:
            raise Rejected("unreadable", f"cannot be read ({type(exc).__name__})") from None
        if data is None:
            raise Rejected("too-large", f"larger than {limit >> 20} MiB")
        return data

    return read


# ------------------------------------------------------------------ staging


def staging_root() -> Path:
    """Uploads wait here for their job, next to the store so a worker on the same disk sees them."""
    return Path(settings.DICOM_STORAGE) / "incoming"


def upload_staging_dir() -> Path:
    path = staging_root() / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def check_upload_size(length: int) -> None:
    """Refuse an upload request over ``INGEST_MAX_UPLOAD_BYTES`` before its body is read."""
    limit = settings.INGEST_MAX_UPLOAD_BYTES
    if length > limit:
        raise UploadTooLarge(f"the upload is {length >> 20} MiB, more than the limit of {limit >> 20} MiB")


def stage_uploads(uploads: list) -> tuple[Path, list[tuple[str, str]]]:
    """Write uploaded files into a fresh staging folder; returns it and (upload name, staged path) pairs."""
    staging = upload_staging_dir()
    files = []
    try:
        for number, upload in enumerate(uploads, start=1):
            name = Path(upload.name or "upload").name
            path = staging / f"{number:05d}-{name}"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            files.append((name, str(path)))
    except BaseException:
        remove_staging(str(staging))
        raise
    return staging, files


def remove_staging(path: str) -> None:
    """Delete a staging folder, only ever one under :func:`staging_root`."""
    folder = Path(path)
    if folder.parent == staging_root():
        shutil.rmtree(folder, ignore_errors=True)


def remove_orphaned_staging(*, older_than_s: float) -> list[str]:
    """Delete staging folders no queued or running job names, once older than ``older_than_s``
    (younger ones may belong to an upload whose job is being created); returns their names."""
    root = staging_root()
    if not root.is_dir():
        return []
    active = Job.objects.filter(status__in=(Job.Status.QUEUED, Job.Status.RUNNING), kind="ingest_dicom")
    in_use = {Path(params.get("staging", "")).name for params in active.values_list("params", flat=True)}
    cutoff = time.time() - older_than_s
    removed = []
    for folder in root.iterdir():
        if folder.name not in in_use and folder.is_dir() and folder.stat().st_mtime < cutoff:
            remove_staging(str(folder))
            removed.append(folder.name)
    return removed
