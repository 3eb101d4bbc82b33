"""Coarse patient and acquisition attributes read before de-identification: only what the profile keeps, coarser."""

import pytest
from pydicom.dataset import Dataset

from mrmc.dicom.characteristics import (
    CASE_RECORD_OPTIONS,
    age_band,
    age_band_labels,
    coarse_attributes,
    profile_keeps,
)
from mrmc.dicom.deid import deidentify
from mrmc.dicom.deid_profile import DeidOptions


def instance(**attributes) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_sex_age_band_and_equipment_are_read_as_coarse_values():
    ds = instance(PatientSex="F", PatientAge="047Y", PatientBirthDate="19770301", StudyDate="20240612",
                  Manufacturer="  GE   Healthcare ", ManufacturerModelName="Senographe Pristina",
                  SoftwareVersions=["ADS_57.10", "2.0"], Modality="MG", BodyPartExamined="BREAST",
                  DeviceSerialNumber="SN-1234", StationName="MAMMO-3", InstitutionName="General Hospital")
    assert coarse_attributes(ds) == {
        "sex": "F", "age_band": "40-49", "manufacturer": "GE Healthcare", "model": "Senographe Pristina",
        "software_versions": "ADS_57.10\\2.0", "modality": "MG", "body_part": "BREAST"}


def test_without_the_patient_characteristics_option_sex_and_age_are_not_taken():
    ds = instance(PatientSex="M", PatientAge="062Y", Manufacturer="Siemens")
    assert coarse_attributes(ds, options=DeidOptions()) == {"manufacturer": "Siemens"}
    assert not profile_keeps("PatientSex", DeidOptions()) and profile_keeps("PatientSex", CASE_RECORD_OPTIONS)
    assert not profile_keeps("DeviceSerialNumber", CASE_RECORD_OPTIONS)  # E.3.4 Retain Device Identity only
    assert profile_keeps("ManufacturerModelName", DeidOptions())  # not in Table E.1-1: the Basic Profile keeps it


@pytest.mark.parametrize(("age", "band"), [
    ("017Y", "0-17"), ("018Y", "18-39"), ("039Y", "18-39"), ("040Y", "40-49"), ("079Y", "70-79"), ("080Y", "80+"),
    ("105Y", "80+"), ("006M", "0-17"), ("030W", "0-17"), ("200D", "0-17"), ("216M", "18-39"),  # 216 months = 18 y
])
def test_patient_age_in_each_unit_falls_in_its_band(age, band):
    assert coarse_attributes(instance(PatientAge=age))["age_band"] == band


def test_age_comes_from_the_dates_when_patient_age_is_missing_or_malformed():
    # a day before the 50th birthday: 49 whole years
    assert coarse_attributes(instance(PatientBirthDate="19740613", StudyDate="20240612"))["age_band"] == "40-49"
    assert coarse_attributes(instance(PatientBirthDate="19740612", StudyDate="20240612"))["age_band"] == "50-59"
    assert coarse_attributes(instance(PatientAge="45", PatientBirthDate="19500101",
                                      StudyDate="20240101"))["age_band"] == "70-79"


@pytest.mark.parametrize("attributes", [
    {"PatientSex": "U"}, {"PatientSex": ""}, {"PatientSex": "female"},
    {"PatientAge": "045X"}, {"PatientAge": ""}, {"PatientAge": "999Y"},
    {"PatientBirthDate": "20250101", "StudyDate": "20240101"},  # born after the study
    {"PatientBirthDate": "19601301", "StudyDate": "20240101"},  # month 13
    {"PatientBirthDate": "19600101"},  # no study date
    {"Manufacturer": "   "}, {"ManufacturerModelName": ""},
])
def test_missing_and_odd_values_are_left_out(attributes):
    assert coarse_attributes(instance(**attributes)) == {}


def test_long_text_is_cut_and_no_date_or_exact_age_is_kept():
    found = coarse_attributes(instance(Manufacturer="X" * 80, PatientAge="047Y", StudyDate="20240612"))
    assert found == {"manufacturer": "X" * 64, "age_band": "40-49"}


def test_bands_are_configurable_and_checked():
    assert age_band_labels([0, 50, 75]) == ["0-49", "50-74", "75+"]
    assert coarse_attributes(instance(PatientAge="074Y"), age_bands=[0, 50, 75]) == {"age_band": "50-74"}
    assert age_band(49.99, [0, 50]) == "0-49"
    for bad in ([], [18, 40], [0, 40, 40], [0, 40.5], [0, 200], [0, True]):
        with pytest.raises(ValueError, match="whole years starting at 0"):
            age_band_labels(bad)


def test_the_stored_instance_stays_deidentified():
    ds = instance(PatientName="DOE^JANE", PatientID="123", PatientSex="F", PatientAge="047Y", Manufacturer="GE")
    found = coarse_attributes(ds)
    deidentify(ds, key=b"k")
    assert found["sex"] == "F" and "PatientAge" not in ds and ds.PatientSex == ""
    assert ds.Manufacturer == "GE"
