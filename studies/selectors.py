"""Queries that several callers share."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.db.models import CharField, Count, Exists, F, OuterRef, Q, Subquery, Value
from django.utils import timezone

from studies.errors import NotFound
from studies.models import AIOutput, Assignment, Read, ReadingSession, Study, User
from studies.rules import (
    analysis_arm_rank,
    earlier_sessions_unfinished,
    revision_refusal,
    session_state,
    unaided_score_pending,
)


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
                  next_assignment_id=Subquery(first_unread.values("id")[:1]),
                  earlier_unfinished=earlier_sessions_unfinished())
        .order_by("study_id", "number")
    )
    return [
        WorklistSession(session, *session_state(session, now, earlier_unfinished=session.earlier_unfinished),
                        session.n_assigned, session.n_read, session.next_assignment_id)
        for session in sessions
    ]


@dataclass(frozen=True)
class ReaderSession:
    """One of a reader's sessions with its assignments (``is_read``, ``visible_study_instance_uid``)."""

    session: ReadingSession
    is_open: bool
    reason_closed: str
    assignments: list[Assignment]


def reader_session(user: User, session_id: int) -> ReaderSession:
    """A session of ``user``'s; the image UIDs only while it is open (the viewer prefetches with them)."""
    session = (
        ReadingSession.objects.select_related("study", "arm").filter(pk=session_id, reader__user=user).first()
    )
    if session is None:
        raise NotFound(f"no session {session_id} in your worklist")
    is_open, why = session_state(session)
    assignments = session.assignments.select_related("arm").annotate(
        is_read=Exists(Read.objects.filter(assignment=OuterRef("pk"))),
        visible_study_instance_uid=_uid_if(is_open),
    )
    return ReaderSession(session, is_open, why, list(assignments))


def _uid_if(is_open: bool):
    return F("case__study_instance_uid") if is_open else Value(None, output_field=CharField())


@dataclass(frozen=True)
class ReaderAssignment:
    """One case as the reader sees it: the AI output only where the arm and the design allow it."""

    assignment: Assignment
    is_open: bool
    reason_closed: str
    visible_study_instance_uid: str | None
    read: Read | None
    final_because: str | None  # why the read can no longer change
    ai_outputs: list[AIOutput] | None


def reader_assignment(user: User, assignment_id: int) -> ReaderAssignment:
    assignment = (
        Assignment.objects.select_related("session__study", "case", "arm", "read")
        .filter(pk=assignment_id, reader__user=user)
        .first()
    )
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id} in your worklist")
    is_open, why = session_state(assignment.session)
    read = assignment.read if hasattr(assignment, "read") else None  # joined above: no query
    shows_ai = is_open and assignment.arm.shows_ai and not unaided_score_pending(assignment)
    return ReaderAssignment(
        assignment=assignment,
        is_open=is_open,
        reason_closed=why,
        visible_study_instance_uid=assignment.case.study_instance_uid if is_open else None,
        read=read,
        final_because=revision_refusal(assignment) if read else None,
        ai_outputs=_shown_outputs(assignment.case) if shows_ai else None,
    )


def shown_ai_output(case) -> AIOutput | None:
    """The output of the study's shown set for ``case``: what the AI-aided arm shows, and what its reads record."""
    return AIOutput.objects.filter(case=case, output_set__shown=True).select_related("output_set").first()


def _shown_outputs(case) -> list[AIOutput]:
    output = shown_ai_output(case)
    return [output] if output else []


def study_cases(study: Study):
    """The cases a study reads and analyses: all but its training cases, which readers read only to qualify
    (never scheduled, never in a progress count, an export or an analysis)."""
    return study.cases.filter(is_training=False)


def analysed_cases(study: Study):
    """The study cases an analysis takes: all but those the coordinator excluded from it (with a reason, kept in
    the exports; ``studies.services.accountability``)."""
    return study_cases(study).filter(excluded_reason="")


