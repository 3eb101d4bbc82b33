"""Burned-in text removal by configured regions (Clean Pixel Data Option)."""

import copy

import numpy as np
import pydicom
import pytest
from dicom_helpers import dciodvfy_errors, reread, sample_path

from mrmc.dicom.deid import deidentify
from mrmc.dicom.pixel_cleaning import clean_pixels, find_rule, parse_rules


def rule(regions, **match):
    return parse_rules([{"match": match or {"Modality": "MR"}, "regions": regions}])[0]


def outside(mask_shape, regions):
    """Boolean mask of the pixels outside every region."""
    keep = np.ones(mask_shape, dtype=bool)
    for x, y, width, height in regions:
        keep[y : y + height, x : x + width] = False
    return keep


@pytest.mark.parametrize("name", ["emri_small.dcm", "emri_small_RLE.dcm"])
def test_every_frame_is_blacked_out_in_the_regions_and_unchanged_elsewhere(name):
    ds = pydicom.dcmread(sample_path(name))
    original = ds.pixel_array.copy()
    uid, earlier_method = ds.SOPInstanceUID, ds.DeidentificationMethod
    regions = [[0, 0, 20, 10], [50, 60, 14, 4]]
    clean_pixels(ds, rule(regions))
    cleaned = reread(ds)
    pixels = cleaned.pixel_array
    keep = outside(original.shape[1:], regions)
    assert pixels.shape == original.shape == (10, 64, 64)
    assert np.array_equal(pixels[:, keep], original[:, keep])
    assert (pixels[:, ~keep] == 0).all() and (original[:, ~keep] != 0).any()
    assert cleaned.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert cleaned.SOPInstanceUID == uid and cleaned.BurnedInAnnotation == "NO"
    assert cleaned.DeidentificationMethodCodeSequence[-1].CodeValue == "113101"
    assert cleaned.DeidentificationMethod == [earlier_method, "Clean Pixel Data Option"]  # added to what was done


def test_black_is_the_darkest_stored_value_for_signed_and_monochrome1_images():
    ct = pydicom.dcmread(sample_path("CT_small.dcm"))  # signed 16-bit MONOCHROME2
    clean_pixels(ct, rule([[0, 0, 8, 8]], Modality="CT"))
    assert (reread(ct).pixel_array[:8, :8] == -(2**15)).all()
    mr = pydicom.dcmread(sample_path("emri_small.dcm"))  # unsigned 12-bit
    mr.PhotometricInterpretation = "MONOCHROME1"
    clean_pixels(mr, rule([[0, 0, 8, 8]]))
    assert (reread(mr).pixel_array[:, :8, :8] == 2**12 - 1).all()


@pytest.mark.parametrize(
    "name", ["SC_ybr_full_uncompressed.dcm", "SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm", "US1_J2KR.dcm"]
)
def test_color_images_are_cleaned_and_stored_as_uncompressed_rgb(name):
    ds = pydicom.dcmread(sample_path(name))
    original = ds.pixel_array.copy()  # as RGB
    regions = [[0, 0, ds.Columns, 12]]  # a header band, as ultrasound devices burn in
    clean_pixels(ds, rule(regions, Rows=ds.Rows))
    cleaned = reread(ds)
    keep = outside(original.shape[:2], regions)
    assert cleaned.PhotometricInterpretation == "RGB" and cleaned.SamplesPerPixel == 3
    assert np.array_equal(cleaned.pixel_array[keep], original[keep])
    assert (cleaned.pixel_array[:12] == 0).all()


