"""Importing case truth/metadata (CSV) and precomputed AI outputs (JSON or CSV).

A file is checked completely before anything is written; every problem is reported with
its line and field, and a file with any problem stores nothing. A preview
(:func:`preview_truth`, :func:`preview_ai_outputs`) runs the same checks and says what storing
the file would do, storing nothing: the import is that plan, stored, so the two cannot disagree.
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
    "training",
}
TRAINING_VALUES = {"yes": True, "1": True, "no": False, "0": False, "": False}
AI_CSV_COLUMNS = {"case", "model_name", "model_version", "score", "operating_point", "findings"}
FINDING_TYPES = {"box": ("x", "y", "width", "height"), "point": ("x", "y"), "contour": ("points",)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, where it is (line and/or field)."""

    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        return located(self.message, line=self.line, field=self.field)


@dataclass
class _Errors:
    items: list[Problem] = field(default_factory=list)

    def add(self, message: str, *, line: int | None = None, field_name: str | None = None) -> None:
        self.items.append(Problem(message, line, field_name))

    def raise_if_any(self, what: str) -> None:
        if self.items:
            shown = [str(problem) for problem in self.items[:MAX_REPORTED_ERRORS]]
            more = len(self.items) - len(shown)
            summary = f"{what} rejected, nothing stored: {len(self.items)} problem(s); first: {shown[0]}"
            raise InvalidInput(summary + (f" (+{more} more not listed)" if more else ""), errors=shown)


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not UTF-8 text (byte {exc.start})") from None


def _csv_rows(text: str, *, required: set[str], what: str, errors: _Errors) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the (line, row) pairs; a row with more values than columns is a problem and left out."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = required - set(header)
    if missing:
        raise InvalidInput(f"{what}: missing column(s) {', '.join(sorted(missing))}", line=1)
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            errors.add("more values than columns", line=reader.line_num)
            continue
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    if not rows and not errors.items:
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


def _problems_of(error: InvalidInput) -> list[Problem]:
    """A file refused as a whole (not text, no header, not JSON) as the preview's problems."""
    return [Problem(error.message, error.line, error.field)]


# ---------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class TruthRow:
    """One case of a truth file: the values it gives and, for a case that exists, what would change."""

    line: int
    label: str
    values: dict
    is_new: bool
    changes: dict  # field -> (stored value, value in the file), only the fields that differ


@dataclass(frozen=True)
class TruthPlan:
    """What a truth file would store: its cases, or the problems that keep it from being stored."""

    sha256: str
    columns: list[str]
    metadata_columns: list[str]
    rows: list[TruthRow]
    problems: list[Problem]

    @property
    def created(self) -> int:
        return sum(row.is_new for row in self.rows)

    @property
    def changed(self) -> int:
        return sum(bool(row.changes) for row in self.rows)

    @property
    def unchanged(self) -> int:
        return len(self.rows) - self.created - self.changed


def preview_truth(*, actor: User, study: Study, data: bytes) -> TruthPlan:
    """What :func:`import_truth` would store from ``data`` and every problem it would refuse it for; stores nothing."""
    require(actor, Action.CHANGE_STUDY, study)
    try:
        return _plan_truth(study, data, study.cases.all())
    except InvalidInput as error:
        return TruthPlan(hashlib.sha256(data).hexdigest(), [], [], [], _problems_of(error))


@transaction.atomic
def import_truth(*, actor: User, study: Study, data: bytes) -> dict:
    """Create or update cases from a CSV: ``case`` plus truth, UIDs, lesions, ``training`` and metadata columns.

    Columns other than the known ones become case metadata (subgroup variables); ``training``
    (yes/no or 1/0, empty: no) marks the cases read for qualification, never scheduled or analysed.
    """
    require(actor, Action.CHANGE_STUDY, study)
    plan = _plan_truth(study, data, study.cases.select_for_update())
    _Errors(plan.problems).raise_if_any("truth file")
    existing = {case.label: case for case in study.cases.all()}
    for row in plan.rows:
        case = existing.get(row.label) or Case(study=study, label=row.label)
        for name, value in row.values.items():
            setattr(case, name, value)
        case.save()
    _check_uid_clash(study)
    linked = ingest.link_cases(study=study)  # images may have been imported before the truth
    return {"created": plan.created, "updated": len(plan.rows) - plan.created, "linked_to_images": len(linked)}


