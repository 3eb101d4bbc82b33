"""Protocol deviations: found by the platform or recorded by the coordinator, classified major or minor by the
protocol's rules (``Study.deviation_rules``), and reviewed by the coordinator.

What :func:`detect` finds (Celery beat runs it on the studies being read, a coordinator on demand). Each finding
has a key (``ProtocolDeviation.key``), so it is stored once; a later run refreshes a finding not yet reviewed
whose facts changed (a session still unfinished grows later), and leaves a reviewed one as the reviewer left it.

- ``late_session``: a session finished after its reading window closed (``session_window_days`` after it
  opened), or still unfinished after that while the study reads; sized by the days late.
- ``washout_shortened``: an audited change that moved a session's opening earlier, to less than the study's
  washout after the reader finished the session before; sized by the washout left, and naming who made it.
- ``read_outside_window``: a read made less than the washout after the reader's read of the same case in an
  earlier session (whatever made the session open early); sized by that interval.
- ``revision``: a read revised (``ReadRevision``), with its reason.
- ``technical_failure``: a read scored although its first image never showed (opened, no ``first_image_at``),
  and a job of the study that failed once its schedule existed.

Rules, as the protocol's ``deviation_rules:`` block gives them (:func:`validate_rules` names what it refuses)::

    session_window_days: 14                     # a session is read within this many days of opening
    late_session: {major_after_days: 7}         # major when later than this, minor otherwise
    washout_shortened: {major_below_days: 14}   # major when the washout left is shorter than this
    read_outside_window: {major_below_days: 14}
    revision: minor                             # a kind given a severity outright
    technical_failure: major
    default: minor                              # every kind not named (minor when not given)

Without ``session_window_days`` a session's window is ``MONITOR_OVERDUE_DAYS``, the monitor's "overdue".
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import AuditEvent, Job, ProtocolDeviation, Read, ReadingSession, ReadRevision, Study, User
from studies.permissions import Action, require
from studies.services import audit

Kind, Severity, Source = ProtocolDeviation.Kind, ProtocolDeviation.Severity, ProtocolDeviation.Source
WINDOW_KEY, DEFAULT_KEY = "session_window_days", "default"
THRESHOLDS = {  # kinds sized in days, and the rule that makes them major
    Kind.LATE_SESSION: "major_after_days",
    Kind.WASHOUT_SHORTENED: "major_below_days",
    Kind.READ_OUTSIDE_WINDOW: "major_below_days",
}
MAX_DAYS = 3650
DETECTED_STATUSES = (Study.Status.READING, Study.Status.LOCKED, Study.Status.ANALYZED)


# ------------------------------------------------------------------------------------------------ rules


def validate_rules(rules) -> dict:
    """``rules`` when they are deviation rules as the module describes; else InvalidInput naming the entry."""
    if not isinstance(rules, dict):
        raise InvalidInput("a mapping of deviation kind to a severity or a rule", field="deviation_rules")
    for key, value in rules.items():
        where = f"deviation_rules.{key}"
        if key == WINDOW_KEY:
            _days(value, where)
        elif key == DEFAULT_KEY:
            _severity(value, where)
        elif key in Kind.values:
            _kind_rule(key, value, where)
        else:
            raise InvalidInput(f"not a deviation kind; expected {WINDOW_KEY}, {DEFAULT_KEY} or one of "
                               f"{', '.join(Kind.values)}", field=where)
    return rules


def _kind_rule(kind: str, value, where: str) -> None:
    if not isinstance(value, dict):
        _severity(value, where)
        return
    threshold = THRESHOLDS.get(kind)
    if threshold is None:
        raise InvalidInput("takes a severity (major or minor): this kind has no size to compare", field=where)
    if set(value) != {threshold}:
        raise InvalidInput(f"takes exactly one rule, {threshold}: a number of days", field=where)
    _days(value[threshold], f"{where}.{threshold}")


def _severity(value, where: str) -> None:
    if value not in Severity.values:
        raise InvalidInput(f"must be major or minor, not {value!r}", field=where)


def _days(value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DAYS:
        raise InvalidInput(f"must be a number of days from 0 to {MAX_DAYS}, not {value!r}", field=where)


@transaction.atomic
def set_rules(*, actor: User, study: Study, rules: dict) -> Study:
    """Make ``rules`` the study's deviation rules; pre-specified, so fixed once reading starts."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status not in (Study.Status.DRAFT, Study.Status.ENROLLING):
        raise RuleViolation(f"the deviation rules are fixed once reading starts; the study is {study.status}",
                            field="deviation_rules")
    study.deviation_rules = validate_rules(rules)
    study.save(update_fields=["deviation_rules", "updated_at"])
    return study