def test_lossy_history_and_number_of_frames_survive_the_uncompressed_copy():
    jpeg = pydicom.dcmread(sample_path("SC_rgb_jpeg_dcmtk.dcm"))  # JPEG Baseline: lossy
    del jpeg.LossyImageCompression, jpeg.LossyImageCompressionMethod
    clean_pixels(jpeg, rule([[0, 0, 4, 4]], Modality="OT"))
    jpeg = reread(jpeg)
    assert (jpeg.LossyImageCompression, jpeg.LossyImageCompressionMethod) == ("01", "ISO_10918_1")
    lossless = pydicom.dcmread(sample_path("US1_J2KR.dcm"))
    clean_pixels(lossless, rule([[0, 0, 4, 4]], Modality="US"))
    assert reread(lossless).LossyImageCompression == "00"
    one_frame = pydicom.dcmread(sample_path("CT_small.dcm"))
    one_frame.NumberOfFrames = 1  # as in the enhanced (multi-frame) IODs, where it is Type 1
    clean_pixels(one_frame, rule([[0, 0, 4, 4]], Modality="CT"))
    assert reread(one_frame).NumberOfFrames == 1


def test_a_deidentified_and_cleaned_phantom_still_validates(mammo_case, dciodvfy, tmp_path):
    ds = copy.deepcopy(mammo_case[0][0])
    ds.BurnedInAnnotation = "YES"
    deidentify(ds, key="k")
    clean_pixels(ds, rule([[0, 0, 100, 30]], Modality="MG"))
    path = tmp_path / "cleaned.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(dciodvfy, path) == []


def test_a_region_outside_the_image_or_undecodable_pixels_are_refused_with_the_reason():
    ds = pydicom.dcmread(sample_path("emri_small.dcm"))
    with pytest.raises(ValueError, match=r"region \[60, 0, 5, 5\] does not lie inside the 64 x 64 image"):
        clean_pixels(ds, rule([[60, 0, 5, 5]]))
    jpeg = pydicom.dcmread(sample_path("SC_rgb_jpeg_gdcm.dcm"))  # JPEG lossless: no decoder installed
    with pytest.raises(ValueError, match="could not be decoded"):
        clean_pixels(jpeg, rule([[0, 0, 5, 5]], Modality="OT"))


def test_rules_match_on_every_listed_attribute_as_text():
    ds = pydicom.dcmread(sample_path("emri_small.dcm"))
    rules = parse_rules(
        [
            {"match": {"Modality": "MR", "Rows": 128}, "regions": [[0, 0, 1, 1]]},
            {"match": {"Modality": "MR", "Rows": 64, "ImageType": "DERIVED\\SECONDARY"}, "regions": [[0, 0, 2, 2]]},
            {"match": {"Modality": "MR", "Rows": 64}, "regions": [[0, 0, 3, 3]]},
        ]
    )
    ds.ImageType = ["DERIVED", "SECONDARY"]
    assert find_rule(ds, rules) is rules[1]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    assert find_rule(ds, rules) is rules[2]
    ds.Modality = "CT"
    assert find_rule(ds, rules) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"match": {}}, "must be a list"),
        ([{"match": {"Modality": "US"}}], "rule 1: needs exactly the fields 'match' and 'regions'"),
        ([{"match": {}, "regions": [[0, 0, 1, 1]]}], "rule 1: 'match' must map at least one DICOM keyword"),
        ([{"match": {"Modalty": "US"}, "regions": [[0, 0, 1, 1]]}], "'Modalty' is not a DICOM keyword"),
        ([{"match": {"Modality": ["US"]}, "regions": [[0, 0, 1, 1]]}], "value of Modality must be a string"),
        ([{"match": {"Modality": "US"}, "regions": []}], "'regions' must list at least one"),
        ([{"match": {"Modality": "US"}, "regions": [[0, 0, 0, 5]]}], r"region \[0, 0, 0, 5\] is not"),
        ([{"match": {"Modality": "US"}, "regions": [[0, -1, 4, 5]]}], r"region \[0, -1, 4, 5\] is not"),
        ([{"match": {"Modality": "US"}, "regions": [[0, 0, 4]]}], r"region \[0, 0, 4\] is not"),
    ],
)
def test_malformed_rules_are_refused_naming_the_rule_and_field(config, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(config)
