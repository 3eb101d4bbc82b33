"""Field monitoring of a cleared device: its deployments, their rules and members, the field records sent by the
sites (the device's output first, the confirmed diagnosis later), and the alarms raised on them.

Rules (``MonitoredDeployment.rules``; :func:`validate_rules` names what it refuses)::

    window: month                # or week: windows start on the 1st of a month / a Monday, 00:00 UTC
    operating_point: 0.5         # a score at or above it is a positive call
    cusum: {in_control_arl: 500, baseline_miss_rate: 0.10, shifted_miss_rate: 0.25, by_site: true}
    drift: {psi: 0.25, p: 0.01, attributes: [score, software_version, manufacturer, device_model],
            reference_windows: 1}
    emails: [quality@example.com]

A record is keyed by its deployment and pseudonymous ``case_key``: sending it again changes nothing, and sending
its ``outcome`` (with ``outcome_at``) later completes it. Records carry only the fields of
:class:`~studies.models.FieldRecord` (acquisition attributes are numbers); any other key (a name, a birth date)
refuses the whole import, naming its line and field, so nothing identifying is ever stored. The windows and
charts are computed by :mod:`studies.services.field_monitoring_windows` (Celery beat, or its ``compute`` at once).
"""

import csv
import io
import logging
import math
import re
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studies.errors import InvalidInput, RuleViolation
from studies.models import FieldRecord, MonitoredDeployment, MonitoringAlarm, Role, User
from studies.services import audit

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_IMPORT = 20_000
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_ATTRIBUTES = 16
ATTRIBUTE_PREFIX = "attr_"  # CSV columns of acquisition attributes: attr_kvp, attr_pixel_spacing
CASE_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TEXT_FIELDS = {"site": 100, "manufacturer": 100, "device_model": 100, "software_version": 100, "model_version": 50}
RECORD_FIELDS = ("case_key", *TEXT_FIELDS, "score", "positive", "attributes", "acquired_at", "outcome",
                 "outcome_at")
REQUIRED_FIELDS = ("site", "model_version", "score", "acquired_at")
WINDOW_LENGTHS = ("week", "month")
CATEGORICAL_FIELDS = ("site", "manufacturer", "device_model", "software_version", "model_version")
DEFAULT_RULES = {
    "window": "month",
    "operating_point": 0.5,
    "cusum": {"in_control_arl": 500.0, "baseline_miss_rate": 0.10, "shifted_miss_rate": 0.25, "by_site": True},
    "drift": {"psi": 0.25, "p": 0.01, "attributes": ["score", "software_version", "manufacturer", "device_model"],
              "reference_windows": 1},
    "emails": [],
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MEMBER_ROLES = (Role.MONITOR, Role.COORDINATOR, Role.STATISTICIAN, Role.ADMIN)


# ---------------------------------------------------------------- rules


def validate_rules(rules) -> dict:
    """The rules with their defaults filled in; :class:`InvalidInput` names the first field it refuses."""
    if not isinstance(rules, dict):
        raise InvalidInput("the rules are a mapping", field="rules")
    _refuse_unknown(rules, DEFAULT_RULES, "rules")
    window = rules.get("window", DEFAULT_RULES["window"])
    if window not in WINDOW_LENGTHS:
        raise InvalidInput(f"a window is one {' or one '.join(WINDOW_LENGTHS)}, not {window!r}", field="window")
    operating_point = _number(rules.get("operating_point", DEFAULT_RULES["operating_point"]), "operating_point")
    cusum = _section(rules, "cusum")
    arl = _number(cusum["in_control_arl"], "cusum.in_control_arl")
    if not 10 <= arl <= 1_000_000:
        raise InvalidInput("the in-control average run length lies between 10 and 1000000 observations",
                           field="cusum.in_control_arl")
    p0 = _number(cusum["baseline_miss_rate"], "cusum.baseline_miss_rate")
    p1 = _number(cusum["shifted_miss_rate"], "cusum.shifted_miss_rate")
    if not 0 < p0 < 1:
        raise InvalidInput("a miss rate lies strictly between 0 and 1", field="cusum.baseline_miss_rate")
    if not p0 < p1 < 1:
        raise InvalidInput("the shifted miss rate the chart must detect lies above the baseline and below 1",
                           field="cusum.shifted_miss_rate")
    if not isinstance(cusum["by_site"], bool):
        raise InvalidInput("true or false", field="cusum.by_site")
    drift = _section(rules, "drift")
    psi = _number(drift["psi"], "drift.psi")
    if psi <= 0:
        raise InvalidInput("a PSI threshold is positive (0.25 marks a significant shift)", field="drift.psi")
    p = _number(drift["p"], "drift.p")
    if not 0 < p < 1:
        raise InvalidInput("a significance level lies strictly between 0 and 1", field="drift.p")
    attributes = drift["attributes"]
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise InvalidInput("a list of attribute names", field="drift.attributes")
    for attribute in attributes:
        if attribute not in ("score", *CATEGORICAL_FIELDS) and not ATTRIBUTE_NAME.match(attribute):
            raise InvalidInput(f"{attribute!r} is neither a field of a record nor an attribute name",
                               field="drift.attributes")
    reference = drift["reference_windows"]
    if not isinstance(reference, int) or isinstance(reference, bool) or not 1 <= reference <= 24:
        raise InvalidInput("the number of first windows drift is measured against, 1 to 24",
                           field="drift.reference_windows")
    emails = rules.get("emails", [])
    if not isinstance(emails, list) or not all(isinstance(e, str) and EMAIL.match(e) for e in emails):
        raise InvalidInput("a list of e-mail addresses", field="emails")
    return {
        "window": window,
        "operating_point": operating_point,
        "cusum": {"in_control_arl": arl, "baseline_miss_rate": p0, "shifted_miss_rate": p1,
                  "by_site": cusum["by_site"]},
        "drift": {"psi": psi, "p": p, "attributes": list(dict.fromkeys(attributes)), "reference_windows": reference},
        "emails": list(dict.fromkeys(emails)),
    }


def _section(rules: dict, name: str) -> dict:
    given = rules.get(name, {})
    if not isinstance(given, dict):
        raise InvalidInput("a mapping", field=name)
    _refuse_unknown(given, DEFAULT_RULES[name], name)
    return {**DEFAULT_RULES[name], **given}


def _refuse_unknown(given: dict, known: dict, where: str) -> None:
    for key in given:
        if key not in known:
            field = f"{where}.{key}".removeprefix("rules.")
            raise InvalidInput(f"unknown rule; known: {', '.join(known)}", field=field)


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"a number, not {value!r}", field=field)
    return float(value)