def window_days(study: Study) -> float:
    """How many days after it opens a session of ``study`` is to be read."""
    return study.deviation_rules.get(WINDOW_KEY, settings.MONITOR_OVERDUE_DAYS)


def rules_text(rules: dict, window: float) -> str:
    """The rules in words, as the console and the report state them."""
    stated = "; ".join(f"{Kind(key).label if key in Kind.values else key}: {_rule_text(value)}"
                       for key, value in rules.items() if key != WINDOW_KEY)
    return (f"A session is to be read within {window:g} days of opening. Classification: "
            f"{stated or 'none given, so every deviation is minor'}.")


def _rule_text(value) -> str:
    if isinstance(value, dict):
        (name, days), = value.items()
        return f"major when {'more' if name == 'major_after_days' else 'fewer'} than {days:g} days, else minor"
    return value


@dataclass(frozen=True)
class Classification:
    severity: str
    rule: str


def classify(rules: dict, kind: str, days: float | None = None) -> Classification:
    """The severity the rules give a deviation of ``kind`` sized ``days`` (where its kind has a size)."""
    value = rules.get(kind)
    if isinstance(value, dict) and days is not None:
        (name, limit), = value.items()
        major = days > limit if name == "major_after_days" else days < limit
        return Classification(Severity.MAJOR if major else Severity.MINOR, f"{kind}.{name}: {limit:g}")
    if isinstance(value, str):
        return Classification(value, kind)
    return Classification(rules.get(DEFAULT_KEY, Severity.MINOR), DEFAULT_KEY)


# ------------------------------------------------------------------------------------------------ detection


@dataclass
class Finding:
    key: str
    kind: str
    description: str
    occurred_at: datetime
    days: float | None = None
    details: dict = field(default_factory=dict)
    reader_id: int | None = None
    session_id: int | None = None
    case_id: int | None = None
    read_id: int | None = None


@dataclass(frozen=True)
class Detection:
    created: int
    updated: int
    found: int


def detect_all(now: datetime | None = None) -> dict[int, Detection]:
    """Celery beat: :func:`detect` on every study being read."""
    return {study.pk: detect(study=study, now=now) for study in Study.objects.filter(status=Study.Status.READING)}


@transaction.atomic
def detect_now(*, actor: User, study: Study) -> Detection:
    """A coordinator asks for a detection run now (audited with what it found)."""
    require(actor, Action.CHANGE_STUDY, study)
    result = detect(study=study)
    audit.record(action="deviations_detected", entity="studies.Study", entity_id=study.pk, study_id=study.pk,
                 actor=actor, after=asdict(result))
    return result


@transaction.atomic
def detect(*, study: Study, now: datetime | None = None) -> Detection:
    """Store what departed from the protocol in ``study`` so far, each finding once (see the module)."""
    study = Study.objects.select_for_update().get(pk=study.pk)  # one detection at a time per study
    if study.status not in DETECTED_STATUSES:
        return Detection(0, 0, 0)
    now = now or timezone.now()
    findings = [*_late_sessions(study, now), *_shortened_washouts(study), *_reads_outside_window(study),
                *_revisions(study), *_technical_failures(study)]
    stored = {deviation.key: deviation for deviation in study.deviations.exclude(key="")}
    created = updated = 0
    for finding in findings:
        deviation = stored.get(finding.key)
        if deviation is None:
            ProtocolDeviation.objects.create(study=study, source=Source.DETECTED, **_values(study, finding))
            created += 1
        elif deviation.reviewed_at is None and _refreshed(deviation, _values(study, finding)):
            updated += 1
    return Detection(created, updated, len(findings))


