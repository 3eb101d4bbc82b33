"""Viewer-safety repairs, each reported."""

import copy

import pydicom
from dicom_helpers import sample_path

from mrmc.dicom.sanitize import sanitize


def test_zero_pixel_spacing_of_rg1_is_removed_and_reported():
    ds = pydicom.dcmread(sample_path("RG1_UNCR.dcm"))
    fixes = sanitize(ds)
    assert "PixelSpacing" not in ds
    assert len(fixes) == 1 and "PixelSpacing" in fixes[0] and "0.000\\0.000" in fixes[0]
    assert sanitize(ds) == []  # idempotent


def test_clean_file_is_untouched():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    before = copy.deepcopy(ds)
    assert sanitize(ds) == []
    assert ds == before


def test_bad_window_slope_high_bit_and_nested_spacing():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = 40, 0
    ds.RescaleSlope = 0
    ds.HighBit = 3
    ds.ImagerPixelSpacing = [-0.1, 0.1]
    measures = pydicom.Dataset()
    measures.PixelSpacing = [0, 0]
    frame = pydicom.Dataset()
    frame.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [frame]
    fixes = sanitize(ds)
    assert len(fixes) == 5
    assert "WindowWidth" not in ds and "WindowCenter" not in ds
    assert ds.RescaleSlope == 1 and ds.HighBit == ds.BitsStored - 1
    assert "ImagerPixelSpacing" not in ds and "PixelSpacing" not in measures
    assert any("SharedFunctionalGroupsSequence[0]" in fix for fix in fixes)
