"""AI outputs computed by the platform: a model the test builds (a windowed mean over a region) run over a
study's ingested images gives exactly the function it defines, with its provenance; runs resume, refuse
a model that does not match its card, never overwrite, and a read in the AI arm records the output shown."""

import csv
import hashlib
import io
import json
import re
import uuid

import numpy as np
import onnxruntime
import pydicom
import pytest

from studies import selectors
from studies.errors import InvalidInput, RuleViolation
from studies.models import AIModel, AIOutput, AIOutputSet, Assignment, DicomInstance, Job, Study
from studies.services import ai_outputs, imports, ingest, precompute, reads, schedule
from studies.services import studies as study_services
from tests.dicomweb.images import write_case_images
from tests.inference.models import card, expected_score, region_mean_model

SIDE = 32  # the 64 x 64 test images, halved
REGION = (slice(8, 24), slice(4, 20))
MODEL = region_mean_model(side=SIDE, region=REGION)
CARD = card(SIDE, operating_point=0.5)


@pytest.fixture
def stores(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "dicom"
    settings.AI_MODEL_STORAGE = tmp_path / "models"
    return settings


@pytest.fixture
def imaged(make_study, coordinator, stores, tmp_path):
    """A draft AI-aided study of three cases whose images are ingested; the original files by case."""
    study = make_study(n_readers=2, n_cases=3, status="draft")
    AIOutputSet.objects.filter(study=study).delete()  # the fixture's imported scores: this study computes its own
    originals = {}
    for case in study.cases.order_by("label"):
        paths = write_case_images(tmp_path / "incoming" / case.label, study_instance_uid=case.study_instance_uid,
                                  seed=case.pk)
        originals[case.label] = [pydicom.dcmread(path) for path in paths]
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")])
    assert len(report.linked) == 3 and not report.rejected
    return study, originals


def register(study, coordinator, model=MODEL, model_card=CARD) -> AIModel:
    return precompute.register_model(actor=coordinator, study=study, model_data=model, card_data=model_card,
                                     file_name="region.onnx")


def computed(study, coordinator, model=None, **settings) -> dict:
    model = model or register(study, coordinator)
    return precompute.precompute_in_process(actor=coordinator, model=model, run=precompute.Settings(**settings))


def test_outputs_are_the_function_the_model_defines_with_their_provenance(imaged, coordinator):
    study, originals = imaged
    result = computed(study, coordinator, device="cpu")
    assert (result["stored"], result["skipped"], result["failed"], result["cases_without_output"]) == (3, 0, [], 0)
    output_set = AIOutputSet.objects.get(study=study)
    assert (output_set.source, output_set.shown, output_set.model_name, output_set.model_version) == (
        "computed", True, "Region mean", "1")
    assert output_set.model.sha256 == hashlib.sha256(MODEL).hexdigest()
    assert output_set.model.card_sha256 == hashlib.sha256(CARD).hexdigest() and output_set.model.card_text == CARD.decode()
    for label, (original,) in originals.items():
        output = AIOutput.objects.get(output_set=output_set, case__label=label)
        assert output.score == pytest.approx(expected_score(original, SIDE, REGION), abs=1e-6)
        assert output.operating_point == 0.5 and output.findings == []
        stored = DicomInstance.objects.get(series__dicom_study__case__label=label, series__dicom_study__study=study)
        pixels = np.ascontiguousarray(original.pixel_array, dtype=original.pixel_array.dtype.newbyteorder("<"))
        header = f"{pixels.dtype.str}{pixels.shape}".encode()
        assert output.inputs == [{"sop_instance_uid": stored.sop_instance_uid, "frame": 1, "score": output.score,
                                  "pixel_sha256": hashlib.sha256(header + pixels.tobytes()).hexdigest()}]
        assert output.runtime == f"onnxruntime {onnxruntime.__version__}" and output.device.startswith("CPU: ")
        assert output.computed_at is not None
    expected_hash = ai_outputs.digest(ai_outputs.canonical_outputs(output_set))
    assert output_set.outputs_sha256 == result["outputs_sha256"] == expected_hash


def test_a_second_run_skips_the_cases_done_and_a_gap_is_filled(imaged, coordinator):
    study, _ = imaged
    first = computed(study, coordinator)
    before = {o.pk: (o.score, o.computed_at) for o in AIOutput.objects.filter(study=study)}
    again = computed(study, coordinator)
    assert (again["stored"], again["skipped"]) == (0, 0) and again["outputs_sha256"] == first["outputs_sha256"]
    assert {o.pk: (o.score, o.computed_at) for o in AIOutput.objects.filter(study=study)} == before
    AIOutput.objects.filter(study=study, case__label="C001").delete()
    refill = computed(study, coordinator)
    assert refill["stored"] == 1 and refill["outputs_sha256"] == first["outputs_sha256"]


@pytest.mark.parametrize(("model", "model_card", "message"), [
    (region_mean_model(side=16, region=(slice(0, 4), slice(0, 4))), CARD,
     "field 'model': the model does not match its card: input 'image' H dimension is 16 in the model"),
    (MODEL, card(SIDE, outputs={"score": "probability"}),
     "field 'model': the model does not match its card: outputs.score: the model has no output 'probability'"),
    (b"\x08\x01garbage", CARD,
     "field 'model': the model does not match its card: the file is not a model onnxruntime can load"),
    (MODEL, b"name: [", "field 'card': the model card is not YAML or JSON"),
    (MODEL, card(SIDE, preprocessing={"window": "auto"}), "field 'card': preprocessing.window"),
])
def test_a_model_that_does_not_match_its_card_is_refused_with_nothing_stored(imaged, coordinator, stores, model,
                                                                            model_card, message):
    study, _ = imaged
    with pytest.raises(InvalidInput) as refused:
        register(study, coordinator, model, model_card)
    assert str(refused.value).startswith(message)
    assert not AIModel.objects.exists() and not AIOutputSet.objects.filter(study=study).exists()
    assert not stores.AI_MODEL_STORAGE.exists() or not any(stores.AI_MODEL_STORAGE.rglob("*.onnx"))


def test_a_case_whose_image_cannot_be_decoded_is_reported_and_left_without_output(imaged, coordinator, stores):
    study, _ = imaged
    broken = DicomInstance.objects.get(series__dicom_study__case__label="C001", series__dicom_study__study=study)
    path = ingest.content_store().path_for(broken.sha256)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-500])  # the pixel data cut short
    result = computed(study, coordinator)
    assert result["stored"] == 2 and result["cases_without_output"] == 1 and "outputs_sha256" not in result
    assert [failure["case"] for failure in result["failed"]] == ["C001"]
    assert result["failed"][0]["reason"].startswith(f"image {broken.sop_instance_uid} frame 1:")
    assert not AIOutput.objects.filter(study=study, case__label="C001").exists()
    assert AIOutputSet.objects.get(study=study).outputs_sha256 == ""
    with pytest.raises(RuleViolation, match="cases without an output of Region mean 1"):
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
        schedule.generate_schedule(actor=coordinator, study=study, seed=1)
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)