# ---------------------------------------------------------------- deployments and members


@transaction.atomic
def create_deployment(*, actor, name: str, device: str, model_name: str = "", description: str = "",
                      rules: dict | None = None, members: list[str] = ()) -> MonitoredDeployment:
    """A new deployment; its creator is a member (an admin is not made one: admins see every deployment)."""
    if MonitoredDeployment.objects.filter(name=name).exists():
        raise RuleViolation(f"a deployment named {name!r} exists", field="name")
    with audit.context(user=actor):
        deployment = MonitoredDeployment.objects.create(
            name=name, device=device, model_name=model_name, description=description,
            rules=validate_rules(rules or {}), created_by=actor)
    users = _member_users(members)
    if actor.role != Role.ADMIN and not actor.is_platform_admin:
        users.append(actor)
    _set_members(actor=actor, deployment=deployment, users=users)
    return deployment


@transaction.atomic
def update_deployment(*, actor, deployment: MonitoredDeployment, changes: dict) -> MonitoredDeployment:
    """Change a deployment's description, rules or members (usernames, replacing the list).

    New windows, operating point or drift thresholds have every window computed again at the next computation
    (windows of another length are removed); a new CUSUM design takes the outcomes confirmed from then on, the
    charts keeping their statistics."""
    deployment = MonitoredDeployment.objects.select_for_update().get(pk=deployment.pk)
    if MonitoredDeployment.objects.filter(name=changes.get("name")).exclude(pk=deployment.pk).exists():
        raise RuleViolation(f"a deployment named {changes['name']!r} exists", field="name")
    for field in ("name", "device", "model_name", "description"):
        if field in changes:
            setattr(deployment, field, changes[field])
    if "rules" in changes:
        before, deployment.rules = validate_rules(deployment.rules), validate_rules(changes["rules"])
        if before["window"] != deployment.rules["window"]:
            deployment.windows.all().delete()
        if any(before[key] != deployment.rules[key] for key in ("window", "operating_point", "drift")):
            deployment.state = {**deployment.state, "reference_end": None, "dirty": ["recompute"]}
    with audit.context(user=actor):
        deployment.save()
    if "members" in changes:
        _set_members(actor=actor, deployment=deployment, users=_member_users(changes["members"]))
    return deployment