def _values(study: Study, finding: Finding) -> dict:
    classification = classify(study.deviation_rules, finding.kind, finding.days)
    details = {**finding.details, **({"days": finding.days} if finding.days is not None else {})}
    return {"key": finding.key, "kind": finding.kind, "severity": classification.severity,
            "rule": classification.rule, "description": finding.description, "details": audit.json_safe(details),
            "occurred_at": finding.occurred_at, "reader_id": finding.reader_id, "session_id": finding.session_id,
            "case_id": finding.case_id, "read_id": finding.read_id}


def _refreshed(deviation: ProtocolDeviation, values: dict) -> bool:
    changed = {name: value for name, value in values.items() if getattr(deviation, name) != value}
    for name, value in changed.items():
        setattr(deviation, name, value)
    if changed:
        deviation.save(update_fields=list(changed))
    return bool(changed)


def _days_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 86400, 1)


def _late_sessions(study: Study, now: datetime):
    window = window_days(study)
    sessions = (ReadingSession.objects.filter(study=study).select_related("reader", "arm")
                .annotate(last_read=Max("assignments__read__submitted_at"), n_assigned=Count("assignments"),
                          n_read=Count("assignments__read")))
    for session in sessions:
        closes_at = session.opens_at + timedelta(days=window)
        finished = session.completed_at
        if finished is None and study.status != Study.Status.READING:
            continue  # never finished: the accountability table counts its cases as partly read
        end = finished or now
        if end <= closes_at:
            continue
        days = _days_between(closes_at, end)
        state = f"finished {days:g} days late" if finished else f"unfinished, {days:g} days past its window"
        late_reads = session.assignments.filter(read__submitted_at__gt=closes_at).count()
        yield Finding(
            key=f"session:{session.pk}:late", kind=Kind.LATE_SESSION, occurred_at=closes_at, days=days,
            description=f"Reader {session.reader.code}, session {session.number}: {state} (window {window:g} days "
                        f"from {session.opens_at:%Y-%m-%d}); {late_reads} of its {session.n_assigned} reads made "
                        "after the window closed",
            details={"window_days": window, "opens_at": session.opens_at, "closes_at": closes_at,
                     "completed_at": finished, "reads_after_window": late_reads, "assigned": session.n_assigned,
                     "read": session.n_read},
            reader_id=session.reader_id, session_id=session.pk)


def _shortened_washouts(study: Study):
    sessions = {session.pk: session for session in ReadingSession.objects.filter(study=study).select_related("reader")}
    by_number = {(s.reader_id, s.number): s for s in sessions.values()}
    events = AuditEvent.objects.filter(study_id=study.pk, entity=ReadingSession._meta.label, action="update")
    for event in events:
        before, after = (parse_datetime(str((values or {}).get("opens_at"))) for values in (event.before, event.after))
        session = sessions.get(int(event.entity_id))
        if not (before and after and after < before and session):
            continue
        previous = by_number.get((session.reader_id, session.number - 1))
        if previous is None or previous.completed_at is None or previous.completed_at > event.at:
            continue  # no washout to shorten yet: finishing the previous session sets it in full
        left = _days_between(previous.completed_at, after)
        if left >= study.washout_days:
            continue
        who = event.actor_username or "the platform"
        yield Finding(
            key=f"audit:{event.seq}", kind=Kind.WASHOUT_SHORTENED, occurred_at=event.at, days=left,
            description=f"{who} moved the opening of reader {session.reader.code}'s session {session.number} from "
                        f"{before:%Y-%m-%d %H:%M} to {after:%Y-%m-%d %H:%M} UTC: {left:g} days of washout after "
                        f"session {previous.number} instead of {study.washout_days}",
            details={"changed_by": who, "audit_seq": event.seq, "opens_at_before": before, "opens_at_after": after,
                     "previous_completed_at": previous.completed_at, "washout_days": study.washout_days},
            reader_id=session.reader_id, session_id=session.pk)


