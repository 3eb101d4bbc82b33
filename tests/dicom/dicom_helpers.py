"""Helpers shared by the pure-DICOM tests (imported by name; kept out of conftest)."""

import io
import subprocess

import pydicom
import pytest
from pydicom.data import get_testdata_file

SMALL = {"shape": (512, 512), "spacing_mm": 0.8}


def sample_path(name: str) -> str:
    """Path of a pydicom / pydicom-data test file (offline, no download)."""
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not available; install pydicom-data")
    return path


def to_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reread(ds):
    """The dataset as another process would read it from its file."""
    return pydicom.dcmread(io.BytesIO(to_bytes(ds)))


def dciodvfy_errors(executable: str, path) -> list[str]:
    """Error lines of dciodvfy for one file."""
    result = subprocess.run([executable, str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
