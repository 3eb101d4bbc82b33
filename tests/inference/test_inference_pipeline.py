"""mrmc.inference against models the tests build: known functions of the pixels, computed here independently."""

import io

import numpy as np
import pydicom
import pytest
from onnx import TensorProto
from pydicom.uid import RLELossless

from mrmc.dicom.synth import make_case
from mrmc.inference import (
    CardError,
    CaseImages,
    ImageRef,
    ModelMismatch,
    OnnxModel,
    Timings,
    demo_detector,
    parse_card,
    pixel_sha256,
    prepare,
    run_cases,
)
from tests.inference.models import card, expected_score, region_mean_model

SIDE = 128  # the model's input: the 256 x 256 cases below, halved


@pytest.fixture(scope="module")
def cases():
    """Three small chest cases (256 x 256) as read back from their files."""
    made = []
    for index, diseased in enumerate((True, False, True)):
        datasets, _ = make_case(f"C{index}", diseased, 100 + index, modality="DX", shape=(256, 256))
        made.append([_reread(ds) for ds in datasets])
    return made


def _reread(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _refs(datasets):
    return tuple(ImageRef(ds.SOPInstanceUID, 1, ds.Modality, lambda ds=ds: ds) for ds in datasets)


def test_scores_are_the_function_the_model_defines(cases):
    model = OnnxModel(region_mean_model(), parse_card(card()), batch_size=2)
    results = list(run_cases([CaseImages(f"C{i}", _refs(ds)) for i, ds in enumerate(cases)], model))
    assert [r.case for r in results] == ["C0", "C1", "C2"]
    for result, datasets in zip(results, cases, strict=True):
        assert result.error == ""
        assert result.score == pytest.approx(expected_score(datasets[0]), abs=1e-6)
        assert result.inputs == [{"sop_instance_uid": datasets[0].SOPInstanceUID, "frame": 1,
                                  "pixel_sha256": pixel_sha256(datasets[0].pixel_array), "score": result.score}]


def test_a_score_does_not_depend_on_the_batch_it_shared(cases):
    model = OnnxModel(region_mean_model(), parse_card(card()), batch_size=4)
    together = [r.score for r in run_cases([CaseImages(f"C{i}", _refs(ds)) for i, ds in enumerate(cases)], model)]
    alone = [next(run_cases([CaseImages("x", _refs(ds))], model)).score for ds in cases]
    assert together == alone


def test_the_pixel_hash_survives_a_lossless_transcode(cases):
    original = cases[0][0]
    transcoded = _reread(original.copy())
    transcoded.compress(RLELossless)
    transcoded = _reread(transcoded)
    assert transcoded.file_meta.TransferSyntaxUID == RLELossless
    parsed = parse_card(card())
    a, b = prepare(original, 1, parsed), prepare(transcoded, 1, parsed)
    assert a.pixel_sha256 == b.pixel_sha256
    np.testing.assert_array_equal(a.tensor, b.tensor)
    changed = original.pixel_array.copy()
    changed[0, 0] += 1
    assert pixel_sha256(changed) != a.pixel_sha256


def test_an_undecodable_image_fails_its_case_only(cases):
    broken = _reread(cases[1][0].copy())
    broken.PixelData = broken.PixelData[:100]
    model = OnnxModel(region_mean_model(), parse_card(card()), batch_size=2)
    results = list(run_cases([CaseImages("good", _refs(cases[0])), CaseImages("bad", _refs([broken])),
                              CaseImages("also good", _refs(cases[2]))], model))
    assert [r.score is None for r in results] == [False, True, False]
    assert results[1].error.startswith(f"image {broken.SOPInstanceUID} frame 1: pixel data cannot be decoded")
    assert results[2].score == pytest.approx(expected_score(cases[2][0]), abs=1e-6)


def test_images_of_other_modalities_are_left_out(cases):
    model = OnnxModel(region_mean_model(), parse_card(card(images={"modalities": ["MG"]})), batch_size=1)
    result = next(run_cases([CaseImages("dx", _refs(cases[0]))], model))
    assert result.score is None and result.error == "no images of modality MG"


def test_findings_map_back_to_image_pixels_and_low_ones_are_dropped(cases):
    boxes = [[10, 20, 8, 4, 0.9], [0, 0, 5, 5, 0.2], [1, 1, 0, 5, 0.95]]  # 2nd below threshold, 3rd empty
    parsed = parse_card(card(outputs={"score": "score", "findings": "findings", "finding_min_score": 0.5,
                                      "finding_label": "mass"}))
    result = next(run_cases([CaseImages("c", _refs(cases[0]))], OnnxModel(region_mean_model(findings=boxes),
                                                                            parsed, batch_size=3)))
    uid = cases[0][0].SOPInstanceUID
    assert result.findings == [{"type": "box", "x": 20.0, "y": 40.0, "width": 16.0, "height": 8.0, "score": 0.9,
                                "label": "mass", "sop_instance_uid": uid, "frame": 1}]


@pytest.mark.parametrize(("model_kwargs", "card_changes", "message"), [
    ({"input_name": "pixels"}, {}, "input 'image' of the card is not in the model (it has pixels)"),
    ({"side": 64, "region": (slice(0, 8), slice(0, 8))}, {},
     "input 'image' H dimension is 64 in the model; the card and batch size give 128 (shape [2, 1, 128, 128])"),
    ({"dtype": TensorProto.DOUBLE}, {}, "input 'image' is tensor(double); the card gives float32"),
    ({"batch": 1}, {}, "input 'image' batch size is 1 in the model; the card and batch size give 2 (shape [2, 1, 128, 128])"),
    ({}, {"outputs": {"score": "probability"}}, "outputs.score: the model has no output 'probability' (it has score)"),
    ({"findings": [[0, 0, 1, 1, 1]]}, {"outputs": {"score": "findings"}},
     "output 'findings' has shape [2, 1, 5]; a score per image, (2,) or (2, 1), is needed"),
])
def test_a_model_that_does_not_match_its_card_is_refused(model_kwargs, card_changes, message):
    with pytest.raises(ModelMismatch) as caught:
        OnnxModel(region_mean_model(**model_kwargs), parse_card(card(**card_changes)), batch_size=2)
    assert str(caught.value) == message


def test_a_file_that_is_not_a_model_is_refused():
    with pytest.raises(ModelMismatch, match="the file is not a model onnxruntime can load"):
        OnnxModel(b"not a model", parse_card(card()))


def test_cuda_asked_for_where_there_is_none_is_refused():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelMismatch, match="device cuda: this onnxruntime has no CUDA execution provider"):
        OnnxModel(region_mean_model(), parse_card(card()), device="cuda")


