"""The parts of a study's submission package: one function per part, each giving its files.

A part reads the study and the chosen analysis run (:class:`PackageSource`) and returns
:class:`PackageFile` objects; :data:`PARTS` lists them in the archive's order. Every file is
a function of the stored data only, so the same data gives the same bytes: JSON with sorted
keys and fixed separators, CSV with ``\\n`` line endings, times from the data itself.

Readers and truthers appear by their codes only: their accounts' usernames, e-mail addresses
and names are replaced by the code wherever they would appear (the audit trail's actors, the
invitations it records, free text such as who established a truth).
"""

import copy
import csv
import importlib.metadata
import io
import json
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from studies.models import (
    AIModel,
    AIOutput,
    AIOutputSet,
    AnalysisRun,
    AuditEvent,
    Case,
    ProtocolDeviation,
    Reader,
    Study,
    TruthAdjudication,
    TruthingMember,
    TruthLabel,
)
from studies.services import analysis, audit, audit_verify, schedule, truthing
from studies.services.analysis_exports import results_document

SBOM_DIRECTORY = Path(settings.BASE_DIR) / "docs" / "security"
PROJECT = "mrmc"
# The package's own downloads are recorded under this entity and left out of the trail it contains, so that
# taking the package out does not change the next one built from the same data.
PACKAGE_ENTITY = "studies.SubmissionPackage"
# Study fields that are the study's state rather than its protocol.
NOT_PROTOCOL = frozenset({"id", "status", "created_by_id", "created_at", "updated_at", "schedule_seed",
                          "schedule_generated_at"})


@dataclass(frozen=True)
class PackageFile:
    path: str
    content: bytes
    description: str


@dataclass(frozen=True)
class PackageSource:
    """What the parts read: the study, the analysis run reported, the pseudonyms of its people, and the
    renderer of a run's report (the reports layer's, :func:`studies.reports.package.report_files`)."""

    study: Study
    run: AnalysisRun
    pseudonyms: "Pseudonyms"
    report_files: Callable[[AnalysisRun], list[PackageFile]]


# ---------------------------------------------------------------- serialization


def json_bytes(value) -> bytes:
    """Sorted keys, fixed separators and indentation, UTF-8, a final newline."""
    text = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, indent=1, separators=(",", ": "),
                      ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()


def csv_bytes(header: list[str], rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _cell(value) -> str:
    """A CSV cell: JSON for structures, ISO 8601 for times, 1/0 for booleans, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, datetime):
        return DjangoJSONEncoder().default(value)
    return str(value)


# ---------------------------------------------------------------- pseudonyms


class Pseudonyms:
    """The codes of a study's readers and truthers, and the replacement of their identities by those codes."""

    def __init__(self, study: Study):
        people = [*Reader.objects.filter(study=study).select_related("user"),
                  *TruthingMember.objects.filter(study=study).select_related("user")]
        self.by_user_id: dict[int, str] = {}
        self.by_identity: dict[str, str] = {}
        for person in people:
            code = self.by_user_id.setdefault(person.user_id, person.code)
            user = person.user
            full_name = f"{user.first_name} {user.last_name}".strip()
            for identity in (user.username, user.email, full_name):
                if identity:
                    self.by_identity.setdefault(identity.lower(), code)
        names = sorted(self.by_identity, key=len, reverse=True)  # the longest first: an e-mail before its username
        self._pattern = re.compile(r"(?<![\w.@+-])(" + "|".join(map(re.escape, names)) + r")(?![\w@+-])",
                                   re.IGNORECASE) if names else None

    def actor(self, actor_id: int | None, username: str) -> str:
        return self.by_user_id.get(actor_id) or self.text(username)

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda match: self.by_identity[match.group(1).lower()], value)

    def scrub(self, value):
        """``value`` (JSON-like) with every identity in its strings replaced by the person's code."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        return value


# ---------------------------------------------------------------- parts


def protocol_part(source: PackageSource) -> list[PackageFile]:
    """Every version of the protocol as the audit trail recorded the study's changes, and the current one."""
    study = source.study
    versions, previous = [], None
    events = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action__in=("create", "update"))
    for event in events.order_by("seq").values("seq", "at", "actor_id", "actor_username", "action", "after"):
        protocol = _protocol_fields(event["after"] or {})
        if protocol != previous:
            versions.append({"version": len(versions) + 1, "audit_seq": event["seq"], "changed_at": event["at"],
                             "changed_by": source.pseudonyms.actor(event["actor_id"], event["actor_username"]),
                             "protocol": protocol})
            previous = protocol
    current = _protocol_fields(audit.snapshot(study))
    document = {"study": study.pk, "current": current, "current_in_trail": current == previous,
                "versions": versions}
    return [
        PackageFile("protocol/versions.json", json_bytes(document),
                    "Every version of the study's protocol and settings, from the audit trail's record of each "
                    "change (with its sequence number, time and author), and the current one"),
        PackageFile("protocol/protocol.txt", (study.protocol_text.rstrip("\n") + "\n").encode(),
                    f"The protocol text, version {study.protocol_version or '(none given)'}"),
    ]