def _reads_outside_window(study: Study):
    if not study.washout_days:
        return
    reads = (Read.objects.filter(case__study=study, case__is_training=False)
             .select_related("reader", "case", "arm", "assignment__session").order_by("submitted_at", "id"))
    earlier: dict[tuple[int, int], list[Read]] = defaultdict(list)  # (reader, case) -> reads so far
    for read in reads:
        number = read.assignment.session.number
        before = [other for other in earlier[read.reader_id, read.case_id]
                  if other.assignment.session.number < number]
        earlier[read.reader_id, read.case_id].append(read)
        if not before:
            continue
        last = before[-1]
        interval = _days_between(last.submitted_at, read.submitted_at)
        if interval >= study.washout_days:
            continue
        yield Finding(
            key=f"read:{read.pk}:window", kind=Kind.READ_OUTSIDE_WINDOW, occurred_at=read.submitted_at, days=interval,
            description=f"Reader {read.reader.code} read case {read.case.label} in arm {read.arm.name} {interval:g} "
                        f"days after reading it in arm {last.arm.name} (washout {study.washout_days} days)",
            details={"earlier_read": last.pk, "earlier_arm": last.arm.name, "earlier_submitted_at": last.submitted_at,
                     "washout_days": study.washout_days},
            reader_id=read.reader_id, session_id=read.assignment.session_id, case_id=read.case_id, read_id=read.pk)


def _revisions(study: Study):
    revisions = (ReadRevision.objects.filter(read__case__study=study)
                 .select_related("read__reader", "read__case", "read__arm", "read__assignment", "changed_by"))
    for revision in revisions:
        read = revision.read
        reason = f": {revision.reason}" if revision.reason else " (no reason given)"
        yield Finding(
            key=f"revision:{revision.pk}", kind=Kind.REVISION, occurred_at=revision.changed_at,
            description=f"Reader {read.reader.code} revised the read of case {read.case.label} in arm "
                        f"{read.arm.name} (revision {revision.revision}){reason}",
            details={"revision": revision.revision, "reason": revision.reason, "previous": revision.previous},
            reader_id=read.reader_id, session_id=read.assignment.session_id, case_id=read.case_id, read_id=read.pk)


def _technical_failures(study: Study):
    blank = (Read.objects.filter(case__study=study, case__is_training=False, opened_at__isnull=False,
                                 first_image_at__isnull=True)
             .select_related("reader", "case", "arm", "assignment"))
    for read in blank:
        yield Finding(
            key=f"read:{read.pk}:no_image", kind=Kind.TECHNICAL_FAILURE, occurred_at=read.submitted_at,
            description=f"Reader {read.reader.code} scored case {read.case.label} in arm {read.arm.name} without its "
                        "first image ever showing",
            details={"opened_at": read.opened_at}, reader_id=read.reader_id,
            session_id=read.assignment.session_id, case_id=read.case_id, read_id=read.pk)
    if study.schedule_generated_at is None:
        return
    failed = Job.objects.filter(study=study, status=Job.Status.FAILED, created_at__gte=study.schedule_generated_at)
    for job in failed:
        yield Finding(
            key=f"job:{job.pk}", kind=Kind.TECHNICAL_FAILURE, occurred_at=job.finished_at or job.created_at,
            description=f"Job {job.pk} ({job.kind}) failed: {job.message[:300] or 'no message'}",
            details={"job": job.pk, "job_kind": job.kind})


# ------------------------------------------------------------------------------------------------ by hand


