"""Importing case truth/metadata (CSV) and precomputed AI outputs (JSON or CSV).

A file is checked completely before anything is written; every problem is reported with
its line and field, and a file with any problem stores nothing.
"""

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field

from django.db import transaction

from mrmc.dicom.deid import remap_uid
from studies.errors import InvalidInput, RuleViolation, located
from studies.models import AIOutput, AIOutputSet, Case, Study, User
from studies.models.bounds import SMALLINT_MAX
from studies.permissions import Action, require
from studies.services import ai_outputs, ingest

MAX_REPORTED_ERRORS = 50
# truth may be corrected until the study is locked for analysis
TRUTH_STATUSES = (Study.Status.DRAFT, Study.Status.ENROLLING, Study.Status.READING)
TRUTH_COLUMNS = {
    "case",
    "truth",
    "truth_method",
    "truth_established_by",
    "study_instance_uid",
    "accession_number",
    "lesions",
    "reading_group",
}
AI_CSV_COLUMNS = {"case", "model_name", "model_version", "score", "operating_point", "findings"}
FINDING_TYPES = {"box": ("x", "y", "width", "height"), "point": ("x", "y"), "contour": ("points",)}


@dataclass
class _Errors:
    items: list[str] = field(default_factory=list)

    def add(self, message: str, *, line: int | None = None, field_name: str | None = None) -> None:
        self.items.append(located(message, line=line, field=field_name))

    def raise_if_any(self, what: str) -> None:
        if self.items:
            shown = self.items[:MAX_REPORTED_ERRORS]
            more = len(self.items) - len(shown)
            summary = f"{what} rejected, nothing stored: {len(self.items)} problem(s); first: {shown[0]}"
            raise InvalidInput(summary + (f" (+{more} more not listed)" if more else ""), errors=shown)


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not UTF-8 text (byte {exc.start})") from None


