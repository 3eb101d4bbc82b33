"""DICOM ingest, one concern per module.

- :mod:`.sources`: where files come from (files, folders, zip archives), read within limits
- :mod:`.pipeline`: one file at a time through parse, de-identify, pixel cleaning, sanitize
- :mod:`.store`: an instance's bytes kept and its index rows written, duplicates and conflicts
- :mod:`.image_stores`: where the bytes are kept by image mode: local content store or own DICOMweb archive
- :mod:`.linking`: stored DICOM studies to cases (UID, accession number, mapping file)
- :mod:`.keys`: the per-study de-identification key
- :mod:`.report`: what an ingest did, file by file
- :mod:`.pull`: whole studies from a DICOMweb server
- :mod:`.upload`: API uploads, staged (:mod:`studies.services.staging`) and ingested by a job
- :mod:`.stow`: STOW-RS requests, ingested part by part while the body is read

The functions other code calls are importable from here.
"""

from .image_stores import ImageArchiveUnavailable, image_store
from .keys import deid_key_for
from .linking import link_cases, parse_link_mapping
from .pipeline import ingest, ingest_files, ingest_paths, require_images_may_be_added
from .pull import pull_from_dicomweb
from .report import IngestReport, Problem
from .sources import DicomSource, Rejected, dicom_sources
from .store import content_store
from .stow import store_instances
from .upload import UploadTooLarge, check_upload_size, enqueue_staged, run_ingest_job, start_upload

__all__ = [
    "DicomSource",
    "ImageArchiveUnavailable",
    "IngestReport",
    "Problem",
    "Rejected",
    "UploadTooLarge",
    "check_upload_size",
    "content_store",
    "deid_key_for",
    "dicom_sources",
    "enqueue_staged",
    "image_store",
    "ingest",
    "ingest_files",
    "ingest_paths",
    "link_cases",
    "parse_link_mapping",
    "pull_from_dicomweb",
    "require_images_may_be_added",
    "run_ingest_job",
    "start_upload",
    "store_instances",
]