def test_a_new_model_version_is_a_set_beside_the_old_never_an_overwrite(imaged, coordinator):
    study, _ = imaged
    computed(study, coordinator)
    other_file = region_mean_model(side=SIDE, region=(slice(0, 8), slice(0, 8)))
    with pytest.raises(RuleViolation, match="Region mean 1 is registered already with another file"):
        register(study, coordinator, other_file)
    second = register(study, coordinator, other_file, card(SIDE, version="2"))
    computed(study, coordinator, second)
    sets = list(AIOutputSet.objects.filter(study=study).order_by("pk"))
    assert [(s.model_version, s.shown, s.outputs.count()) for s in sets] == [("1", True, 3), ("2", False, 3)]
    with pytest.raises(RuleViolation, match="Region mean 2 already has outputs computed by the model file"):
        imports.import_ai_outputs(actor=coordinator, study=study, filename="x.csv",
                                  data=b"case,model_name,model_version,score\nC000,Region mean,2,0.5\n")


def test_outputs_are_fixed_once_the_study_leaves_draft(imaged, coordinator):
    study, _ = imaged
    model = register(study, coordinator)
    computed(study, coordinator, model)
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    with pytest.raises(RuleViolation, match="fixed once the study leaves draft"):
        precompute.start_precompute(actor=coordinator, model=model, run=precompute.Settings())
    with pytest.raises(RuleViolation, match="fixed once the study leaves draft"):
        register(study, coordinator, MODEL, card(SIDE, version="3"))
    with pytest.raises(RuleViolation, match="fixed once the study leaves draft"):
        ai_outputs.show_output_set(actor=coordinator, output_set=AIOutputSet.objects.get(study=study))
    output = AIOutput.objects.filter(study=study).first()
    output.score = 0.99
    with pytest.raises(ValueError, match="AI outputs are fixed once the study leaves draft"):
        output.save()