def _protocol_fields(values: dict) -> dict:
    return {name: value for name, value in values.items() if name not in NOT_PROTOCOL}


def analysis_plan_part(source: PackageSource) -> list[PackageFile]:
    study, run = source.study, source.run
    plan = {"endpoints": study.endpoints, "subgroups": study.subgroups, "design": study.design,
            "decision_threshold": study.decision_threshold,
            "run": {"id": run.pk, "options": run.options, "is_interim": run.is_interim,
                    "study_status": run.study_status, "created_at": run.created_at}}
    return [PackageFile("analysis-plan/plan.json", json_bytes(plan),
                        "The statistical analysis plan: the pre-specified endpoints and subgroups, and the options "
                        "of the analysis run reported")]


def schedule_part(source: PackageSource) -> list[PackageFile]:
    study = source.study
    seed = {"seed": study.schedule_seed, "generated_at": study.schedule_generated_at, "design": study.design,
            "block_size": study.block_size, "washout_days": study.washout_days}
    return [
        PackageFile("schedule/schedule.csv", schedule.schedule_csv(study).replace("\r\n", "\n").encode(),
                    "The reading schedule: one row per assignment, in reading order"),
        PackageFile("schedule/seed.json", json_bytes(seed), "The schedule's random seed and what it was made for"),
    ]


def readers_part(source: PackageSource) -> list[PackageFile]:
    readers = Reader.objects.filter(study=source.study).select_related("user").order_by("code")
    roster = [{"code": reader.code, "group": reader.group, "specialty": reader.user.specialty,
               "years_experience": reader.user.years_experience, "enrolled_at": reader.enrolled_at,
               "qualified_at": reader.qualified_at, "qualification": source.pseudonyms.scrub(reader.qualification)}
              for reader in readers]
    rule = {"rule": source.study.qualification, "readers": roster}
    return [PackageFile("readers/roster.json", json_bytes(rule),
                        "The pseudonymized reader roster: codes, specialty, years of experience, and each reader's "
                        "qualification against the study's rule")]


def truth_part(source: PackageSource) -> list[PackageFile]:
    study, scrub = source.study, source.pseudonyms.scrub
    cases = Case.objects.filter(study=study).order_by("label")
    adjudications = {item.case_id: item for item in
                     TruthAdjudication.objects.filter(case__study=study).select_related("member")}
    rows, provenance = [], []
    for case in cases:
        rows.append([case.label, _cell(case.truth), case.truth_method, scrub(case.truth_established_by),
                     case.reading_group, _cell(case.is_training), len(case.lesions), scrub(case.excluded_reason)])
        adjudication = adjudications.get(case.pk)
        provenance.append({
            "case": case.label, "truth": case.truth, "method": case.truth_method,
            "established_by": scrub(case.truth_established_by), "provenance": scrub(case.truth_provenance),
            "lesions": case.lesions,
            "adjudication": adjudication and {"by": adjudication.member.code, "label": adjudication.label,
                                              "lesions": adjudication.lesions, "note": scrub(adjudication.note),
                                              "at": adjudication.created_at},
        })
    members = TruthingMember.objects.filter(study=study).select_related("user").order_by("code")
    panel = {"protocol": study.truthing,
             "members": [{"code": member.code, "adjudicator": member.is_adjudicator,
                          "specialty": member.user.specialty, "years_experience": member.user.years_experience}
                         for member in members],
             "agreement": truthing.agreement(study) if study.truthing and members else None}
    labels = TruthLabel.objects.filter(case__study=study).select_related("case", "member").order_by(
        "case__label", "round", "member__code")
    label_rows = [[label.case.label, label.member.code, label.round, _cell(label.label), _cell(label.lesions),
                   scrub(label.comment), _cell(label.submitted_at)] for label in labels]
    return [
        PackageFile("truth/cases.csv", csv_bytes(["case", "truth", "method", "established_by", "reading_group",
                                                  "training", "lesions", "excluded_reason"], rows),
                    "Each case's reference standard, how and by whom it was established"),
        PackageFile("truth/provenance.json", json_bytes(provenance),
                    "Each case's truth with its provenance: imported, or the panel's labels, agreement and "
                    "adjudication"),
        PackageFile("truth/panel.json", json_bytes(panel),
                    "The truthing protocol, its panel by code, and the panel's agreement (kappa per label and "
                    "round, Dice and IoU per lesion) against the protocol's thresholds"),
        PackageFile("truth/labels.csv", csv_bytes(["case", "member", "round", "label", "lesions", "comment",
                                                   "submitted_at"], label_rows),
                    "Every truther's label of every case in every round"),
    ]


