"""DICOM JSON model (PS3.18 F.2): bulk data URIs, includefield, round trip through pydicom."""

import pydicom
import pytest
from dicom_helpers import sample_path
from pydicom.dataset import Dataset

from mrmc.dicom.dicomjson import parse_attribute, to_dicom_json


def bulk_value(ds):
    """pydicom's from_json handler resolving our URIs back to the dataset's values."""
    def resolve(tag, vr, uri):
        element = ds
        for step in uri.removeprefix("bulk/").split("/"):
            element = element[int(step)] if step.isdigit() and len(step) < 8 else element[int(step, 16)].value
        return element
    return resolve


@pytest.mark.parametrize("name", ["CT_small.dcm", "emri_small.dcm", "RG1_UNCR.dcm"])
def test_round_trip(name):
    ds = pydicom.dcmread(sample_path(name))
    encoded = to_dicom_json(ds, bulk_data_uri=lambda path: f"bulk/{path}")
    assert encoded["7FE00010"] == {"vr": ds["PixelData"].VR, "BulkDataURI": "bulk/7FE00010"}
    assert encoded["00020010"]["Value"] == [ds.file_meta.TransferSyntaxUID]
    back = Dataset.from_json({k: v for k, v in encoded.items() if not k.startswith("0002")},
                             bulk_value(ds))
    assert back == ds


def test_nested_bulk_data_gets_a_path():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    item = Dataset()
    item.add_new(0x7FE00010, "OB", b"\x01" * 4096)
    ds.IconImageSequence = [item]
    encoded = to_dicom_json(ds, bulk_data_uri=lambda path: path)
    assert encoded["00880200"]["Value"][0]["7FE00010"]["BulkDataURI"] == "00880200/0/7FE00010"


def test_without_a_uri_builder_pixel_data_is_left_out():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    assert "7FE00010" not in to_dicom_json(ds)


def test_includefield_filter():
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    encoded = to_dicom_json(ds, include=["StudyInstanceUID", "00080060", "PatientName"])
    assert list(encoded) == ["00080060", "00100010", "0020000D"]
    assert encoded["00100010"]["Value"] == [{"Alphabetic": str(ds.PatientName)}]
    with pytest.raises(ValueError):
        parse_attribute("NotAKeyword")