@transaction.atomic
def record_deviation(*, actor: User, study: Study, kind: str, description: str, occurred_at: datetime | None = None,
                     severity: str | None = None, reader_code: str = "", case_label: str = "") -> ProtocolDeviation:
    """A deviation the coordinator records; its severity is the rules' for its kind unless given."""
    require(actor, Action.CHANGE_STUDY, study)
    if kind not in Kind.values:
        raise InvalidInput(f"kind must be one of {', '.join(Kind.values)}, not {kind!r}")
    if not description.strip():
        raise InvalidInput("description: say what departed from the protocol")
    if severity is not None:
        _severity(severity, "severity")
    reader = study.readers.filter(code=reader_code).first() if reader_code else None
    if reader_code and reader is None:
        raise InvalidInput(f"reader: no reader {reader_code!r} in this study")
    case = study.cases.filter(label=case_label).first() if case_label else None
    if case_label and case is None:
        raise InvalidInput(f"case: no case {case_label!r} in this study")
    classification = classify(study.deviation_rules, kind)
    return ProtocolDeviation.objects.create(
        study=study, kind=kind, source=Source.RECORDED, description=description.strip(),
        severity=severity or classification.severity, rule="" if severity else classification.rule,
        occurred_at=occurred_at or timezone.now(), reader=reader, case=case, details={"recorded_by": actor.username})


@transaction.atomic
def review_deviation(*, actor: User, study: Study, deviation_id: int, note: str,
                     severity: str | None = None) -> ProtocolDeviation:
    """The coordinator reviews a deviation: a note always, and a new severity with the note as its reason."""
    require(actor, Action.CHANGE_STUDY, study)
    deviation = study.deviations.select_for_update().filter(pk=deviation_id).first()
    if deviation is None:
        raise NotFound(f"no deviation {deviation_id} in this study")
    if not note.strip():
        raise InvalidInput("note: say what the review found (and, changing the severity, why)")
    if severity is not None:
        _severity(severity, "severity")
        if severity != deviation.severity:
            deviation.details = {**deviation.details, "reclassified_from": deviation.severity}
            deviation.severity = severity
    deviation.review_note = note.strip()
    deviation.reviewed_by = actor
    deviation.reviewed_at = timezone.now()
    deviation.save()
    return deviation


def deviation_list(study: Study, *, kind: str = "", severity: str = "", reviewed: bool | None = None):
    """A study's deviations in the order they happened, filtered as asked."""
    deviations = study.deviations.select_related("reader", "case", "session", "reviewed_by")
    if kind:
        deviations = deviations.filter(kind=kind)
    if severity:
        deviations = deviations.filter(severity=severity)
    if reviewed is not None:
        deviations = deviations.filter(reviewed_at__isnull=not reviewed)
    return deviations.order_by("occurred_at", "id")


def deviation_log(study: Study) -> dict:
    """Counts by kind and severity, each with how many are reviewed, and every deviation: the report's log."""
    deviations = list(deviation_list(study))
    counts = (study.deviations.values("kind", "severity")
              .annotate(n=Count("id"), reviewed=Count("id", filter=Q(reviewed_at__isnull=False)))
              .order_by("kind", "severity"))
    return {
        "counts": [{"kind": row["kind"], "kind_label": Kind(row["kind"]).label, "severity": row["severity"],
                    "n": row["n"], "reviewed": row["reviewed"]} for row in counts],
        "deviations": [_logged(deviation) for deviation in deviations],
        "rules": study.deviation_rules, "window_days": window_days(study),
    }


def _logged(deviation: ProtocolDeviation) -> dict:
    return audit.json_safe({
        "id": deviation.pk, "kind": deviation.kind, "severity": deviation.severity, "rule": deviation.rule,
        "source": deviation.source, "description": deviation.description, "occurred_at": deviation.occurred_at,
        "reader": deviation.reader.code if deviation.reader else "",
        "case": deviation.case.label if deviation.case else "",
        "reviewed_at": deviation.reviewed_at,
        "reviewed_by": deviation.reviewed_by.username if deviation.reviewed_by else "",
        "review_note": deviation.review_note,
        "reclassified_from": deviation.details.get("reclassified_from", ""),
    })

