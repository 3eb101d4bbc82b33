"""Zips of DICOM images for the upload tests and benchmark, written on the spot (nothing big is committed).

Each image is the small synthetic DX of :func:`tests.dicomweb.images.case_datasets` made as large as
asked, with random 16-bit pixels (so that the archive does not compress it away) and UIDs of its own.
"""

import io
import zipfile
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from tests.dicomweb.images import case_datasets


def dicom_image(index: int, shape: tuple[int, int], rng: np.random.Generator, *, study: str = "",
                accession: str = "") -> bytes:
    """Image ``index``; 64 to a DICOM study unless ``study`` names one (with its ``accession`` number)."""
    ds = case_datasets(seed=1)[0]
    study = study or str(index // 64)
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["upload-test-study", study])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["upload-test-series", study])
    ds.AccessionNumber = accession
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
        entropy_srcs=["upload-test-image", str(index)])
    ds.InstanceNumber = index + 1
    ds.Rows, ds.Columns = shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, size=shape, dtype=np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def truncated_image() -> bytes:
    """A DICOM file cut off in its pixel data: ingest refuses it as ``truncated``."""
    whole = dicom_image(0, (64, 64), np.random.default_rng(0))
    return whole[: len(whole) // 2]


def write_dicom_zip(path: Path, *, n_images: int, shape: tuple[int, int], bad: dict[str, bytes] | None = None,
                    seed: int = 0) -> Path:
    """``n_images`` images as ``images/NNNNN.dcm``, stored uncompressed, and the ``bad`` members besides."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(n_images):
            archive.writestr(f"images/{index:05d}.dcm", dicom_image(index, shape, rng))
        for name, data in (bad or {}).items():
            archive.writestr(name, data)
    return path


def write_case_zip(path: Path, accessions: dict[str, str], *, bad: dict[str, bytes], shape=(128, 128)) -> Path:
    """One image per case, ``<case>.dcm`` in a DICOM study of its own with the case's accession number
    (``accessions``: case label → number), and the ``bad`` members besides."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, (label, accession) in enumerate(accessions.items()):
            archive.writestr(f"{label}.dcm", dicom_image(index, shape, rng, study=label, accession=accession))
        for name, data in bad.items():
            archive.writestr(name, data)
    return path
