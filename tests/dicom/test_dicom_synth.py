"""Synthetic phantoms: validity (dciodvfy), lesion truth, determinism, demo set files, AI scores."""

import csv
import json
import time

import numpy as np
import pytest
from dicom_helpers import SMALL, dciodvfy_errors, reread, to_bytes

from mrmc.dicom.parse import read_instance
from mrmc.dicom.synth import CaseTruth, ViewInfo, make_case, make_demo_set, simulate_ai_output


def pixels(ds) -> np.ndarray:
    return ds.pixel_array.astype(np.float64)


@pytest.mark.parametrize("modality", ["DX", "MG"])
def test_files_pass_dciodvfy(modality, dciodvfy, tmp_path):
    datasets, _ = make_case("CASE001", True, 11, modality=modality, **SMALL)
    for number, ds in enumerate(datasets):
        path = tmp_path / f"{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert dciodvfy_errors(dciodvfy, path) == [], path


@pytest.mark.parametrize("modality, seed", [("DX", 1), ("DX", 2), ("MG", 3), ("MG", 4)])
def test_lesion_is_at_its_truth_location(modality, seed):
    diseased, truth = make_case("CASE001", True, seed, modality=modality, **SMALL)
    healthy, _ = make_case("CASE001", False, seed, modality=modality, **SMALL)
    by_uid = {ds.SOPInstanceUID: (sick, well) for ds, sick, well in zip(diseased, diseased, healthy, strict=True)}
    assert truth.lesions and truth.diseased
    for mark in truth.lesions:
        sick, well = (pixels(ds) for ds in by_uid[mark.sop_instance_uid])
        difference = sick - well  # same seed: same anatomy and noise, so only the lesion differs
        rows, cols = np.ogrid[: sick.shape[0], : sick.shape[1]]
        distance = np.hypot(cols - mark.x, rows - mark.y)
        core, ring = distance < mark.radius / 2, (distance > 1.5 * mark.radius) & (distance < 2.5 * mark.radius)
        centroid = np.array(np.unravel_index(np.argmax(difference), difference.shape))
        assert np.hypot(centroid[1] - mark.x, centroid[0] - mark.y) < mark.radius / 2
        assert difference[core].mean() > 100  # stored values; noise sigma is 14-24
        assert sick[core].mean() - sick[ring].mean() > difference[core].mean() - 3 * sick[ring].std()


def test_healthy_case_and_identity():
    datasets, truth = make_case("CASE002", False, 5, modality="DX", **SMALL)
    ds = datasets[0]
    assert truth.lesions == () and not truth.diseased
    assert ds.PatientName == "DEMO^CASE002" and ds.StudyInstanceUID == truth.study_instance_uid
    assert ds.Manufacturer == "MRMC SYNTHETIC PHANTOM"
    parsed = read_instance(to_bytes(ds))
    assert (parsed.rows, parsed.columns, parsed.modality) == (512, 512, "DX")


def test_same_seed_same_case():
    first, truth_a = make_case("CASE003", True, 9, modality="MG", **SMALL)
    second, truth_b = make_case("CASE003", True, 9, modality="MG", **SMALL)
    assert truth_a == truth_b
    assert [ds.SOPInstanceUID for ds in first] == [ds.SOPInstanceUID for ds in second]
    assert all(a.PixelData == b.PixelData for a, b in zip(first, second, strict=True))


def test_full_size_chest_image_is_fast_and_realistic():
    start = time.perf_counter()
    datasets, truth = make_case("CASE004", True, 21, modality="DX")
    elapsed = time.perf_counter() - start
    ds = reread(datasets[0])
    assert (ds.Rows, ds.Columns, ds.BitsStored, ds.BitsAllocated) == (2048, 2048, 12, 16)
    assert 0.15 <= ds.ImagerPixelSpacing[0] <= 0.2 * 1.0001
    assert ds.pixel_array.max() < 4096
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_demo_set_files(tmp_path):
    demo = make_demo_set(tmp_path, n_cases=4, prevalence=0.5, seed=3, shape=(256, 256))
    assert len(demo.image_paths) == 4 and all(path.exists() for path in demo.image_paths)
    rows = list(csv.DictReader(demo.truth_csv.open()))
    assert [row["truth"] for row in rows].count("1") == 2
    for row in rows:
        lesions = json.loads(row["lesions"])
        assert (len(lesions) > 0) == (row["truth"] == "1")
        assert row["age_band"] and row["site"] and row["vendor"] and row["truth_method"]
    ai = json.loads(demo.ai_outputs_json.read_text())
    assert ai["model"]["name"] and ai["model"]["version"]
    assert [case["case_id"] for case in ai["cases"]] == [row["case_id"] for row in rows]
    assert all(0 <= case["score"] <= 1 for case in ai["cases"])
    again = make_demo_set(tmp_path / "again", n_cases=4, prevalence=0.5, seed=3, shape=(256, 256))
    assert again.ai_outputs_json.read_text() == demo.ai_outputs_json.read_text()
    assert [t.study_instance_uid for t in again.truths] == [t.study_instance_uid for t in demo.truths]


def test_ai_scores_discriminate_imperfectly():
    view = (ViewInfo("2.25.1", "PA", 512, 512, (50, 50, 450, 450)),)
    truths = [CaseTruth(f"C{i}", f"2.25.{i}", bool(i % 2), "DX", (), view) for i in range(4000)]
    scores = np.array([simulate_ai_output(truth, seed)["score"] for seed, truth in enumerate(truths)])
    diseased = np.array([truth.diseased for truth in truths])
    positives, negatives = scores[diseased], scores[~diseased]
    auc = (positives[:, None] > negatives[None, :]).mean()
    assert 0.82 < auc < 0.88
