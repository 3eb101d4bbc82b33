"""Read-side rules of reading: when a session is open, when the AI may show, when a read is final.

Predicates only, no writes: the services enforce them when something changes, the selectors and
permissions when something is shown. Each rule is written once; where a caller needs it for many
rows at a time it also has a queryset form built from the same parts.
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from operator import attrgetter
from typing import TypeVar

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from studies.models import Assignment, ReadingSession, Study

ArmT = TypeVar("ArmT")

NOT_QUALIFIED = "qualify on the study's training cases first"
TRAINING_STATUSES = (Study.Status.ENROLLING, Study.Status.READING)


def _unfinished_sessions_before(reader, number) -> QuerySet:
    """The reader's sessions numbered below ``number`` and not completed (values or ``OuterRef``s)."""
    return ReadingSession.objects.filter(reader=reader, number__lt=number, completed_at__isnull=True)


def earlier_sessions_unfinished() -> Exists:
    """Per session of a queryset: whether an earlier session of its reader is not completed."""
    return Exists(_unfinished_sessions_before(OuterRef("reader"), OuterRef("number")))


def session_state(
    session: ReadingSession, now: datetime | None = None, *, earlier_unfinished: bool | None = None
) -> tuple[bool, str]:
    """Whether the reader may read in ``session`` now, and if not, why.

    ``earlier_unfinished``: :func:`earlier_sessions_unfinished` where the caller annotated it, else asked.
    """
    now = now or timezone.now()
    if session.completed_at is not None:
        return False, "session completed"
    if session.study.status != Study.Status.READING:
        return False, f"the study is {session.study.status}, not open for reading"
    if awaiting_qualification(session):
        return False, NOT_QUALIFIED
    if now < session.opens_at:
        return False, f"this session opens on {session.opens_at:%Y-%m-%d %H:%M} UTC (washout)"
    if earlier_unfinished is None:  # sessions are numbered from 1: the first has none before it (and no query)
        earlier = _unfinished_sessions_before(session.reader_id, session.number)
        earlier_unfinished = session.number > 1 and earlier.exists()
    if earlier_unfinished:
        return False, "finish the previous session first"
    return True, ""


def open_sessions(now: datetime | None = None) -> QuerySet:
    """The sessions :func:`session_state` calls open at ``now``, as one query."""
    now = now or timezone.now()
    return ReadingSession.objects.filter(
        completed_at__isnull=True, study__status=Study.Status.READING, opens_at__lte=now
    ).exclude(Q(reader__qualified_at__isnull=True) & ~Q(study__qualification={})).filter(~earlier_sessions_unfinished())


def awaiting_qualification(session: ReadingSession) -> bool:
    """Whether the session's study asks its readers to qualify (a qualification rule) and its reader has not yet:
    until then none of their sessions opens. A study without a rule asks nothing (and costs no query here)."""
    return bool(session.study.qualification) and session.reader.qualified_at is None


def training_state(study: Study) -> tuple[bool, str]:
    """Whether the study's training cases can be read now, and if not, why."""
    if study.status not in TRAINING_STATUSES:
        return False, f"the study is {study.status}: training is open while it is enrolling or reading"
    return True, ""


def unaided_score_pending(assignment: Assignment) -> bool:
    """Sequential design: whether an earlier (unaided) read of this case in the session is still missing.

    Until it is in, the AI output stays hidden and the aided score cannot be submitted.
    """
    if assignment.session.study.design != Study.Design.SEQUENTIAL:
        return False
    return Assignment.objects.filter(
        session=assignment.session_id, case=assignment.case_id, order__lt=assignment.order, read__isnull=True
    ).exists()


def revision_refusal(assignment: Assignment) -> str | None:
    """Why the read of ``assignment`` cannot be revised now, or None when it can."""
    study = assignment.session.study
    if study.revision_policy != Study.RevisionPolicy.AUDITED:
        return "submitted reads are final in this study"
    if study.status != Study.Status.READING:
        return f"the study is {study.status}; reads can no longer change"
    if not assignment.arm.shows_ai and _ai_output_available(assignment):
        return "the AI output for this case is open to you in an aided reading, so your unaided read of it is final"
    return None


def _ai_output_available(assignment: Assignment) -> bool:
    """Whether the reader's aided assignment of the same case is in a session that has opened.

    From then on the reader may have seen the AI output for the case (sequential design: at
    once), and changing the unaided read would measure reading with the AI, not without it.
    """
    return Assignment.objects.filter(
        reader_id=assignment.reader_id,
        case_id=assignment.case_id,
        arm__shows_ai=True,
        session__opens_at__lte=timezone.now(),
    ).exists()


def analysis_arm_order(
    arms: Iterable[ArmT], *, shows_ai: Callable[[ArmT], bool] = attrgetter("shows_ai")
) -> list[ArmT]:
    """The order in which analyses and exports list a study's arms: the arms that show the AI first, then the
    others, each group in the order given (the study's arm order). Every "first minus second" difference of
    an analysis is then AI minus control, and so are the exports' arm orders."""
    return sorted(arms, key=lambda arm: not shows_ai(arm))  # stable: keeps the study's order within each group


def analysis_arm_rank(study: Study) -> Case:
    """Per read of a queryset: its arm's position in :func:`analysis_arm_order` (for ``order_by``)."""
    ranks = [When(arm_id=arm.pk, then=Value(rank)) for rank, arm in enumerate(analysis_arm_order(study.arms.all()))]
    return Case(*ranks, default=Value(len(ranks)), output_field=IntegerField())
