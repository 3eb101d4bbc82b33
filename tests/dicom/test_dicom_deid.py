"""De-identification against PS3.15 Table E.1-1, read here independently of mrmc.dicom.deid."""

import copy
import csv
import datetime as dt

import pydicom
import pytest
from dicom_helpers import dciodvfy_errors, reread, sample_path
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from mrmc.dicom.deid import DeidOptions, check_identified, date_offset_days, deidentify, remap_uid
from mrmc.dicom.deid_profile import PROFILE_CSV

KEY = b"test-study-secret"
PLANTED_BY_VR = {
    "PN": "Doe^Jane", "DA": "19710203", "TM": "101112", "DT": "19710203101112", "AS": "052Y",
    "CS": "PHI", "AE": "PHIAE", "SH": "PHI-SH", "LO": "PHI long", "LT": "PHI text",
    "ST": "PHI text", "UT": "PHI text", "UC": "PHI", "UR": "http://phi.example",
    "IS": "7", "DS": "1.5", "US": 7, "SS": 7, "UL": 7, "SL": 7, "FL": 7.0, "FD": 7.0,
    "SV": 7, "UV": 7, "OB": b"PHI!", "OW": b"PHI!", "UN": b"PHI!", "OF": b"PHI!",
    "OD": b"PHI!PHI!", "OL": b"PHI!", "OV": b"PHI!PHI!", "AT": 0x00100010,
}


def profile_rows():
    """Rows of the table with a single, dictionary-known data set tag (not groups 0000-0004)."""
    with PROFILE_CSV.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["keyword"] and Tag(row["tag"].strip("()").replace(",", "")).group > 0x0004:
                yield row


ROWS = list(profile_rows())


def planted_item() -> Dataset:
    """A sequence item with identity, a UID and a private attribute inside."""
    item = Dataset()
    item.PatientName = "Nested^Name"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.9999.1"
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.add_new(0x00091001, "LO", "private PHI")
    return item


def plant(ds: Dataset) -> Dataset:
    """Every attribute of the table at the top level, plus nesting, private and overlay data."""
    for number, row in enumerate(ROWS):
        tag = Tag(row["tag"].strip("()").replace(",", ""))
        vr = dictionary_VR(tag).split(" or ")[0]
        if vr == "SQ":
            value = [planted_item()]
        elif vr == "UI":
            value = f"1.2.826.0.1.9999.{number}"
        else:
            value = PLANTED_BY_VR[vr]
        ds.add_new(tag, vr, value)
    ds.AnatomicRegionSequence = [planted_item()]  # a sequence the table does not list
    ds.add_new(0x00291010, "OB", b"private bytes")
    ds.add_new(0x60003000, "OW", b"\x00" * 8)
    ds.add_new(0x60004000, "LT", "overlay comment PHI")
    ds.add_new(0x50000005, "US", 2)
    return ds


@pytest.fixture(scope="module")
def planted():
    """CT_small with PHI planted everywhere, written to a file and read back."""
    original = plant(pydicom.dcmread(sample_path("CT_small.dcm")))
    return reread(original)


@pytest.fixture(scope="module")
def deidentified(planted):
    ds = copy.deepcopy(planted)
    record = deidentify(ds, key=KEY)
    return ds, record


def all_elements(ds):
    yield from ds.iterall()


@pytest.mark.parametrize("row", [r for r in ROWS if r["action"] == "X"], ids=lambda r: r["keyword"])
def test_action_x_removes_the_attribute_everywhere(deidentified, row):
    ds, _ = deidentified
    tag = Tag(row["tag"].strip("()").replace(",", ""))
    assert all(elem.tag != tag for elem in all_elements(ds))


@pytest.mark.parametrize("row", [r for r in ROWS if r["action"] != "X"], ids=lambda r: r["keyword"])
def test_other_actions_follow_the_table(planted, deidentified, row):
    ds, _ = deidentified
    tag = Tag(row["tag"].strip("()").replace(",", ""))
    before, after = planted[tag], ds.get(tag)
    action = row["action"]
    if action in ("Z", "Z/D", "D", "U"):
        assert after is not None, f"{action} keeps the attribute"
    if after is None:
        assert action.startswith("X")
        return
    if after.VR == "SQ":
        for item in after.value:  # kept sequences are cleaned
            assert check_identified(item) == [] and not any(e.tag.is_private for e in item)
        return
    if action == "U" or after.VR == "UI":
        assert after.value == remap_uid(before.value, KEY)
    elif action == "D":
        assert after.value not in ("", None) and after.value != before.value
    else:  # Z, or the Z/D branches of compound actions
        assert after.value in ("", None, b"") or after.value != before.value