def _plan_truth(study: Study, data: bytes, cases) -> TruthPlan:
    """Every row parsed and checked against the study's cases (``cases``, locked when storing)."""
    if study.status not in TRUTH_STATUSES:
        raise RuleViolation(f"the study is {study.status}; truth can no longer change")
    errors = _Errors()
    header, rows = _csv_rows(_decode(data, "truth file"), required={"case"}, what="truth file", errors=errors)
    metadata_columns = [name for name in header if name not in TRUTH_COLUMNS]
    parsed = [_parse_truth_row(line, row, metadata_columns, errors) for line, row in rows]
    _check_unique([(line, values["label"]) for (line, _), values in zip(rows, parsed, strict=True)], "case", errors)
    existing = {case.label: case for case in cases}
    scheduled = study.sessions.exists()
    new_labels = [p["label"] for p in parsed if p["label"] not in existing]
    if new_labels and scheduled:
        errors.add(f"cases cannot be added once a schedule exists: {', '.join(new_labels[:5])}")
    plan_rows = []
    for (line, _), values in zip(rows, parsed, strict=True):
        case = existing.get(values["label"])
        _keep_served_uid(case, values, study, line, errors)
        changes = _changes(case, values)
        _keep_panel_truth(study, case, values, changes, line, errors)
        if scheduled and "is_training" in changes:
            errors.add("a case cannot become or stop being a training case once a schedule exists",
                       line=line, field_name="training")
        plan_rows.append(TruthRow(line, values["label"], values, case is None, changes))
    return TruthPlan(hashlib.sha256(data).hexdigest(), header, metadata_columns, plan_rows, errors.items)


# What a truthing panel establishes (studies.services.truthing): a file may not set it beside the panel.
PANEL_TRUTH = ("truth", "truth_method", "truth_established_by", "lesions")


def _keep_panel_truth(study: Study, case: Case | None, values: dict, changes: dict, line: int,
                      errors: _Errors) -> None:
    """In a study whose truth its truthing panel establishes, a file brings metadata, never truth."""
    if not study.truthing:
        return
    set_here = changes if case is not None else {
        name: value for name, value in values.items() if value not in (None, "", [])}
    for name in PANEL_TRUTH:
        if name in set_here:
            errors.add("the study's truth is established by its truthing panel: leave this column out or empty",
                       line=line, field_name=name)


def _changes(case: Case | None, values: dict) -> dict:
    if case is None:
        return {}
    return {name: (getattr(case, name), value) for name, value in values.items()
            if name != "label" and getattr(case, name) != value}


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
    if "training" in row:
        training = TRAINING_VALUES.get(row["training"].lower())
        if training is None:
            errors.add(f"'{row['training']}' must be yes or no (1 or 0)", line=line, field_name="training")
        values["is_training"] = bool(training)
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


@dataclass(frozen=True)
class AIOutputRow:
    """One output of an AI output file, where it is in the file (``line N`` or ``outputs[i]``)."""

    where: str
    case: str
    model_name: str
    model_version: str
    score: float | None
    operating_point: float | None
    findings: list
    stored: bool  # already in its set: this very file was imported before


@dataclass(frozen=True)
class AIOutputSetPlan:
    """A model version in the file: the set its outputs go to (``existing`` None: a new set)."""

    model_name: str
    model_version: str
    existing: AIOutputSet | None
    outputs: int
    refusal: str  # why the version's outputs cannot go to its set (import: RuleViolation); empty: they can


@dataclass(frozen=True)
class AIOutputPlan:
    """What an AI output file would store: its outputs by set, or the problems that keep it from being stored
    (the file's own in ``problems``; :attr:`all_problems` adds the sets that refuse it)."""

    sha256: str
    file_format: str
    rows: list[AIOutputRow]
    sets: list[AIOutputSetPlan]
    problems: list[Problem]

    @property
    def new_outputs(self) -> int:
        return sum(not row.stored for row in self.rows)

    @property
    def all_problems(self) -> list[Problem]:
        """The file's problems, then each model version whose outputs its set refuses."""
        return self.problems + [Problem(s.refusal, field="model_version") for s in self.sets if s.refusal]


def preview_ai_outputs(*, actor: User, study: Study, data: bytes, filename: str = "") -> AIOutputPlan:
    """What :func:`import_ai_outputs` would store from ``data`` and every problem it would refuse it for;
    stores nothing."""
    require(actor, Action.CHANGE_STUDY, study)
    try:
        return _plan_ai_outputs(study, data, filename)
    except InvalidInput as error:
        return AIOutputPlan(hashlib.sha256(data).hexdigest(), "", [], [], _problems_of(error))


