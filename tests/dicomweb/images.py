"""Small synthetic DICOM files for tests (imported by name)."""

from pathlib import Path

from mrmc.dicom.synth import make_case

SMALL = {"shape": (64, 64), "spacing_mm": 3.0}


def case_datasets(*, study_instance_uid: str | None = None, seed: int = 1, diseased: bool = False):
    """One synthetic DX study (a single PA image, patient DEMO^...), optionally with a given StudyInstanceUID."""
    datasets, _ = make_case(f"CASE{seed:03d}", diseased, seed, **SMALL)
    for ds in datasets:
        if study_instance_uid:
            ds.StudyInstanceUID = study_instance_uid
    return datasets


def write_case_images(folder: Path, **kwargs) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, ds in enumerate(case_datasets(**kwargs), start=1):
        path = folder / f"{index:02d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