def _csv_rows(text: str, *, required: set[str], what: str) -> tuple[list[str], list[tuple[int, dict]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = required - set(header)
    if missing:
        raise InvalidInput(f"{what}: missing column(s) {', '.join(sorted(missing))}", line=1)
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise InvalidInput("more values than columns", line=reader.line_num)
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    if not rows:
        raise InvalidInput(f"{what} has no data rows")
    return header, rows


def _parse_json(value: str, *, line: int, field_name: str, errors: _Errors, default):
    if not value:
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        errors.add(f"not valid JSON ({exc.msg})", line=line, field_name=field_name)
        return default


def _parse_float(value, *, line, field_name, errors: _Errors, required=True) -> float | None:
    if value in ("", None):
        if required:
            errors.add("a number is required", line=line, field_name=field_name)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.add(f"'{value}' is not a number", line=line, field_name=field_name)
        return None
    if not math.isfinite(number):
        errors.add(f"'{value}' is not a finite number", line=line, field_name=field_name)
        return None
    return number


# ---------------------------------------------------------------------------- truth


@transaction.atomic
def import_truth(*, actor: User, study: Study, data: bytes) -> dict:
    """Create or update cases from a CSV: ``case`` plus truth, UIDs, lesions and metadata columns.

    Columns other than the known ones become case metadata (subgroup variables).
    """
    require(actor, Action.CHANGE_STUDY, study)
    if study.status not in TRUTH_STATUSES:
        raise RuleViolation(f"the study is {study.status}; truth can no longer change")
    header, rows = _csv_rows(_decode(data, "truth file"), required={"case"}, what="truth file")
    metadata_columns = [name for name in header if name not in TRUTH_COLUMNS]
    errors = _Errors()
    parsed = [_parse_truth_row(line, row, metadata_columns, errors) for line, row in rows]
    _check_unique([(line, values["label"]) for (line, _), values in zip(rows, parsed, strict=True)], "case", errors)
    existing = {case.label: case for case in study.cases.select_for_update()}
    new_labels = [p["label"] for p in parsed if p["label"] not in existing]
    if new_labels and study.sessions.exists():
        errors.add(f"cases cannot be added once a schedule exists: {', '.join(new_labels[:5])}")
    for (line, _), values in zip(rows, parsed, strict=True):
        _keep_served_uid(existing.get(values["label"]), values, study, line, errors)
    errors.raise_if_any("truth file")
    created = updated = 0
    for values in parsed:
        case = existing.get(values["label"]) or Case(study=study, label=values["label"])
        is_new = case.pk is None
        for name, value in values.items():
            setattr(case, name, value)
        case.save()
        created += is_new
        updated += not is_new
    _check_uid_clash(study)
    linked = ingest.link_cases(study=study)  # images may have been imported before the truth
    return {"created": created, "updated": updated, "linked_to_images": len(linked)}


def _keep_served_uid(case: Case | None, values: dict, study: Study, line: int, errors: _Errors) -> None:
    """A case linked to imported images keeps the de-identified UID the viewer requests.

    The file may name the study by its original UID (which de-identification replaced) or by
    the served one; any other UID would point the case at different images.
    """
    dicom_study = getattr(case, "dicom_study", None) if case is not None else None
    given = values.get("study_instance_uid")
    if dicom_study is None or given is None:
        return
    served = dicom_study.study_instance_uid
    if given and given != served and remap_uid(given, ingest.deid_key_for(study)) != served:
        errors.add(f"case '{case.label}' is linked to imported images ({served}); its StudyInstanceUID "
                   "cannot change", line=line, field_name="study_instance_uid")
    values["study_instance_uid"] = served


def _parse_truth_row(line: int, row: dict, metadata_columns: list[str], errors: _Errors) -> dict:
    values = {"label": row["case"]}
    if not row["case"]:
        errors.add("a case identifier is required", line=line, field_name="case")
    if "truth" in row:
        values["truth"] = _parse_truth_value(row["truth"], line, errors)
    if "truth_method" in row:
        method = row["truth_method"].lower().replace("-", "_").replace(" ", "_")
        if method not in (*Case.TruthMethod.values, ""):
            allowed = ", ".join(Case.TruthMethod.values)
            errors.add(f"'{row['truth_method']}' is not one of {allowed}", line=line, field_name="truth_method")
        values["truth_method"] = method
    for name in ("truth_established_by", "study_instance_uid", "accession_number"):
        if name in row:
            values[name] = row[name]
    if "lesions" in row:
        lesions = _parse_json(row["lesions"], line=line, field_name="lesions", errors=errors, default=[])
        if not isinstance(lesions, list):
            errors.add("must be a JSON list", line=line, field_name="lesions")
        values["lesions"] = lesions
    if "reading_group" in row:
        group = row["reading_group"] or "0"
        valid = group.isascii() and group.isdigit() and len(group) <= 10 and int(group) <= SMALLINT_MAX
        if not valid:
            errors.add(f"'{group}' is not a group number (0 to {SMALLINT_MAX})", line=line, field_name="reading_group")
        values["reading_group"] = int(group) if valid else 0
    values["metadata"] = {name: row[name] for name in metadata_columns if row.get(name)}
    return values


def _parse_truth_value(value: str, line: int, errors: _Errors) -> int | None:
    if value == "":
        return None
    if value not in ("0", "1"):
        errors.add(f"'{value}' must be 1 (diseased) or 0 (non-diseased)", line=line, field_name="truth")
        return None
    return int(value)


def _check_unique(pairs: list[tuple[int, str]], field_name: str, errors: _Errors) -> None:
    seen: dict[str, int] = {}
    for line, value in pairs:
        if value in seen:
            errors.add(f"'{value}' repeats line {seen[value]}", line=line, field_name=field_name)
        seen.setdefault(value, line)


def _check_uid_clash(study: Study) -> None:
    uids = [uid for uid in study.cases.values_list("study_instance_uid", flat=True) if uid]
    if len(uids) != len(set(uids)):
        dupes = sorted({uid for uid in uids if uids.count(uid) > 1})
        raise InvalidInput(f"StudyInstanceUID used by more than one case: {', '.join(dupes[:3])}")


# ----------------------------------------------------------------------- AI outputs


@transaction.atomic
def import_ai_outputs(*, actor: User, study: Study, data: bytes, filename: str = "") -> dict:
    """Store AI outputs from JSON (``{"model": {...}, "outputs": [...]}``) or CSV, one set per model version.

    Each model version's outputs become an imported set that names the file and its sha256; a version
    that has outputs from another file (or computed here) is refused, and importing the same file again
    stores nothing new (:func:`studies.services.ai_outputs.output_set_for`).
    """
    require(actor, Action.CHANGE_STUDY, study)
    if study.status != Study.Status.DRAFT:
        raise RuleViolation("AI outputs are fixed once the study leaves draft")
    checksum = hashlib.sha256(data).hexdigest()
    text = _decode(data, "AI output file")
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    errors = _Errors()
    entries = _ai_from_json(text, errors) if is_json else _ai_from_csv(text, errors)
    cases = {case.label: case for case in study.cases.all()}
    for line, entry in entries:
        if entry["case"] not in cases:
            errors.add(f"case '{entry['case']}' is not in this study", line=line, field_name="case")
    keys = [(line, f"{e['case']}/{e['model_name']}/{e['model_version']}") for line, e in entries]
    _check_unique(keys, "case", errors)
    errors.raise_if_any("AI output file")
    stored, sets = 0, {}
    for _, entry in entries:
        version = (entry.pop("model_name"), entry.pop("model_version"))
        if version not in sets:
            sets[version] = ai_outputs.output_set_for(
                actor=actor, study=study, name=version[0], version=version[1],
                source=AIOutputSet.Source.IMPORTED, source_name=filename, checksum=checksum)
        case = cases[entry.pop("case")]
        _, created = AIOutput.objects.get_or_create(
            output_set=sets[version], case=case,
            defaults={**entry, "study": study, "model_name": version[0], "model_version": version[1]},
        )
        stored += created
    for output_set in sets.values():
        ai_outputs.seal(output_set)
    return {"stored": stored, "checksum": checksum, "sets": [output_set.pk for output_set in sets.values()]}


def _ai_from_json(text: str, errors: _Errors) -> list[tuple[int | None, dict]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(document, dict) or not isinstance(document.get("outputs"), list):
        raise InvalidInput("expected an object with 'model' and an 'outputs' list", field="outputs")
    model = document.get("model") or {}
    entries = []
    for i, item in enumerate(document["outputs"], start=1):
        where = f"outputs[{i - 1}]"
        if not isinstance(item, dict):
            errors.add("must be an object", field_name=where)
            continue
        entry = {
            "case": str(item.get("case", "")),
            "model_name": str(item.get("model_name") or model.get("name") or ""),
            "model_version": str(item.get("model_version") or model.get("version") or ""),
            "score": _parse_float(item.get("score"), line=None, field_name=f"{where}.score", errors=errors),
            "operating_point": _parse_float(
                item.get("operating_point", model.get("operating_point")),
                line=None, field_name=f"{where}.operating_point", errors=errors, required=False,
            ),
            "findings": item.get("findings") or [],
        }
        _check_ai_entry(entry, None, where, errors)
        entries.append((None, entry))
    return entries


def _ai_from_csv(text: str, errors: _Errors) -> list[tuple[int, dict]]:
    _, rows = _csv_rows(text, required={"case", "model_name", "model_version", "score"}, what="AI output CSV")
    entries = []
    for line, row in rows:
        entry = {
            "case": row["case"],
            "model_name": row["model_name"],
            "model_version": row["model_version"],
            "score": _parse_float(row["score"], line=line, field_name="score", errors=errors),
            "operating_point": _parse_float(
                row.get("operating_point", ""), line=line, field_name="operating_point", errors=errors, required=False
            ),
            "findings": _parse_json(
                row.get("findings", ""), line=line, field_name="findings", errors=errors, default=[]
            ),
        }
        _check_ai_entry(entry, line, "", errors)
        entries.append((line, entry))
    return entries


def _check_ai_entry(entry: dict, line: int | None, where: str, errors: _Errors) -> None:
    prefix = f"{where}." if where else ""
    for name in ("case", "model_name", "model_version"):
        if not entry[name]:
            errors.add("is required", line=line, field_name=prefix + name)
    findings = entry["findings"]
    if not isinstance(findings, list):
        errors.add("must be a list", line=line, field_name=prefix + "findings")
        return
    for i, finding in enumerate(findings):
        name = f"{prefix}findings[{i}]"
        kind = finding.get("type") if isinstance(finding, dict) else None
        if kind not in FINDING_TYPES:
            errors.add(f"type must be one of {', '.join(FINDING_TYPES)}", line=line, field_name=name)
            continue
        missing = [key for key in FINDING_TYPES[kind] if key not in finding]
        if missing:
            errors.add(f"a {kind} needs {', '.join(missing)}", line=line, field_name=name)
