"""Fixtures for the pure-DICOM tests: small phantoms, the dciodvfy validator."""

import shutil

import pytest
from dicom_helpers import SMALL, reread

from mrmc.dicom.synth import make_case


@pytest.fixture(scope="session")
def mammo_case():
    """A diseased 4-view MG study at 512x512, as read back from its files."""
    datasets, truth = make_case("CASE007", True, 7, modality="MG", **SMALL)
    return [reread(ds) for ds in datasets], truth


@pytest.fixture(scope="session")
def dciodvfy():
    path = shutil.which("dciodvfy")
    if path is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    return path
