"""Submitting and revising reads: idempotent, one final read per reader × case × arm."""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.errors import AlreadyRead, InvalidInput, NotAllowed, NotFound, RuleViolation
from studies.models import Assignment, Read, ReadRevision, Study, User
from studies.models.bounds import INTEGER_MAX
from studies.permissions import Action, require
from studies.rules import revision_refusal, session_state, unaided_score_pending
from studies.selectors import shown_ai_output
from studies.services.interactions import checked_interactions
from studies.services.schedule import complete_session_if_done

REVISABLE_FIELDS = ("rating", "decision", "marks", "comment")


@dataclass(frozen=True)
class ReadInput:
    rating: float
    decision: bool | None = None
    marks: list | None = None
    comment: str = ""
    opened_at: datetime | None = None
    first_image_at: datetime | None = None
    client_submitted_at: datetime | None = None
    interactions: dict | None = None  # what the reader did (services.interactions); None: not sent


def submit_read(*, user: User, assignment_id: int, idempotency_key: uuid.UUID, values: ReadInput) -> tuple[Read, bool]:
    """Store a read; returns ``(read, created)``. A retry with the same key returns the stored read."""
    idempotency_key = uuid.UUID(str(idempotency_key))
    try:
        return _create_read(user, assignment_id, idempotency_key, values)
    except IntegrityError:
        # A concurrent request won the race (our own retry, or another read of this assignment), or the
        # key is already a read of another assignment: the unique constraints decide, never a lost write.
        existing = Read.objects.select_related("reader").filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, user, assignment_id), False
        raise AlreadyRead("this case has already been read in this arm") from None


def _replay(read: Read, user: User, assignment_id: int) -> Read:
    if read.reader.user_id != user.pk or read.assignment_id != assignment_id:
        raise RuleViolation("this idempotency key belongs to another read")
    return read


@transaction.atomic
def _create_read(user, assignment_id, idempotency_key, values: ReadInput) -> tuple[Read, bool]:
    assignment = _own_assignment(user, assignment_id, lock=True)
    # A retry finds its read here, whatever has changed since (the session may have closed). A twin that
    # committed while this request waited for the lock is not in the joined row: its read makes the
    # INSERT below fail on the unique constraints, and submit_read answers with it.
    stored = assignment.read if hasattr(assignment, "read") else None
    if stored is not None:
        if stored.idempotency_key == idempotency_key:
            return stored, False
        raise AlreadyRead("this case has already been read in this arm")
    study = assignment.session.study
    open_, why = session_state(assignment.session)
    if not open_:
        raise NotAllowed(why)
    if unaided_score_pending(assignment):
        raise RuleViolation("submit the unaided score for this case first")
    validate_values(study, values)
    interactions = checked_interactions(values.interactions)
    read = Read.objects.create(
        assignment=assignment,
        reader=assignment.reader,
        case_id=assignment.case_id,
        arm=assignment.arm,
        ai_output=shown_ai_output(assignment.case) if assignment.arm.shows_ai else None,
        idempotency_key=idempotency_key,
        duration_ms=reading_duration_ms(values),
        interactions=interactions,
        **_stored_values(values),
    )
    complete_session_if_done(assignment.session)
    return read, True


def _own_assignment(user, assignment_id, *, lock=False) -> Assignment:
    require(user, Action.READ_CASES)
    # The reader (through whom the audit trail finds the study) and the arm (the revision rule) are used.
    queryset = Assignment.objects.select_related("session__study", "reader", "arm")
    if lock:  # submitting: the read already stored, if any, comes in the same query
        queryset = queryset.select_related("read").select_for_update(of=("self",))
    assignment = queryset.filter(pk=assignment_id, reader__user=user).first()
    if assignment is None:  # the same answer whether it does not exist or is someone else's
        raise NotFound(f"no assignment {assignment_id} in your worklist")
    return assignment


