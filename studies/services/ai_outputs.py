"""AI output sets: one per model version, imported from a file or computed here, one of them shown to readers.

A set is never overwritten: outputs of a new model version are a new set beside the old one. Until the
study leaves draft a set may be deleted (to correct an import) and the coordinator chooses the set the
AI-aided arm shows; from then on sets, outputs and the choice are fixed (the models refuse the write).
"""

import csv
import hashlib
import io
import json

from django.db import transaction

from studies.errors import InvalidInput, RuleViolation
from studies.models import AIModel, AIOutput, AIOutputSet, Study, User
from studies.permissions import Action, require
from studies.services import audit

EXPORT_FORMATS = ("json", "csv")


def output_set_for(*, actor: User, study: Study, name: str, version: str, source: str,
                   model: AIModel | None = None, source_name: str = "", checksum: str = "") -> AIOutputSet:
    """The set of ``name`` ``version``, made if new (the study's first set is the one shown).

    A set made from another file or by another model is refused: a new model version is a new set.
    """
    existing = AIOutputSet.objects.filter(study=study, model_name=name, model_version=version).first()
    if existing is None:
        return AIOutputSet.objects.create(
            study=study, model_name=name, model_version=version, source=source, model=model,
            source_name=source_name, source_checksum=checksum, created_by=actor,
            shown=not study.ai_output_sets.exists(),
        )
    same = (existing.source == source and existing.model_id == (model.pk if model else None)
            and existing.source_checksum == checksum)
    if not same:
        raise RuleViolation(f"{name} {version} already has outputs {_origin(existing)}; outputs of another model "
                            f"or file are a new model version (or delete that set first, while the study is a draft)")
    return existing


def _origin(output_set: AIOutputSet) -> str:
    if output_set.source == AIOutputSet.Source.COMPUTED:
        return f"computed by the model file sha256 {output_set.model.sha256}"
    return f"imported from {output_set.source_name or 'a file'} (sha256 {output_set.source_checksum})"


def canonical_outputs(output_set: AIOutputSet) -> list[dict]:
    """What a set says about each case, in case order: the basis of its hash and of the comparison of runs."""
    outputs = output_set.outputs.select_related("case").order_by("case__label")
    return [{"case": o.case.label, "score": o.score, "operating_point": o.operating_point, "findings": o.findings}
            for o in outputs]


def digest(outputs: list[dict]) -> str:
    """SHA-256 of outputs as canonical JSON (keys sorted, no spaces): the same outputs, the same hash."""
    text = json.dumps(outputs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(output_set: AIOutputSet) -> str:
    """Record the hash of the set's outputs as they are now."""
    output_set.outputs_sha256 = digest(canonical_outputs(output_set))
    output_set.save(update_fields=["outputs_sha256"])
    return output_set.outputs_sha256


@transaction.atomic
def show_output_set(*, actor: User, output_set: AIOutputSet) -> AIOutputSet:
    """Make ``output_set`` the one the AI-aided arm shows (draft only)."""
    study = output_set.study
    require(actor, Action.CHANGE_STUDY, study)
    require_draft(study)
    for other in study.ai_output_sets.filter(shown=True).exclude(pk=output_set.pk):
        other.shown = False
        other.save(update_fields=["shown"])
    output_set.shown = True
    output_set.save(update_fields=["shown"])
    return output_set


@transaction.atomic
def delete_output_set(*, actor: User, output_set: AIOutputSet) -> None:
    """Delete a set and its outputs (draft only); the study's shown set passes to the oldest one left."""
    study = output_set.study
    require(actor, Action.CHANGE_STUDY, study)
    require_draft(study)
    if output_set.job is not None and output_set.job.status in ("queued", "running"):
        raise RuleViolation(f"job {output_set.job_id} is still computing this set")
    was_shown = output_set.shown
    for output in output_set.outputs.all():
        output.delete()  # one by one: each deletion is in the audit trail
    output_set.delete()
    successor = study.ai_output_sets.order_by("id").first()
    if was_shown and successor is not None:
        show_output_set(actor=actor, output_set=successor)


def require_draft(study: Study) -> None:
    """As the database has it now: a job or command may hold the study from before a transition."""
    if not Study.objects.filter(pk=study.pk, status=Study.Status.DRAFT).exists():
        raise RuleViolation("AI outputs are fixed once the study leaves draft")


def export_output_set(*, actor: User, output_set: AIOutputSet, fmt: str) -> tuple[str, str]:
    """The set in the format ``import_ai_outputs`` reads, ``(text, content type)``.

    JSON also carries each output's provenance (ignored on import): the images and pixel hashes the
    model saw, runtime, device and time, and the model file's and card's hashes.
    """
    require(actor, Action.VIEW_AI_OUTPUTS, output_set.study)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format: one of {', '.join(EXPORT_FORMATS)}")
    outputs = list(output_set.outputs.select_related("case").order_by("case__label"))
    audit.record_download(actor=actor, study_id=output_set.study_id, entity="studies.AIOutputSet",
                          entity_id=output_set.pk, filename=f"ai-outputs-{output_set.pk}.{fmt}")
    if fmt == "csv":
        return _csv(output_set, outputs), "text/csv"
    return json.dumps(_json(output_set, outputs), indent=1), "application/json"


def _json(output_set: AIOutputSet, outputs: list[AIOutput]) -> dict:
    model = output_set.model
    document = {
        "model": {"name": output_set.model_name, "version": output_set.model_version,
                  "source": output_set.source, "outputs_sha256": output_set.outputs_sha256},
        "outputs": [{"case": o.case.label, "score": o.score, "operating_point": o.operating_point,
                     "findings": o.findings, "inputs": o.inputs, "runtime": o.runtime, "device": o.device,
                     "computed_at": o.computed_at.isoformat() if o.computed_at else None} for o in outputs],
    }
    if model is not None:
        document["model"].update(sha256=model.sha256, card_sha256=model.card_sha256, card=model.card_text)
    return document


def _csv(output_set: AIOutputSet, outputs: list[AIOutput]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["case", "model_name", "model_version", "score", "operating_point", "findings"])
    for o in outputs:
        writer.writerow([o.case.label, output_set.model_name, output_set.model_version, repr(o.score),
                         "" if o.operating_point is None else repr(o.operating_point),
                         json.dumps(o.findings, separators=(",", ":"))])
    return out.getvalue()
