"""The rule for showing an instance our ingest did not de-identify (upstream mode)."""

import pytest

from mrmc.dicom.deid import deidentify
from mrmc.dicom.dicomjson import to_dicom_json
from mrmc.dicom.release import release_refusal, release_values_of_dataset, release_values_of_json
from mrmc.dicom.synth import make_case

DX = "1.2.840.10008.5.1.4.1.1.1.1"
US = "1.2.840.10008.5.1.4.1.1.6.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"


@pytest.mark.parametrize(("values", "headers", "pixels"), [
    # marked de-identified, a radiograph without burned-in text: shown
    ({"PatientIdentityRemoved": "YES", "Modality": "DX", "SOPClassUID": DX}, None, None),
    ({"PatientIdentityRemoved": "YES", "Modality": "DX", "SOPClassUID": DX, "BurnedInAnnotation": "NO"}, None, None),
    # not marked: nothing of it
    ({"Modality": "DX", "SOPClassUID": DX}, "not-deidentified", "not-deidentified"),
    ({"PatientIdentityRemoved": "NO", "Modality": "DX"}, "not-deidentified", "not-deidentified"),
    # documents and reports carry free text: refused as on ingest
    ({"PatientIdentityRemoved": "YES", "Modality": "SR", "SOPClassUID": BASIC_TEXT_SR}, "sop-class", "sop-class"),
    # text in the pixels: the header may be shown, the pixels not
    ({"PatientIdentityRemoved": "YES", "Modality": "DX", "SOPClassUID": DX, "BurnedInAnnotation": "YES"},
     None, "burned-in-annotation"),
    # images that usually carry burned-in text need the flag to say NO
    ({"PatientIdentityRemoved": "YES", "Modality": "US", "SOPClassUID": US}, None, "burned-in-annotation-unknown"),
    ({"PatientIdentityRemoved": "YES", "Modality": "US", "SOPClassUID": US, "BurnedInAnnotation": "NO"}, None, None),
    ({"PatientIdentityRemoved": "YES", "Modality": "OT", "SOPClassUID": SECONDARY_CAPTURE},
     None, "burned-in-annotation-unknown"),
    ({"PatientIdentityRemoved": "YES", "Modality": "XC", "SOPClassUID": MULTIFRAME_TRUE_COLOR_SC},
     None, "burned-in-annotation-unknown"),
    ({"PatientIdentityRemoved": "YES", "Modality": "OT", "SOPClassUID": MULTIFRAME_TRUE_COLOR_SC,
      "BurnedInAnnotation": "NO"}, None, None),
    # a QIDO study result has no SOP class or modality: its header is judged by the mark alone
    ({"PatientIdentityRemoved": "YES"}, None, None),
])
def test_release_refusal(values, headers, pixels):
    for check_pixels, expected in ((False, headers), (True, pixels)):
        refusal = release_refusal(values, pixels=check_pixels)
        assert (refusal.reason if refusal else None) == expected, (values, check_pixels)


def test_an_image_class_outside_the_ingest_list_is_refused_too():
    values = {"PatientIdentityRemoved": "YES", "Modality": "XC", "SOPClassUID": VL_PHOTOGRAPHIC}
    assert release_refusal(values, pixels=False).reason == "sop-class"


def test_refusals_name_no_patient_data():
    values = {"PatientIdentityRemoved": "", "Modality": "US", "SOPClassUID": US}
    assert release_refusal(values, pixels=True).message == (
        "the instance is not marked de-identified (Patient Identity Removed is absent, not YES)")


def test_values_read_the_same_from_a_data_set_and_its_dicom_json():
    datasets, _ = make_case("CASE001", False, 1, shape=(32, 32), spacing_mm=3.0)
    ds = datasets[0]
    identified = release_values_of_dataset(ds)
    assert identified == release_values_of_json(to_dicom_json(ds)) == {
        "PatientIdentityRemoved": "", "BurnedInAnnotation": "NO", "Modality": "DX", "SOPClassUID": DX}
    deidentify(ds, key=b"k")
    assert release_values_of_dataset(ds) == release_values_of_json(to_dicom_json(ds)) == {
        **identified, "PatientIdentityRemoved": "YES"}
    assert release_refusal(identified, pixels=False).reason == "not-deidentified"
    assert release_refusal(release_values_of_dataset(ds), pixels=True) is None