def validate_values(study: Study, values: ReadInput) -> None:
    """A read's values against the study's scale, decision and marks, and its timestamps in order (a study read
    and a training read alike); InvalidInput naming the field otherwise."""
    low, high = study.rating_bounds
    rating = values.rating
    if not isinstance(rating, (int, float)) or isinstance(rating, bool) or not math.isfinite(rating):
        raise InvalidInput("must be a number", field="rating")
    if not low <= rating <= high:
        raise InvalidInput(f"{rating:g} is outside the scale [{low:g}, {high:g}]", field="rating")
    if study.rating_scale == Study.Scale.ORDINAL and rating != int(rating):
        raise InvalidInput("an ordinal rating must be a whole number", field="rating")
    if study.binary_decision and values.decision is None:
        raise InvalidInput("this study asks for a yes/no decision", field="decision")
    _validate_marks(study, values.marks or [])
    times = [t for t in (values.opened_at, values.first_image_at, values.client_submitted_at) if t]
    if times != sorted(times):
        raise InvalidInput("timestamps must be in order: opened, first image, submitted", field="opened_at")


def _validate_marks(study: Study, marks: list) -> None:
    if marks and not study.marks_enabled:
        raise InvalidInput("this study does not collect lesion marks", field="marks")
    if len(marks) > study.max_marks:
        raise InvalidInput(f"at most {study.max_marks} marks per case", field="marks")
    low, high = study.rating_bounds
    for i, mark in enumerate(marks):
        if not isinstance(mark, dict):
            raise InvalidInput(f"mark {i + 1} must be an object", field="marks")
        for key in ("x", "y", "confidence"):
            if not isinstance(mark.get(key), (int, float)) or isinstance(mark.get(key), bool):
                raise InvalidInput(f"mark {i + 1} needs a numeric '{key}'", field="marks")
        if not low <= mark["confidence"] <= high:
            raise InvalidInput(f"mark {i + 1} confidence is outside the scale", field="marks")


def _stored_values(values: ReadInput) -> dict:
    return {
        "rating": float(values.rating),
        "decision": values.decision,
        "marks": values.marks or [],
        "comment": values.comment or "",
        "opened_at": values.opened_at,
        "first_image_at": values.first_image_at,
        "client_submitted_at": values.client_submitted_at,
    }


def reading_duration_ms(values: ReadInput) -> int | None:
    """The reading time of a read from its opening to its submission by the client's clock (else now)."""
    if values.opened_at is None:
        return None
    end = values.client_submitted_at or timezone.now()
    duration = max(0, round((end - values.opened_at).total_seconds() * 1000))
    # Over 24 days "reading" one case says the client's clock is wrong, not how long it took.
    return duration if duration <= INTEGER_MAX else None


@transaction.atomic
def revise_read(*, user: User, read_id: int, idempotency_key: uuid.UUID, values: ReadInput, reason: str = "") -> Read:
    """Change a submitted read where the study allows it; the old values are kept as a revision."""
    done = ReadRevision.objects.filter(idempotency_key=idempotency_key).select_related("read").first()
    if done is not None:
        return _replay(done.read, user, done.read.assignment_id)
    read = Read.objects.select_for_update().filter(pk=read_id, reader__user=user).first()
    if read is None:
        raise NotFound(f"no read {read_id} of yours")
    assignment = _own_assignment(user, read.assignment_id)
    study = assignment.session.study
    refusal = revision_refusal(assignment)
    if refusal is not None:
        raise RuleViolation(refusal)
    validate_values(study, values)
    previous = {field: getattr(read, field) for field in REVISABLE_FIELDS}
    read.revision += 1
    ReadRevision.objects.create(
        read=read, revision=read.revision, previous=previous, changed_by=user, reason=reason,
        idempotency_key=idempotency_key,
    )
    for field in REVISABLE_FIELDS:
        setattr(read, field, getattr(values, field) if field != "marks" else (values.marks or []))
    read.rating = float(values.rating)
    read.save()
    return read
