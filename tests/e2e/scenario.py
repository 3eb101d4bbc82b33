"""Test data beyond the demo's chest radiographs: a scrollable stack and a four-view mammogram.

They replace the images of a demo case through the real ingest (de-identification included)
and are linked to the case as a coordinator would, with a mapping of the original UID.
"""

import copy
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from mrmc.dicom.synth.cases import make_case
from studies.models import Case
from studies.services import ingest


def stack_datasets(label: str, n_slices: int = 5, shape=(1024, 1024)) -> list:
    """``n_slices`` images in one MR-like series, each visibly different (for stack scrolling)."""
    datasets, _ = make_case(label, True, 7, shape=shape)
    template = datasets[0]
    series_uid = generate_uid()
    out = []
    for i in range(n_slices):
        ds = copy.deepcopy(template)
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.SeriesDescription = "Stack"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, float(i * 5)]
        ds.PixelSpacing = [0.4, 0.4]
        ds.SliceThickness = 5
        ds.PixelData = np.roll(template.pixel_array, shift=i * 60, axis=1).tobytes()
        out.append(ds)
    return out


def mammo_datasets(label: str, shape=(1024, 820)) -> list:
    datasets, _ = make_case(label, True, 11, modality="MG", shape=shape)
    return datasets


def replace_case_images(case: Case, datasets: list, folder: Path) -> str:
    """Ingest ``datasets`` as the case's images instead of its own; returns the served UID."""
    original_uid = generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        ds.StudyInstanceUID = original_uid
        ds.save_as(folder / f"{ds.SeriesNumber}_{ds.InstanceNumber}.dcm", enforce_file_format=True)
    study = case.study
    if hasattr(case, "dicom_study"):
        case.dicom_study.delete()
    report = ingest.ingest_paths(actor=study.created_by, study=study, paths=[str(folder)])
    assert report.stored == len(datasets), report.as_dict()
    linked = ingest.link_cases(study=study, mapping={case.label: ("study_instance_uid", original_uid)})
    return linked[case.label]