def case_mix_part(source: PackageSource) -> list[PackageFile]:
    """Each case's variables (the metadata file's, and the coarse ones read from its images) and the
    intended-use population they are compared with."""
    study, scrub = source.study, source.pseudonyms.scrub
    cases = [{"case": case.label, "metadata": scrub(case.metadata), "acquisition": case.acquisition,
              "reading_group": case.reading_group, "training": case.is_training,
              "excluded": bool(case.excluded_reason)}
             for case in Case.objects.filter(study=study).order_by("label")]
    return [PackageFile("cases/case-mix.json", json_bytes({"population": study.population, "cases": cases}),
                        "The intended-use population's targets and each case's variables (metadata, and the "
                        "coarse attributes its images gave before de-identification)")]


def ai_part(source: PackageSource) -> list[PackageFile]:
    study = source.study
    models = [{"name": model.name, "version": model.version, "sha256": model.sha256, "size": model.size,
               "file_name": model.file_name, "card": model.card, "card_sha256": model.card_sha256,
               "registered_at": model.created_at} for model in AIModel.objects.filter(study=study).order_by("id")]
    sets = [{"model_name": item.model_name, "model_version": item.model_version, "source": item.source,
             "model_sha256": item.model.sha256 if item.model else None, "source_name": item.source_name,
             "source_sha256": item.source_checksum, "outputs_sha256": item.outputs_sha256, "shown": item.shown,
             "created_at": item.created_at}
            for item in AIOutputSet.objects.filter(study=study).select_related("model").order_by("id")]
    outputs = AIOutput.objects.filter(study=study).select_related("case").order_by(
        "model_name", "model_version", "case__label")
    rows = [[output.model_name, output.model_version, output.case.label, repr(output.score),
             "" if output.operating_point is None else repr(output.operating_point), _cell(output.findings),
             _cell(output.inputs), output.runtime, output.device, _cell(output.computed_at)] for output in outputs]
    return [
        PackageFile("ai/models.json", json_bytes({"models": models, "output_sets": sets}),
                    "The AI models (file SHA-256, model card) and their output sets (source and outputs SHA-256)"),
        PackageFile("ai/outputs.csv", csv_bytes(["model_name", "model_version", "case", "score", "operating_point",
                                                 "findings", "inputs", "runtime", "device", "computed_at"], rows),
                    "Every AI output of every case"),
    ]


def reads_part(source: PackageSource) -> list[PackageFile]:
    run, text = source.run, source.pseudonyms.text
    frozen = [("reads/reads.csv", run.snapshot_csv, run.snapshot_checksum, "the frozen reads"),
              ("reads/marks.json", run.marks_snapshot, run.marks_snapshot_checksum,
               "the frozen marks, lesions and case facts")]
    files = []
    for path, content, checksum, what in frozen:
        if content is None:  # runs made before marks were captured
            continue
        shown = text(content)
        note = "" if shown == content else ("; readers' and truthers' identities in its free text are replaced by "
                                            "their codes, so its SHA-256 here differs from the run's")
        files.append(PackageFile(path, shown.encode(),
                                 f"{what.capitalize()} analysed by run {run.pk} (SHA-256 {checksum}){note}"))
    return files


def results_part(source: PackageSource) -> list[PackageFile]:
    run = copy.copy(source.run)  # never saved: the results as the package shows them, and their report
    run.results = source.pseudonyms.scrub(run.results)
    document = json.loads(results_document(run))
    return [PackageFile("analysis/results.json", json_bytes(document),
                        f"Analysis run {run.pk}: its record and results"), *source.report_files(run)]


