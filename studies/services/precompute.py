"""AI outputs computed by the platform: a registered model run over a study's images (:mod:`mrmc.inference`).

A model is registered with its card; it is checked against the card (inputs, outputs, a trial batch)
before it is stored, and kept by SHA-256. Computing is a job on the ``precompute`` queue that fans the
cases still without an output out in chunks of ``AI_PRECOMPUTE_CASES_PER_CHUNK``; any worker on any machine takes
a chunk, loads the model (on its GPU where it has one) and stores each case's output as it is done, so
a job that stops is resumed by running it again. ``manage.py precompute_ai`` runs the same chunks in
one process. When the set is complete its outputs' hash is recorded; ``--verify`` computes every case
again and compares.

Each output records the images the model saw (SOP Instance UID, frame, hash of the decoded pixels), the
runtime, the device and the time; its set names the model, whose file and card hashes are recorded.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mrmc.dicom.storage import ContentStore
from mrmc.inference import CardError, CaseImages, ImageRef, ModelMismatch, OnnxModel, card_sha256, parse_card
from mrmc.inference import run_cases as infer_cases
from studies.errors import InvalidInput, RuleViolation
from studies.models import AIModel, AIOutput, AIOutputSet, Case, DicomInstance, Job, Study, User
from studies.permissions import Action, require
from studies.services import ai_outputs, audit, jobs
from studies.services.ingest import image_store

log = logging.getLogger(__name__)



def model_store() -> ContentStore:
    return ContentStore(settings.AI_MODEL_STORAGE, suffix=".onnx")


# ------------------------------------------------------------------ registering

@transaction.atomic
def register_model(*, actor: User, study: Study, model_data: bytes, card_data: bytes, file_name: str = "") -> AIModel:
    """Check a model against its card and keep both; the same file and card again give the same record."""
    require(actor, Action.CHANGE_STUDY, study)
    ai_outputs.require_draft(study)
    _check_size(model_data)
    card = _parsed_card(card_data)
    sha256 = hashlib.sha256(model_data).hexdigest()
    existing = AIModel.objects.filter(study=study, sha256=sha256).first()
    if existing is not None:
        if existing.card_sha256 != card_sha256(card_data):
            raise RuleViolation(f"this model file is registered already (model {existing.pk}) with another card")
        return existing
    clash = AIModel.objects.filter(study=study, name=card.name, version=card.version).first()
    if clash is not None:
        raise RuleViolation(f"{card.name} {card.version} is registered already with another file (sha256 "
                            f"{clash.sha256}); give this model a new version in its card")
    _check_model(model_data, card)
    model_store().put(model_data)
    return AIModel.objects.create(
        study=study, name=card.name, version=card.version, sha256=sha256, size=len(model_data),
        file_name=file_name[:255], card=card.as_dict(), card_text=card_data.decode("utf-8-sig"),
        card_sha256=card_sha256(card_data), registered_by=actor,
    )


def _check_size(model_data: bytes) -> None:
    if not 0 < len(model_data) <= settings.AI_MODEL_MAX_BYTES:
        raise InvalidInput(f"the model file is {len(model_data)} bytes; 1 to {settings.AI_MODEL_MAX_BYTES}",
                           field="model")


def _parsed_card(data: bytes):
    try:
        return parse_card(data)
    except CardError as exc:
        raise InvalidInput(str(exc), field="card") from None


def _check_model(model_data: bytes, card) -> None:
    try:
        OnnxModel(model_data, card, device="cpu")
    except ModelMismatch as exc:
        raise InvalidInput(f"the model does not match its card: {exc}", field="model") from None


# ------------------------------------------------------------------ computing

@dataclass(frozen=True)
class Settings:
    """How a model runs: ``device`` auto | cuda | cpu; ``batch_size`` None = the model's own or 8."""

    device: str = "auto"
    batch_size: int | None = None


def start_precompute(*, actor: User, model: AIModel, run: Settings) -> Job:
    """Queue the job computing ``model``'s outputs for every case of its study that has none yet."""
    study = model.study
    output_set = _prepared_set(actor, model)
    job = jobs.enqueue(kind=jobs.Kind.PRECOMPUTE_AI, actor=actor, study=study,
                       params={"output_set": output_set.pk, "device": run.device, "batch_size": run.batch_size})
    output_set.job = job
    output_set.save(update_fields=["job"])
    audit.record(action="ai_precompute_started", entity="studies.Job", entity_id=job.pk, study_id=study.pk,
                 actor=actor, after={**job.params, "model_sha256": model.sha256})
    return job