def progress(study: Study) -> list[dict]:
    """Reads done and to do per reader × arm (of study cases: a case flagged for training later no longer counts)."""
    rows = (
        Assignment.objects.filter(session__study=study, case__is_training=False)
        .values("reader__code", "arm__name")
        .annotate(assigned=Count("id"), read=Count("read"))
        .order_by("reader__code", "arm__name")
    )
    return [
        {"reader": r["reader__code"], "arm": r["arm__name"], "assigned": r["assigned"], "read": r["read"]}
        for r in rows
    ]


def study_reads(study: Study):
    """A study's reads arm by arm in analysis order (``rules.analysis_arm_order``: AI arms first), so that a
    reads export lists its arms in that order and every analysis of it takes AI minus control."""
    return (
        Read.objects.filter(case__study=study, case__is_training=False)  # a flag set after reading: still not analysed
        .select_related("reader", "case", "arm")
        .annotate(analysis_arm=analysis_arm_rank(study))
        .order_by("analysis_arm", "reader__code", "case__label")
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
    "ai_model",  # the AI output shown (AI-aided arms): model name and version
    "ai_model_sha256",  # and the model file's hash, where the platform computed the output
    # What the reader did (Read.interactions, studies.services.interactions); empty for a read without a record:
    "image_dwell_ms",  # the times the case's images were viewed, added up
    "images_viewed",  # the images viewed at all
    "wl_changes",
    "zoom_changes",
    "pan_changes",
    "ai_toggles",
    "excluded_reason",  # why the case is excluded from the analysis (exports only: the analysis leaves it out)
]


def case_metadata_names(study: Study) -> list[str]:
    """The metadata variables of the study's cases, sorted: the reads export's extra columns."""
    return sorted({key for meta in study_cases(study).values_list("metadata", flat=True) for key in meta or {}})


def reads_csv(study: Study, *, with_excluded: bool = False) -> str:
    """Long table of final reads, one row per reader × arm × case (``python -m mrmc.stats`` reads it).

    Cases without truth are left out: they cannot enter an ROC analysis. So are the cases excluded from the
    analysis (``Case.excluded_reason``), unless ``with_excluded`` (the exports): their rows then say why, and
    ``mrmc.stats`` skips them.
    """
    metadata_keys = case_metadata_names(study)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(READS_CSV_COLUMNS + metadata_keys)
    reads = study_reads(study).filter(case__truth__isnull=False)
    rows = (reads if with_excluded else reads.filter(case__excluded_reason="")).values_list(
        "reader__code", "arm__name", "case__label", "case__truth", "rating", "decision", "marks", "opened_at",
        "first_image_at", "client_submitted_at", "submitted_at", "duration_ms", "revision", "case__metadata",
        "ai_output__model_name", "ai_output__model_version", "ai_output__output_set__model__sha256", "interactions",
        "case__excluded_reason",
    )
    for (reader, arm, case, truth, rating, decision, marks, opened, first_image, client_submitted, submitted,
         duration_ms, revision, metadata, ai_name, ai_version, ai_sha256,
         interactions, excluded_reason) in rows.iterator(chunk_size=5000):
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
                f"{ai_name} {ai_version}" if ai_name else "",
                ai_sha256 or "",
                *_interaction_columns(interactions),
                excluded_reason,
            ]
            + [metadata.get(key, "") for key in metadata_keys]
        )
    return out.getvalue()


def _iso(value):
    return value.isoformat() if value else ""


def _interaction_columns(record: dict) -> list:
    """A read's interaction record (version 1, checked when stored) as the export's columns."""
    if not record:
        return [""] * 6
    times = [ms for _, _, ms in record["images"]]
    return [sum(times), sum(1 for ms in times if ms > 0), record["wl"], record["zoom"], record["pan"],
            record["ai_toggles"]]


def case_counts(study: Study) -> dict:
    return study_cases(study).aggregate(
        n_cases=Count("id"),
        n_diseased=Count("id", filter=Q(truth=1)),
        n_normal=Count("id", filter=Q(truth=0)),
        n_without_truth=Count("id", filter=Q(truth__isnull=True)),
    )