def test_a_read_in_the_ai_arm_records_the_output_it_showed(imaged, coordinator):
    study, _ = imaged
    computed(study, coordinator)
    second = register(study, coordinator, region_mean_model(side=SIDE, region=(slice(0, 8), slice(0, 8))),
                      card(SIDE, version="2"))
    computed(study, coordinator, second)
    shown = ai_outputs.show_output_set(actor=coordinator, output_set=second.output_sets.get())
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    schedule.generate_schedule(actor=coordinator, study=study, seed=3)
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    for assignment in Assignment.objects.filter(session__study=study, session__number=1):
        view = selectors.reader_assignment(assignment.reader.user, assignment.pk)
        read, _ = reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk,
                                    idempotency_key=uuid.uuid4(), values=reads.ReadInput(rating=50))
        if assignment.arm.shows_ai:
            expected = AIOutput.objects.get(output_set=shown, case=assignment.case)
            assert read.ai_output == expected and view.ai_outputs == [expected]
        else:
            assert read.ai_output is None and view.ai_outputs is None
    rows = list(csv.DictReader(io.StringIO(selectors.reads_csv(study))))
    aided = {row["ai_model"] for row in rows if row["treatment"] == "aided"}
    assert aided == {"Region mean 2"} and {row["ai_model_sha256"] for row in rows if row["treatment"] == "aided"} == {
        second.sha256}
    assert {row["ai_model"] for row in rows if row["treatment"] != "aided"} == {""}