@transaction.atomic
def import_ai_outputs(*, actor: User, study: Study, data: bytes, filename: str = "") -> dict:
    """Store AI outputs from JSON (``{"model": {...}, "outputs": [...]}``) or CSV, one set per model version.

    Each model version's outputs become an imported set that names the file and its sha256; a version
    that has outputs from another file (or computed here) is refused, and importing the same file again
    stores nothing new (:func:`studies.services.ai_outputs.output_set_for`).
    """
    require(actor, Action.CHANGE_STUDY, study)
    plan = _plan_ai_outputs(study, data, filename)
    _Errors(plan.problems).raise_if_any("AI output file")
    cases = {case.label: case for case in study.cases.all()}
    sets = {(p.model_name, p.model_version): ai_outputs.output_set_for(
        actor=actor, study=study, name=p.model_name, version=p.model_version,
        source=AIOutputSet.Source.IMPORTED, source_name=filename, checksum=plan.sha256) for p in plan.sets}
    for row in plan.rows:
        if not row.stored:
            AIOutput.objects.create(
                output_set=sets[row.model_name, row.model_version], case=cases[row.case], study=study,
                model_name=row.model_name, model_version=row.model_version, score=row.score,
                operating_point=row.operating_point, findings=row.findings)
    for output_set in sets.values():
        ai_outputs.seal(output_set)
    return {"stored": plan.new_outputs, "checksum": plan.sha256, "sets": [each.pk for each in sets.values()]}


def _plan_ai_outputs(study: Study, data: bytes, filename: str) -> AIOutputPlan:
    if study.status != Study.Status.DRAFT:
        raise RuleViolation("AI outputs are fixed once the study leaves draft")
    checksum = hashlib.sha256(data).hexdigest()
    text = _decode(data, "AI output file")
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    errors = _Errors()
    entries = _ai_from_json(text, errors) if is_json else _ai_from_csv(text, errors)
    labels = set(study.cases.values_list("label", flat=True))
    for line, _, entry in entries:
        if entry["case"] not in labels:
            errors.add(f"case '{entry['case']}' is not in this study", line=line, field_name="case")
    keys = [(line, f"{e['case']}/{e['model_name']}/{e['model_version']}") for line, _, e in entries]
    _check_unique(keys, "case", errors)
    sets = _plan_sets(study, [entry for _, _, entry in entries], filename, checksum)
    stored = set(AIOutput.objects.filter(output_set__in=[p.existing for p in sets if p.existing])
                 .values_list("model_name", "model_version", "case__label"))
    rows = [AIOutputRow(where, stored=(e["model_name"], e["model_version"], e["case"]) in stored, **e)
            for _, where, e in entries]
    return AIOutputPlan(checksum, "JSON" if is_json else "CSV", rows, sets, errors.items)


def _plan_sets(study: Study, entries: list[dict], filename: str, checksum: str) -> list[AIOutputSetPlan]:
    """The set of each model version in the file, with the refusal of one that holds other outputs."""
    versions: dict[tuple[str, str], int] = {}
    for entry in entries:
        version = (entry["model_name"], entry["model_version"])
        versions[version] = versions.get(version, 0) + 1
    plans = []
    for (name, version), count in versions.items():
        existing = study.ai_output_sets.filter(model_name=name, model_version=version).first()
        refusal = ""
        if existing is not None:  # output_set_for makes nothing for a version that has a set: it checks it
            try:
                ai_outputs.output_set_for(actor=None, study=study, name=name, version=version,
                                          source=AIOutputSet.Source.IMPORTED, source_name=filename, checksum=checksum)
            except RuleViolation as violation:
                refusal = violation.message
        plans.append(AIOutputSetPlan(name, version, existing, count, refusal))
    return plans


def _ai_from_json(text: str, errors: _Errors) -> list[tuple[int | None, str, dict]]:
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
        entries.append((None, where, entry))
    return entries


def _ai_from_csv(text: str, errors: _Errors) -> list[tuple[int, str, dict]]:
    _, rows = _csv_rows(text, required={"case", "model_name", "model_version", "score"}, what="AI output CSV",
                        errors=errors)
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
        entries.append((line, f"line {line}", entry))
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