def audit_part(source: PackageSource) -> list[PackageFile]:
    """The study's audit events and the verification of the whole trail."""
    pseudonyms = source.pseudonyms
    events = (AuditEvent.objects.filter(study_id=source.study.pk).exclude(entity=PACKAGE_ENTITY).order_by("seq")
              .values("seq", "at", "actor_id", "actor_username", "action", "entity", "entity_id", "before",
                      "after", "request_id", "prev_hash", "hash"))
    lines, first, last = [], None, None
    for event in events.iterator(chunk_size=5000):
        actor = pseudonyms.actor(event["actor_id"], event["actor_username"])
        record = {**event, "actor_username": actor, "pseudonymized": actor != event["actor_username"],
                  "before": pseudonyms.scrub(event["before"]), "after": pseudonyms.scrub(event["after"])}
        record["pseudonymized"] |= record["before"] != event["before"] or record["after"] != event["after"]
        del record["actor_id"]
        lines.append(json.dumps(record, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"),
                                ensure_ascii=False))
        first = first or event
        last = event
    result = audit_verify.verify(anchor_file=settings.AUDIT_ANCHOR_FILE)
    verification = {
        "intact": result.intact, "problems": result.problems,
        "checked": "the whole trail's hash chain and anchors, and every read and case truth against its last "
                   "audit event, when the package was built",
        "study_events": len(lines),
        "first": first and {"seq": first["seq"], "hash": first["hash"]},
        "last": last and {"seq": last["seq"], "hash": last["hash"]},
        "pseudonymized": "events marked pseudonymized name readers and truthers by code: their stored hash is of "
                         "the original content, checked on the platform",
        "left_out": f"downloads of this package ({PACKAGE_ENTITY}), so that taking it out does not change the next",
    }
    return [
        PackageFile("audit/trail.jsonl", "".join(line + "\n" for line in lines).encode(),
                    "The study's audit trail, one event per line in sequence order, with each event's hash "
                    "and its predecessor's"),
        PackageFile("audit/verification.json", json_bytes(verification),
                    "The verification of the audit trail's hash chain, anchors and rows"),
    ]


def deviations_part(source: PackageSource) -> list[PackageFile]:
    study, scrub = source.study, source.pseudonyms.scrub
    deviations = (ProtocolDeviation.objects.filter(study=study)
                  .select_related("reader", "case", "reviewed_by").order_by("occurred_at", "id"))
    rows = [[deviation.pk, deviation.kind, deviation.severity, deviation.rule, deviation.source,
             scrub(deviation.description), _cell(scrub(deviation.details)), _cell(deviation.occurred_at),
             deviation.reader.code if deviation.reader else "", deviation.case.label if deviation.case else "",
             deviation.read_id or "", source.pseudonyms.actor(deviation.reviewed_by_id,
                                                             getattr(deviation.reviewed_by, "username", "")),
             _cell(deviation.reviewed_at), scrub(deviation.review_note)] for deviation in deviations]
    excluded = [[case.label, scrub(case.excluded_reason), _cell(case.excluded_at)]
                for case in Case.objects.filter(study=study).exclude(excluded_reason="").order_by("label")]
    return [
        PackageFile("deviations/deviations.csv",
                    csv_bytes(["id", "kind", "severity", "rule", "source", "description", "details", "occurred_at",
                               "reader", "case", "read", "reviewed_by", "reviewed_at", "review_note"], rows),
                    "The protocol-deviation log, each classified major or minor and its review"),
        PackageFile("deviations/exclusions.csv",
                    csv_bytes(["case", "excluded_reason", "excluded_at"], excluded),
                    "The cases excluded from the analysis, with the reason"),
        PackageFile("deviations/rules.json", json_bytes(study.deviation_rules),
                    "The protocol's rules classifying deviations"),
    ]


def software_part(source: PackageSource) -> list[PackageFile]:
    packages = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), distribution.version)
    versions = {"project": {"name": PROJECT, "version": importlib.metadata.version(PROJECT),
                            "source": analysis.software_version()},
                "analysis_run": source.run.software_version, "python": platform.python_version(),
                "packages": packages}
    files = [PackageFile("software/versions.json", json_bytes(versions),
                         "The software that built this package and the run's record of what analysed it")]
    for sbom in sorted(SBOM_DIRECTORY.glob("*.cdx.json")):
        files.append(PackageFile(f"software/sbom/{sbom.name}", sbom.read_bytes(),
                                 "Software bill of materials (CycloneDX)"))
    return files


@dataclass(frozen=True)
class Part:
    name: str
    files: Callable[[PackageSource], list[PackageFile]]


PARTS = (
    Part("protocol", protocol_part),
    Part("analysis plan", analysis_plan_part),
    Part("schedule", schedule_part),
    Part("readers", readers_part),
    Part("truth", truth_part),
    Part("case mix", case_mix_part),
    Part("AI outputs", ai_part),
    Part("frozen reads", reads_part),
    Part("results and report", results_part),
    Part("audit trail", audit_part),
    Part("deviations and exclusions", deviations_part),
    Part("software", software_part),
)