def test_the_job_fans_cases_out_and_a_recomputation_in_one_process_is_identical(imaged, coordinator, settings,
                                                                             django_capture_on_commit_callbacks):
    study, _ = imaged
    settings.AI_PRECOMPUTE_CASES_PER_CHUNK = 1
    model = register(study, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        job = precompute.start_precompute(actor=coordinator, model=model, run=precompute.Settings(device="cpu"))
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert len(job.params["fan_out"]["chunks"]) == 3 and job.result["stored"] == 3
    output_set = AIOutputSet.objects.get(study=study)
    assert output_set.job_id == job.pk and output_set.outputs_sha256 == job.result["outputs_sha256"]
    verified = precompute.verify_output_set(actor=coordinator, output_set=output_set,
                                            run=precompute.Settings(device="cpu", batch_size=2))
    assert verified["differ"] == [] and verified["recomputed_sha256"] == verified["recorded_sha256"]


def test_a_mismatched_model_fails_the_job_before_any_case(imaged, coordinator, stores,
                                                         django_capture_on_commit_callbacks):
    study, _ = imaged
    model = register(study, coordinator)
    # the stored model file replaced by one that does not match the card
    precompute.model_store().path_for(model.sha256).write_bytes(region_mean_model(side=16, region=REGION))
    with django_capture_on_commit_callbacks(execute=True):
        job = precompute.start_precompute(actor=coordinator, model=model, run=precompute.Settings())
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "cannot run here: input 'image' H dimension is 16" in job.message
    assert not AIOutput.objects.filter(study=study).exists()


def test_exported_outputs_import_as_the_same_outputs(imaged, coordinator, make_study):
    study, _ = imaged
    computed(study, coordinator)
    output_set = AIOutputSet.objects.get(study=study)
    text, content_type = ai_outputs.export_output_set(actor=coordinator, output_set=output_set, fmt="json")
    document = json.loads(text)
    assert content_type == "application/json" and document["model"]["sha256"] == output_set.model.sha256
    assert document["outputs"][0]["inputs"] == AIOutput.objects.get(output_set=output_set, case__label="C000").inputs
    for fmt in ("json", "csv"):
        text, _ = ai_outputs.export_output_set(actor=coordinator, output_set=output_set, fmt=fmt)
        elsewhere = make_study(n_readers=2, n_cases=3, status="draft", reader_prefix=f"elsewhere-{fmt}")
        AIOutputSet.objects.filter(study=elsewhere).delete()
        imports.import_ai_outputs(actor=coordinator, study=elsewhere, data=text.encode(), filename=f"x.{fmt}")
        imported = AIOutputSet.objects.get(study=elsewhere)
        assert ai_outputs.canonical_outputs(imported) == ai_outputs.canonical_outputs(output_set)
        assert imported.outputs_sha256 == output_set.outputs_sha256


def test_upstream_images_are_not_computed_here(imaged, coordinator, settings):
    study, _ = imaged
    settings.IMAGE_MODE = "upstream"
    with pytest.raises(RuleViolation, match="compute them elsewhere and import them"):
        precompute.start_precompute(actor=coordinator, model=register(study, coordinator), run=precompute.Settings())


def test_the_api_registers_computes_lists_shows_and_exports(imaged, coordinator, api, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    study, _ = imaged
    client = api(coordinator)
    base = f"/api/v1/studies/{study.pk}"
    bad = client.post(f"{base}/ai-models/", {"model": SimpleUploadedFile("m.onnx", MODEL),
                                             "card": SimpleUploadedFile("c.yaml", card(16))}, format="multipart")
    assert bad.status_code == 400 and "input 'image' H dimension is 32 in the model" in bad.json()["detail"]
    made = client.post(f"{base}/ai-models/", {"model": SimpleUploadedFile("m.onnx", MODEL),
                                              "card": SimpleUploadedFile("c.yaml", CARD)}, format="multipart")
    assert made.status_code == 201 and made.json()["sha256"] == hashlib.sha256(MODEL).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"{base}/ai-models/{made.json()['id']}/precompute/", {"device": "cpu"}, format="json")
    assert started.status_code == 202
    job = client.get(f"/api/v1/jobs/{started.json()['id']}/").json()
    assert job["status"] == "succeeded" and job["result"]["stored"] == 3
    sets = client.get(f"{base}/ai-output-sets/").json()["results"]
    assert [(s["model_version"], s["shown"], s["n_outputs"], s["model_sha256"]) for s in sets] == [
        ("1", True, 3, made.json()["sha256"])]
    exported = client.get(f"{base}/ai-output-sets/{sets[0]['id']}/outputs.csv")
    assert exported.status_code == 200 and exported.content.decode().startswith("case,model_name,model_version")
    document = client.get(f"{base}/ai-output-sets/{sets[0]['id']}/outputs.json").json()
    assert document["model"]["outputs_sha256"] == AIOutputSet.objects.get(study=study).outputs_sha256
    second = client.post(f"{base}/ai-models/", {"model": SimpleUploadedFile("m2.onnx", region_mean_model(
        side=SIDE, region=(slice(0, 8), slice(0, 8)))), "card": SimpleUploadedFile("c.yaml", card(SIDE, version="2"))},
        format="multipart").json()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{base}/ai-models/{second['id']}/precompute/", {}, format="json")
    newer = AIOutputSet.objects.get(study=study, model_version="2")
    assert client.post(f"{base}/ai-output-sets/{newer.pk}/show/", {}, format="json").json()["shown"] is True
    assert client.delete(f"{base}/ai-output-sets/{sets[0]['id']}/").status_code == 204
    assert list(AIOutputSet.objects.filter(study=study).values_list("model_version", "shown")) == [("2", True)]


@pytest.fixture
def one_case_per_task(monkeypatch, settings):
    """Chunks of one case, here and in the worker a later fixture starts (it inherits the environment)."""
    monkeypatch.setenv("AI_PRECOMPUTE_CASES_PER_CHUNK", "1")
    settings.AI_PRECOMPUTE_CASES_PER_CHUNK = 1


@pytest.mark.integration
def test_on_a_real_worker_the_cases_are_shared_out_and_give_the_single_process_outputs(
        one_case_per_task, celery_worker, make_study, coordinator, tmp_path):
    from tests.conftest import wait_for_job

    study = make_study(n_readers=2, n_cases=3, status="draft")
    AIOutputSet.objects.filter(study=study).delete()
    for case in study.cases.all():
        write_case_images(tmp_path / "incoming" / case.label, study_instance_uid=case.study_instance_uid, seed=case.pk)
    assert len(ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")]).linked) == 3
    job = precompute.start_precompute(actor=coordinator, model=register(study, coordinator),
                                      run=precompute.Settings(device="cpu"))
    job = wait_for_job(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert len(job.params["fan_out"]["chunks"]) == 3 and job.result["stored"] == 3
    log = (tmp_path / "worker.log").read_text()
    assert len(re.findall(r"Task studies\.run_job_chunk\[[^]]+\] succeeded", log)) == 3, log[-3000:]
    verified = precompute.verify_output_set(actor=coordinator, output_set=AIOutputSet.objects.get(study=study),
                                            run=precompute.Settings(device="cpu"))
    assert verified["differ"] == [] and verified["recomputed_sha256"] == job.result["outputs_sha256"]
