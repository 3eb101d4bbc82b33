"""Queries that several callers share."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from studies.models import Assignment, Read, ReadingSession, Study, User
from studies.services.schedule import session_state


@dataclass(frozen=True)
class WorklistSession:
    session: ReadingSession
    is_open: bool
    reason_closed: str
    n_assigned: int
    n_read: int
    next_assignment_id: int | None


def worklist(user: User, now: datetime | None = None) -> list[WorklistSession]:
    """A reader's sessions across studies, with progress and whether each can be read now."""
    now = now or timezone.now()
    first_unread = Assignment.objects.filter(session=OuterRef("pk"), read__isnull=True).order_by("order")
    sessions = (
        ReadingSession.objects.filter(reader__user=user)
        .filter(study__status__in=[Study.Status.ENROLLING, Study.Status.READING])  # locked work is done
        .select_related("study", "reader", "arm")
        .annotate(n_assigned=Count("assignments"), n_read=Count("assignments__read"),
                  next_assignment_id=Subquery(first_unread.values("id")[:1]))
        .order_by("study_id", "number")
    )
    return [
        WorklistSession(session, *session_state(session, now), session.n_assigned, session.n_read,
                        session.next_assignment_id)
        for session in sessions
    ]


def session_assignments(session: ReadingSession):
    return session.assignments.select_related("case", "arm").annotate(is_read=Count("read")).order_by("order")


def progress(study: Study) -> list[dict]:
    """Reads done and to do per reader × arm."""
    rows = (
        Assignment.objects.filter(session__study=study)
        .values("reader__code", "arm__name")
        .annotate(assigned=Count("id"), read=Count("read"))
        .order_by("reader__code", "arm__name")
    )
    return [
        {"reader": r["reader__code"], "arm": r["arm__name"], "assigned": r["assigned"], "read": r["read"]}
        for r in rows
    ]


def study_reads(study: Study):
    return Read.objects.filter(case__study=study).select_related("reader", "case", "arm").order_by(
        "reader__code", "arm__order", "case__label"
    )


READS_CSV_COLUMNS = [
    "reader",
    "treatment",
    "case",
    "truth",
    "rating",
    "decision",
    "n_marks",
    "opened_at",
    "first_image_at",
    "submitted_at",
    "duration_ms",
    "revision",
]


def reads_csv(study: Study) -> str:
    """Long table of final reads, one row per reader × arm × case (``python -m mrmc.stats`` reads it).

    Cases without truth are left out: they cannot enter an ROC analysis.
    """
    metadata_keys = sorted({key for meta in study.cases.values_list("metadata", flat=True) for key in meta or {}})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(READS_CSV_COLUMNS + metadata_keys)
    rows = study_reads(study).filter(case__truth__isnull=False).values_list(
        "reader__code", "arm__name", "case__label", "case__truth", "rating", "decision", "marks", "opened_at",
        "first_image_at", "client_submitted_at", "submitted_at", "duration_ms", "revision", "case__metadata",
    )
    for (reader, arm, case, truth, rating, decision, marks, opened, first_image, client_submitted, submitted,
         duration_ms, revision, metadata) in rows.iterator(chunk_size=5000):
        writer.writerow(
            [
                reader, arm, case, truth, f"{rating:g}",
                "" if decision is None else int(decision),
                len(marks),
                _iso(opened),
                _iso(first_image),
                _iso(client_submitted or submitted),
                "" if duration_ms is None else duration_ms,
                revision,
            ]
            + [metadata.get(key, "") for key in metadata_keys]
        )
    return out.getvalue()


def _iso(value):
    return value.isoformat() if value else ""


def case_counts(study: Study) -> dict:
    return study.cases.aggregate(
        n_cases=Count("id"),
        n_diseased=Count("id", filter=Q(truth=1)),
        n_normal=Count("id", filter=Q(truth=0)),
        n_without_truth=Count("id", filter=Q(truth__isnull=True)),
    )