def test_private_curve_and_overlay_groups_are_removed(deidentified):
    ds, record = deidentified
    assert not any(elem.tag.is_private for elem in all_elements(ds))
    assert not any(0x5000 <= elem.tag.group <= 0x60FF for elem in ds)
    assert record.counts["private_removed"] >= 3  # CT_small's own plus the planted ones


def test_nested_identity_is_cleaned_in_unlisted_sequences(deidentified):
    ds, _ = deidentified
    item = ds.AnatomicRegionSequence[0]
    assert item.PatientName == ""  # Z applies inside sequences too
    assert not any(elem.tag.is_private for elem in item)
    assert item.ReferencedSOPInstanceUID == remap_uid("1.2.826.0.1.9999.1", KEY)
    assert item.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_method_attributes_and_identity_check(deidentified, planted):
    ds, record = deidentified
    assert ds.PatientIdentityRemoved == "YES"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100"]
    assert record.method == ("Basic Application Confidentiality Profile",)
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert check_identified(planted) == [  # the planted Encapsulated Document is a real payload
        "EncapsulatedDocument", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate", "PatientID",
        "PatientName"]
    assert check_identified(ds) == []


def test_pixel_data_and_geometry_are_kept(planted, deidentified):
    ds, _ = deidentified
    for keyword in ("PixelData", "Rows", "Columns", "PixelSpacing", "ImagePositionPatient",
                    "ImageOrientationPatient", "SliceThickness", "RescaleSlope", "SOPClassUID"):
        assert ds[keyword].value == planted[keyword].value, keyword


def test_uids_are_consistent_across_a_study_and_stable(mammo_case):
    datasets, truth = mammo_case
    first = [copy.deepcopy(ds) for ds in datasets]
    second = [copy.deepcopy(ds) for ds in reversed(datasets)]
    for ds in first + second:
        deidentify(ds, key=KEY)
    assert {ds.StudyInstanceUID for ds in first + second} == {remap_uid(truth.study_instance_uid, KEY)}
    assert len({ds.SeriesInstanceUID for ds in first}) == 1
    assert len({ds.SOPInstanceUID for ds in first}) == 4
    assert [ds.SOPInstanceUID for ds in first] == [ds.SOPInstanceUID for ds in reversed(second)]
    other = copy.deepcopy(datasets[0])
    deidentify(other, key=b"another secret")
    assert other.StudyInstanceUID != first[0].StudyInstanceUID
    assert all(a.PixelData == b.PixelData for a, b in zip(first, datasets, strict=True))


def test_options(mammo_case):
    original = mammo_case[0][0]
    options = DeidOptions(retain_modified_dates=True, retain_patient_characteristics=True,
                          retain_device_identity=True)
    ds = copy.deepcopy(original)
    record = deidentify(ds, key=KEY, options=options)
    offset = date_offset_days(original.PatientID, KEY)
    assert -3650 <= offset < 0
    shifted = dt.date.fromisoformat(original.StudyDate) + dt.timedelta(days=offset)
    assert ds.StudyDate == shifted.strftime("%Y%m%d")
    assert ds.PatientSex == original.PatientSex and ds.PatientAge == original.PatientAge
    assert ds.DeviceSerialNumber == original.DeviceSerialNumber
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == [
        "113100", "113109", "113108", "113107"]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert record.options == ("retain_device_identity", "retain_patient_characteristics",
                              "retain_modified_dates")
    assert check_identified(ds) == []


def test_retain_uids_and_full_dates(mammo_case):
    original = mammo_case[0][0]
    ds = copy.deepcopy(original)
    deidentify(ds, key=KEY, options=DeidOptions(retain_uids=True, retain_full_dates=True))
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert ds.StudyDate == original.StudyDate
    assert ds.PatientName == "" and ds.PatientID == ""


def test_exclusive_date_options():
    with pytest.raises(ValueError):
        DeidOptions(retain_full_dates=True, retain_modified_dates=True)


def test_deidentified_phantom_still_validates(mammo_case, dciodvfy, tmp_path):
    ds = copy.deepcopy(mammo_case[0][0])
    deidentify(ds, key=KEY)
    path = tmp_path / "deid.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(dciodvfy, path) == []
