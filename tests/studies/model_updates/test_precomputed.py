"""A model update whose scores the platform computes: a model the test builds (a windowed mean over a region, the
function tests/inference/models.py writes out independently) run over a locked study's stored images."""

import hashlib

import pydicom
import pytest

from studies.errors import InvalidInput
from studies.models import AuditEvent, ModelUpdateEvaluation, Study
from studies.services import ingest, model_updates, precompute
from tests.dicomweb.images import write_case_images
from tests.inference.models import card, expected_score, region_mean_model

SIDE = 32
REGION = (slice(8, 24), slice(4, 20))
MODEL = region_mean_model(side=SIDE, region=REGION)


@pytest.fixture
def imaged_locked_study(make_study, coordinator, settings, tmp_path):
    """Four cases (two diseased) with ingested images and the imported cleared model's scores; then locked."""
    settings.DICOM_STORAGE = tmp_path / "dicom"
    study = make_study(n_readers=2, n_cases=4, status="draft")
    originals = {}
    for case in study.cases.order_by("label"):
        paths = write_case_images(tmp_path / "incoming" / case.label, study_instance_uid=case.study_instance_uid,
                                  seed=case.pk)
        originals[case.label] = pydicom.dcmread(paths[0])
    assert len(ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")]).linked) == 4
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)  # the premise: read and locked
    study.refresh_from_db()
    return study, originals


def test_scores_computed_here_are_the_models_function_and_the_look_says_so(imaged_locked_study, coordinator):
    study, originals = imaged_locked_study
    evaluation = model_updates.lock_evaluation(actor=coordinator, study=study, name="plan",
                                               criteria={"specificity_floor": {"min": 0.0, "judge": "estimate"}})
    look = model_updates.evaluate_model_file(actor=coordinator, evaluation=evaluation, model_data=MODEL,
                                             card_data=card(SIDE, operating_point=0.5, version="2"),
                                             run=precompute.Settings(device="cpu"))
    assert (look.source, look.model_name, look.model_version, look.operating_point) == (
        "precomputed", "Region mean", "2", 0.5)
    assert look.model_sha256 == hashlib.sha256(MODEL).hexdigest()
    assert look.scores == pytest.approx({label: expected_score(ds, SIDE, REGION) for label, ds in originals.items()},
                                        abs=1e-6)
    assert look.look == 1 and look.passed is True
    event = AuditEvent.objects.get(entity="studies.ModelUpdateEvaluation", entity_id=str(look.pk))
    assert event.after["source"] == "precomputed" and event.study_id == study.pk


def test_a_card_without_an_operating_point_is_refused(imaged_locked_study, coordinator):
    study, _ = imaged_locked_study
    evaluation = model_updates.lock_evaluation(actor=coordinator, study=study, name="plan",
                                               criteria={"specificity_floor": 0.1})
    with pytest.raises(InvalidInput, match="no operating point"):
        model_updates.evaluate_model_file(actor=coordinator, evaluation=evaluation, model_data=MODEL,
                                          card_data=card(SIDE), run=precompute.Settings(device="cpu"))
    assert not ModelUpdateEvaluation.objects.exists()
