"""Uploaded files waiting for the job that reads them.

An upload is written into a fresh folder under :func:`staging_root` and its job names that
folder in ``params["staging"]``. The folder goes when the job has read it, when the job is
found lost (:mod:`studies.services.jobs`), or, if no queued or running job names it, when
the supervisor sweeps. Both the ingest service and the job supervisor use this module, so
neither has to import the other.
"""

import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings

from mrmc.dicom.storage import ContentStore
from studies.models import Job


def staging_root() -> Path:
    """Uploads wait here for their job, next to the store so a worker on the same disk sees them."""
    return Path(settings.DICOM_STORAGE) / "incoming"


def upload_staging_dir() -> Path:
    path = staging_root() / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


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
    active = Job.objects.filter(status__in=(Job.Status.QUEUED, Job.Status.RUNNING), params__has_key="staging")
    in_use = {Path(params["staging"]).name for params in active.values_list("params", flat=True)}
    cutoff = time.time() - older_than_s
    removed = []
    for folder in root.iterdir():
        if folder.name not in in_use and folder.is_dir() and folder.stat().st_mtime < cutoff:
            remove_staging(str(folder))
            removed.append(folder.name)
    return removed


def remove_abandoned_writes() -> list[str]:
    """The half-written files of an ingest killed mid-write, gone from the image store
    (:meth:`mrmc.dicom.storage.ContentStore.remove_abandoned_writes`)."""
    return ContentStore(settings.DICOM_STORAGE).remove_abandoned_writes()
