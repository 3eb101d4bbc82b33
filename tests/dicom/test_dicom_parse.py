"""Reading instances: index fields, and every kind of rejection with its reason."""

import copy
from pathlib import Path

import pydicom
import pytest
from dicom_helpers import sample_path, to_bytes

from mrmc.dicom.parse import InvalidDicom, read_instance


def test_index_fields_of_a_real_ct():
    parsed = read_instance(Path(sample_path("CT_small.dcm")))
    ds = parsed.dataset
    assert parsed.study_instance_uid == ds.StudyInstanceUID
    assert parsed.series_instance_uid == ds.SeriesInstanceUID
    assert parsed.sop_instance_uid == ds.SOPInstanceUID
    assert parsed.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert (parsed.modality, parsed.rows, parsed.columns, parsed.number_of_frames) == ("CT", 128, 128, 1)
    assert parsed.patient_id == ds.PatientID and parsed.study_date == ds.StudyDate
    assert parsed.series_number == ds.SeriesNumber and parsed.instance_number == ds.InstanceNumber


def test_multiframe_and_encapsulated_from_bytes():
    data = Path(sample_path("emri_small_jpeg_2k_lossless.dcm")).read_bytes()
    parsed = read_instance(data)
    assert parsed.number_of_frames == 10
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.4.90"


@pytest.mark.parametrize("data, reason, kind", [
    (b"", "not a DICOM", "not-dicom"),
    (b"%PDF-1.7 this is not an image" * 20, "not a DICOM", "not-dicom"),
    (b"\x00" * 128 + b"DICM", "truncated", "truncated"),
])
def test_not_dicom_is_rejected(data, reason, kind):
    with pytest.raises(InvalidDicom, match=reason) as error:
        read_instance(data)
    assert error.value.kind == kind


@pytest.mark.parametrize("name, reason", [
    ("CT_small.dcm", "PixelData .* 32768 expected"),  # 128 x 128 x 16 bits
    ("emri_small.dcm", "PixelData .* 81920 expected"),  # 10 frames of 64 x 64 x 16 bits
    ("emri_small_jpeg_2k_lossless.dcm", "truncated"),
    ("RG1_J2KR.dcm", "truncated"),
])
def test_truncated_files_are_rejected(name, reason):
    data = Path(sample_path(name)).read_bytes()
    with pytest.raises(InvalidDicom, match=reason) as error:
        read_instance(data[: len(data) * 2 // 3])
    assert error.value.kind == "truncated"


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_missing_uid_is_rejected(keyword):
    ds = pydicom.dcmread(sample_path("CT_small.dcm"))
    del ds[keyword]
    with pytest.raises(InvalidDicom, match=f"missing {keyword}"):
        read_instance(to_bytes(ds))


@pytest.mark.parametrize("change, reason", [
    (lambda ds: setattr(ds, "Rows", 256), "pixel data is 32768 bytes, 65536 expected"),
    (lambda ds: delattr(ds, "PhotometricInterpretation"), "without PhotometricInterpretation"),
    (lambda ds: setattr(ds, "BitsStored", 20), "BitsStored 20 exceeds"),
])
def test_broken_pixel_data_is_rejected(change, reason):
    ds = copy.deepcopy(pydicom.dcmread(sample_path("CT_small.dcm")))
    change(ds)
    with pytest.raises(InvalidDicom, match=reason):
        read_instance(to_bytes(ds))


def test_broken_fragments_are_rejected():
    ds = pydicom.dcmread(sample_path("emri_small_jpeg_2k_lossless.dcm"))
    ds.NumberOfFrames = 20
    with pytest.raises(InvalidDicom, match="encapsulated pixel data"):
        read_instance(to_bytes(ds))