def _member_users(usernames) -> list[User]:
    users = {user.username: user for user in User.objects.filter(username__in=list(usernames))}
    for username in usernames:
        user = users.get(username)
        if user is None:
            raise InvalidInput(f"no user {username!r}", field="members")
        if user.role not in MEMBER_ROLES and not user.is_platform_admin:
            raise InvalidInput(f"{username} is a {user.role}: readers and truthers never see field monitoring",
                               field="members")
    return list(users.values())


def _set_members(*, actor, deployment: MonitoredDeployment, users: list[User]) -> None:
    before = sorted(deployment.members.values_list("username", flat=True))
    deployment.members.set(users)
    after = sorted(user.username for user in users)
    if before != after:
        audit.record(action="deployment_members", entity="studies.MonitoredDeployment", entity_id=deployment.pk,
                     before={"members": before}, after={"members": after}, actor=actor)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ImportResult:
    created: int
    completed: int  # existing records that got their outcome
    unchanged: int

    @property
    def count(self) -> int:
        return self.created + self.completed + self.unchanged


def parse_csv(data: bytes) -> list[dict]:
    """Rows of a records CSV as :func:`import_records` takes them: the record's fields as columns, empty cells
    absent, ``attr_<name>`` columns gathered into ``attributes`` (numbers; a text is refused with its line)."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the file is not UTF-8 text (byte {error.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    for column in reader.fieldnames or []:
        if column not in RECORD_FIELDS and not column.startswith(ATTRIBUTE_PREFIX) or column == "attributes":
            raise InvalidInput(f"unknown column; a record has {', '.join(RECORD_FIELDS)} and {ATTRIBUTE_PREFIX}<name>"
                               " attributes (no patient data)", field=column, line=1)
    rows = []
    for row in reader:
        if None in row:
            raise InvalidInput("more cells than columns", line=reader.line_num)
        record, attributes = {}, {}
        for column, value in row.items():
            if value is None or value.strip() == "":
                continue
            value = value.strip()
            if column.startswith(ATTRIBUTE_PREFIX):
                attributes[column.removeprefix(ATTRIBUTE_PREFIX)] = _number_or_text(value)
            else:
                record[column] = value
        if attributes:
            record["attributes"] = attributes
        rows.append(record)
        if len(rows) > MAX_RECORDS_PER_IMPORT:
            raise InvalidInput(f"more than {MAX_RECORDS_PER_IMPORT} records in one import; split the file")
    return rows


def _number_or_text(value: str):
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def import_records(*, actor, deployment: MonitoredDeployment, rows: list, source: str,
                   first_line: int = 1) -> ImportResult:
    """Store the records (new ones, outcomes of known ones) all or none; one audit event for the import.

    Every problem is named by its line (``first_line`` for the first row: 2 for a CSV under its header) and field.
    """
    if not isinstance(rows, list):
        raise InvalidInput("a list of records", field="records")
    if len(rows) > MAX_RECORDS_PER_IMPORT:
        raise InvalidInput(f"more than {MAX_RECORDS_PER_IMPORT} records in one import; split them", field="records")
    with transaction.atomic():
        deployment = MonitoredDeployment.objects.select_for_update().get(pk=deployment.pk)
        parsed, errors = [], []
        for number, row in enumerate(rows, start=first_line):
            try:
                parsed.append((number, _parse_record(row)))
            except InvalidInput as error:
                errors.append(InvalidInput(error.message, line=number, field=error.field))
        result, stored_errors = _store(deployment, parsed, write=not errors)
        errors = sorted(errors + stored_errors, key=lambda error: error.line)
        if errors:
            first = errors[0]
            raise InvalidInput(first.message, line=first.line, field=first.field,
                               errors=[str(error) for error in errors[:100]])
        audit.record(action="field_records_imported", entity="studies.MonitoredDeployment", entity_id=deployment.pk,
                     actor=actor, after={"source": source[:200], "count": result.count, "created": result.created,
                                         "outcomes": result.completed, "unchanged": result.unchanged})
    return result


def _parse_record(row) -> dict:
    if not isinstance(row, dict):
        raise InvalidInput("a record is a mapping of its fields")
    for key in row:
        if key not in RECORD_FIELDS:
            raise InvalidInput("not a field of a field record (no patient data is taken)", field=str(key)[:64])
    key = row.get("case_key")
    if not isinstance(key, str) or not CASE_KEY.match(key):
        raise InvalidInput("a pseudonymous key of 1 to 64 letters, digits and . _ : -", field="case_key")
    record = {"case_key": key}
    for field, length in TEXT_FIELDS.items():
        if field in row:
            value = row[field]
            if not isinstance(value, str) or len(value) > length or (field in REQUIRED_FIELDS and not value.strip()):
                raise InvalidInput(f"text of at most {length} characters", field=field)
            record[field] = value.strip()
    if "score" in row:
        record["score"] = _finite(row["score"], "score")
    if "positive" in row:
        record["positive"] = _boolean(row["positive"], "positive")
    if "attributes" in row:
        record["attributes"] = _attributes(row["attributes"])
    for field in ("acquired_at", "outcome_at"):
        if field in row:
            record[field] = _moment(row[field], field)
    if "outcome" in row:
        outcome = row["outcome"]
        if outcome in (0, 1, "0", "1") and not isinstance(outcome, bool):
            record["outcome"] = int(outcome)
        else:
            raise InvalidInput("1 (diseased) or 0 (not)", field="outcome")
        record.setdefault("outcome_at", None)
    elif "outcome_at" in row:
        raise InvalidInput("an outcome's time without its outcome", field="outcome_at")
    return record


def _finite(value, field: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InvalidInput(f"a finite number, not {value!r}", field=field)
    return number


def _boolean(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise InvalidInput(f"true or false (1 or 0), not {value!r}", field=field)


def _attributes(value) -> dict:
    if not isinstance(value, dict) or len(value) > MAX_ATTRIBUTES:
        raise InvalidInput(f"a mapping of at most {MAX_ATTRIBUTES} acquisition attributes", field="attributes")
    for name, item in value.items():
        if not ATTRIBUTE_NAME.match(str(name)):
            raise InvalidInput("an attribute's name is lower-case letters, digits and _ (e.g. kvp)",
                               field=f"attributes.{str(name)[:40]}")
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            # numbers only: free text could carry what identifies a patient; categories have their own fields
            raise InvalidInput("a number (an acquisition parameter such as kvp or pixel_spacing)",
                               field=f"attributes.{name}")
    return value


def _moment(value, field: str) -> datetime:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise InvalidInput(f"an ISO 8601 date and time, not {value!r}", field=field)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _store(deployment: MonitoredDeployment, parsed: list, *, write: bool) -> tuple[ImportResult | None, list]:
    """Check the parsed records against those stored (and each other), and store them when all hold and ``write``."""
    keys = {record["case_key"] for _, record in parsed}
    known = {record.case_key: record for record in deployment.records.filter(case_key__in=keys)}
    cursor = deployment.state.get("cusum_cursor")
    cursor_at = parse_datetime(cursor[0]) if cursor else None
    operating_point = deployment.rules.get("operating_point", DEFAULT_RULES["operating_point"])
    now = timezone.now()
    new, completed, unchanged, errors, touched = {}, [], 0, [], set()

    def refuse(line, field, message):
        errors.append(InvalidInput(message, line=line, field=field))

    for line, record in parsed:
        key = record["case_key"]
        existing = known.get(key) or new.get(key)
        if existing is None:
            missing = [field for field in REQUIRED_FIELDS if field not in record]
            if missing:
                refuse(line, missing[0], f"a new record needs {', '.join(missing)}")
                continue
            if "positive" in record and record["positive"] != (record["score"] >= operating_point):
                refuse(line, "positive", f"the call contradicts the score at the operating point {operating_point}")
                continue
            existing = FieldRecord(deployment=deployment, **{field: value for field, value in record.items()})
            new[key] = existing
        else:
            conflict = next((field for field, value in record.items() if field not in ("outcome", "outcome_at")
                             and getattr(existing, field) != value), None)
            if conflict:
                refuse(line, conflict, f"case {key} was recorded with {conflict} {getattr(existing, conflict)!r}")
                continue
            if "outcome" not in record or existing.outcome == record["outcome"]:
                unchanged += existing.pk is not None
                continue
            if existing.outcome is not None:
                refuse(line, "outcome", f"case {key} has its confirmed outcome {existing.outcome} already")
                continue
            existing.outcome, existing.outcome_at = record["outcome"], record["outcome_at"]
            if existing.pk is not None:
                completed.append(existing)
        if existing.outcome is not None:
            existing.outcome_at = existing.outcome_at or now
            if existing.outcome_at < existing.acquired_at:
                refuse(line, "outcome_at", "the diagnosis is confirmed before the case was acquired")
            elif cursor_at and existing.outcome_at < cursor_at:
                refuse(line, "outcome_at", f"before {cursor_at.isoformat()}, the last outcome the performance chart"
                       " has used: outcomes are charted in the order of their confirmation")
        touched.add(existing.acquired_at)
    if errors or not write:
        return None, errors
    FieldRecord.objects.bulk_create(new.values(), batch_size=1000)
    FieldRecord.objects.bulk_update(completed, ["outcome", "outcome_at"], batch_size=1000)
    _mark_touched(deployment, touched)
    return ImportResult(len(new), len(completed), unchanged), []


def window_start(moment: datetime, length: str) -> datetime:
    """The start of the window holding ``moment``: the 1st of its month or its week's Monday, 00:00 UTC."""
    moment = moment.astimezone(UTC)
    if length == "month":
        return datetime(moment.year, moment.month, 1, tzinfo=UTC)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return day - timedelta(days=day.weekday())