@pytest.mark.parametrize(("changes", "message"), [
    ({"input": {"height": SIDE, "width": SIDE}}, "input.name: required"),
    ({"input": {"name": "image", "height": SIDE, "width": SIDE, "channels": 2}}, "input.channels: 1 (grayscale)"),
    ({"input": {"name": "image", "height": 5, "width": SIDE}}, "input.height: a whole number from 8 to 4096"),
    ({"preprocessing": {"window": "auto"}}, "preprocessing.window: dicom, range or {center: C, width: W}"),
    ({"preprocessing": {"resize": "cubic"}}, "preprocessing.resize: one of nearest, bilinear, area"),
    ({"preprocessing": {"normalize": {"mean": 0, "std": 0}}}, "preprocessing.normalize.std: must be positive"),
    ({"score_range": [1, 0]}, "score_range: [low, high] with low < high"),
    ({"operating_point": 2}, "operating_point: within score_range [0.0, 1.0]"),
    ({"format": "torchscript"}, "format: one of onnx"),
    ({"outputs": {}}, "outputs.score: required"),
])
def test_a_card_error_names_its_field(changes, message):
    with pytest.raises(CardError) as caught:
        parse_card(card(**changes))
    assert str(caught.value).startswith(message)


def test_a_card_that_is_not_a_mapping_is_refused():
    with pytest.raises(CardError, match="not YAML or JSON"):
        parse_card(b"name: [unclosed")
    with pytest.raises(CardError, match="must be a mapping"):
        parse_card(b"- a list")


def test_timings_count_every_image(cases):
    timings = Timings()
    model = OnnxModel(region_mean_model(), parse_card(card()), batch_size=2)
    list(run_cases([CaseImages(f"C{i}", _refs(ds)) for i, ds in enumerate(cases)], model, timings=timings))
    assert timings.images == 3 and timings.decode_s > 0 and timings.inference_s > 0


def test_the_shipped_demo_detector_is_what_its_script_builds():
    assert demo_detector.SHIPPED_MODEL.read_bytes() == demo_detector.build_model()
    assert demo_detector.SHIPPED_CARD.read_text() == demo_detector.CARD
    parse_card(demo_detector.CARD.encode())