def _prepared_set(actor: User, model: AIModel) -> AIOutputSet:
    require(actor, Action.CHANGE_STUDY, model.study)
    ai_outputs.require_draft(model.study)
    if settings.IMAGE_MODE == "upstream":
        raise RuleViolation("AI outputs are computed from the images the platform stores (IMAGE_MODE local or "
                            "archive); in upstream mode compute them elsewhere and import them")
    return ai_outputs.output_set_for(actor=actor, study=model.study, name=model.name, version=model.version,
                                     source=AIOutputSet.Source.COMPUTED, model=model)


def run_precompute_job(job: Job) -> "dict | jobs.FanOut":
    """Job runner: check the model on this worker, then fan the cases still to do out in chunks."""
    output_set = _job_set(job)
    context = {"output_set": output_set.pk, "device": job.params["device"], "batch_size": job.params["batch_size"]}
    _load_model(output_set.model, Settings(context["device"], context["batch_size"]))  # refused before any case
    chunks = [{"cases": ids} for ids in _chunks(_cases_to_do(output_set))]
    if not chunks:
        return merge_precompute(context, [], [])
    return jobs.FanOut(chunks=chunks, context=context)


def compute_chunk(context: dict, params: dict) -> dict:
    """Compute and store the outputs of one chunk's cases; cases done meanwhile are skipped."""
    output_set = AIOutputSet.objects.select_related("model", "study").get(pk=context["output_set"])
    model = _load_model(output_set.model, Settings(context["device"], context["batch_size"]))
    done = set(output_set.outputs.values_list("case_id", flat=True))
    cases = list(Case.objects.filter(pk__in=params["cases"]).exclude(pk__in=done).order_by("label"))
    stored, failed = 0, []
    for result in infer_cases(_case_images(cases), model):
        if result.error:
            failed.append({"case": result.case, "reason": result.error})
        else:
            stored += _store(output_set, result, model)
    return {"stored": stored, "skipped": len(params["cases"]) - len(cases), "failed": failed}


def merge_precompute(context: dict, chunk_params: list[dict], outputs: list[dict]) -> dict:
    """The job's result; a set with an output for every case gets its hash recorded."""
    output_set = AIOutputSet.objects.select_related("study").get(pk=context["output_set"])
    failed = [item for output in outputs for item in output["failed"]]
    missing = output_set.study.cases.exclude(ai_outputs__output_set=output_set).count()
    result = {"output_set": output_set.pk, "stored": sum(o["stored"] for o in outputs),
              "skipped": sum(o["skipped"] for o in outputs), "failed": failed, "cases_without_output": missing}
    if missing == 0:
        result["outputs_sha256"] = ai_outputs.seal(output_set)
    audit.record(action="ai_precompute_finished", entity="studies.AIOutputSet", entity_id=output_set.pk,
                 study_id=output_set.study_id, after=result)
    return result


PRECOMPUTE = jobs.ChunkedWork(chunk=compute_chunk, merge=merge_precompute)