def window_end(start: datetime, length: str) -> datetime:
    if length == "month":
        return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start + timedelta(days=7)



def _mark_touched(deployment: MonitoredDeployment, moments) -> None:
    """Note the windows whose records changed, for the next computation (unaudited bookkeeping)."""
    length = deployment.rules.get("window", DEFAULT_RULES["window"])
    starts = {window_start(moment, length).isoformat() for moment in moments}
    if not starts:
        return
    state = dict(deployment.state)
    state["dirty"] = sorted(set(state.get("dirty", [])) | starts)
    MonitoredDeployment.objects.filter(pk=deployment.pk).update(state=state)
    deployment.state = state


# ---------------------------------------------------------------- alarms


@transaction.atomic
def acknowledge_alarm(*, actor, alarm: MonitoringAlarm, note: str) -> MonitoringAlarm:
    alarm = MonitoringAlarm.objects.select_for_update().get(pk=alarm.pk)
    if alarm.acknowledged_at is not None:
        raise RuleViolation(f"acknowledged by {alarm.acknowledged_by.username} on {alarm.acknowledged_at:%Y-%m-%d}")
    if not note.strip():
        raise InvalidInput("say what was done about the alarm", field="note")
    alarm.acknowledged_by, alarm.acknowledged_at, alarm.note = actor, timezone.now(), note.strip()
    with audit.context(user=actor):
        alarm.save()
    return alarm


def send_alarm_emails(deployment: MonitoredDeployment) -> int:
    """E-mail each alarm not yet sent to the deployment's recipients, once: an alarm is claimed (its
    ``notified_at`` set) before its message goes, so two workers never send the same one. Where the
    mail server cannot take it, the claim is given back and the rest wait for the next computation:
    the alarm stays recorded and is sent once the server answers."""
    recipients = deployment.rules.get("emails", [])
    sent = 0
    for alarm in deployment.alarms.filter(notified_at__isnull=True).order_by("raised_at", "pk"):
        if not recipients:
            break
        claimed = MonitoringAlarm.objects.filter(pk=alarm.pk, notified_at__isnull=True)
        if not claimed.update(notified_at=timezone.now()):
            continue
        try:
            send_mail(subject=f"[{deployment.name}] monitoring alarm: {alarm_summary(alarm)}",
                      message=_alarm_message(deployment, alarm), from_email=settings.DEFAULT_FROM_EMAIL,
                      recipient_list=recipients)
        except (smtplib.SMTPException, OSError) as error:
            MonitoringAlarm.objects.filter(pk=alarm.pk).update(notified_at=None)
            logger.warning("monitoring alarm %s of deployment %s not e-mailed, kept for the next try: %s",
                           alarm.pk, deployment.pk, error)
            break
        sent += 1
    return sent


def alarm_summary(alarm: MonitoringAlarm) -> str:
    details = alarm.details
    group = details.get("group") or "all sites"
    if alarm.kind == "cusum":
        return (f"miss rate among confirmed positives rose ({group}): CUSUM {details['statistic']} "
                f"reached h = {details['threshold']} at case {details['case_key']}")
    return (f"drift of {details['attribute']} ({group}) in the window from {details['window_start'][:10]}: "
            f"PSI {details['psi']:.2f}, p = {details['p']:.2g}")


def _alarm_message(deployment: MonitoredDeployment, alarm: MonitoringAlarm) -> str:
    return (f"Deployment: {deployment.name} ({deployment.device})\n"
            f"Alarm: {alarm_summary(alarm)}\nRaised: {alarm.raised_at:%Y-%m-%d %H:%M} UTC\n\n"
            "Acknowledge it on the deployment's monitoring page once it has been looked into.\n")