def precompute_in_process(*, actor: User, model: AIModel, run: Settings,
                          progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
    """What the job does, in this process: for the command line and for seeding the demo."""
    output_set = _prepared_set(actor, model)
    context = {"output_set": output_set.pk, "device": run.device, "batch_size": run.batch_size}
    chunks = [{"cases": ids} for ids in _chunks(_cases_to_do(output_set))]
    outputs = []
    for index, chunk in enumerate(chunks):
        outputs.append(compute_chunk(context, chunk))
        progress(index + 1, len(chunks))
    return merge_precompute(context, chunks, outputs)


def verify_output_set(*, actor: User, output_set: AIOutputSet, run: Settings) -> dict:
    """Compute every case of a computed set again, store nothing, and compare with what is stored."""
    require(actor, Action.VIEW_AI_OUTPUTS, output_set.study)
    if output_set.source != AIOutputSet.Source.COMPUTED:
        raise RuleViolation("only a computed set can be computed again")
    model = _load_model(output_set.model, run)
    stored = {row["case"]: row for row in ai_outputs.canonical_outputs(output_set)}
    cases = list(output_set.study.cases.filter(label__in=stored).order_by("label"))
    again, differ = [], []
    for result in infer_cases(_case_images(cases), model):
        row = {"case": result.case, "score": result.score, "operating_point": output_set.model.card["operating_point"],
               "findings": result.findings}
        again.append(row)
        if result.error or row != stored[result.case]:
            differ.append(result.case)
    return {"cases": len(cases), "differ": differ, "recorded_sha256": output_set.outputs_sha256,
            "recomputed_sha256": ai_outputs.digest(again), "runtime": model.info.as_dict()}


def compute_scores(*, study: Study, labels: list[str], model_data: bytes, card_data: bytes, run: Settings
                   ) -> tuple[dict[str, float], object]:
    """A model checked against its card and run here over the stored images of ``study``'s cases ``labels``:
    ``(score per case, card)``, nothing stored. For a model version evaluated after the study left draft, when
    its outputs may no longer become an output set (:mod:`studies.services.model_updates`)."""
    if settings.IMAGE_MODE == "upstream":
        raise RuleViolation("scores are computed from the images the platform stores (IMAGE_MODE local or "
                            "archive); in upstream mode compute them elsewhere and import them")
    _check_size(model_data)
    card = _parsed_card(card_data)
    _check_model(model_data, card)
    try:
        model = OnnxModel(model_data, card, device=run.device, batch_size=run.batch_size)
    except ModelMismatch as exc:
        raise RuleViolation(f"model {card.name} {card.version} cannot run here: {exc}") from None
    scores, failed = {}, []
    for result in infer_cases(_case_images(list(study.cases.filter(label__in=labels).order_by("label"))), model):
        if result.error:
            failed.append(f"{result.case} ({result.error})")
        else:
            scores[result.case] = result.score
    if failed:
        raise RuleViolation(f"the model could not score {len(failed)} case(s): {'; '.join(failed[:10])}")
    return scores, card


def _job_set(job: Job) -> AIOutputSet:
    output_set = AIOutputSet.objects.select_related("model", "study").filter(pk=job.params["output_set"]).first()
    if output_set is None:
        raise RuleViolation(f"output set {job.params['output_set']} no longer exists")
    return output_set


def _load_model(model: AIModel, run: Settings) -> OnnxModel:
    try:
        path = model_store().path_for(model.sha256)
        card = parse_card(model.card_text.encode())
        return OnnxModel(path, card, device=run.device, batch_size=run.batch_size)
    except ModelMismatch as exc:
        raise RuleViolation(f"model {model} cannot run here: {exc}") from None


def _cases_to_do(output_set: AIOutputSet) -> list[int]:
    done = output_set.outputs.values_list("case_id", flat=True)
    return list(output_set.study.cases.exclude(pk__in=done).order_by("label").values_list("pk", flat=True))


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    size = settings.AI_PRECOMPUTE_CASES_PER_CHUNK
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _case_images(cases: list[Case]) -> Iterator[CaseImages]:
    """Each case's frames, in series and instance order, read from the image store when decoded."""
    store = image_store()
    for case in cases:
        instances = (DicomInstance.objects.filter(series__dicom_study__case=case)
                     .select_related("series__dicom_study")
                     .order_by("series__series_number", "series__series_instance_uid", "instance_number",
                               "sop_instance_uid"))
        images = tuple(
            ImageRef(instance.sop_instance_uid, frame, instance.series.modality,
                     lambda instance=instance: store.dataset(instance))
            for instance in instances for frame in range(1, max(instance.number_of_frames, 1) + 1)
        )
        yield CaseImages(case.label, images)


def _store(output_set: AIOutputSet, result, model: OnnxModel) -> int:
    """Store one case's output unless another worker did meanwhile; 1 if stored here."""
    case = output_set.study.cases.get(label=result.case)
    with transaction.atomic():
        _, created = AIOutput.objects.get_or_create(
            output_set=output_set, case=case,
            defaults={"study": output_set.study, "model_name": output_set.model_name,
                      "model_version": output_set.model_version, "score": result.score,
                      "operating_point": model.card.operating_point, "findings": result.findings,
                      "inputs": result.inputs, "runtime": f"{model.info.runtime} {model.info.runtime_version}",
                      "device": model.info.device, "computed_at": timezone.now()},
        )
    return int(created)
