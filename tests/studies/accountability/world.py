"""A study being read with planted departures from its protocol, each known by construction.

Four cases (C000..C003; more where asked, read as the first four are), three readers, one arm per session in
the schedule of seed 1 (reader1 and reader3 read unaided first, reader2 aided first; reader2's second session
starts with C001 and C000), washout 28 days, reading window 14 days. Day numbers count from ``T0``; the
detection runs on day 70 (``NOW``):

- reader1 reads session 1 on day 1 (finishing it); session 2 was to open on day 29, and the admin moves it to
  day 11: 10 days of washout (a shortened washout, major below 14); reader1 reads its four cases on day 12,
  11 days after reading them unaided (four reads outside the window, major below 14);
- reader2 finishes session 1 on day 20, 6 days after its window closed on day 14 (a late session, minor up to
  7 days); session 2 opens on day 48, reader2 reads two cases on day 49 and stops: on day 70 it is 8 days past
  its window, which closed on day 62 (late, major);
- reader3 finishes session 1 on day 2, revises the read of C000 (a revision, minor) and scored C001 without its
  image ever showing (a technical failure, major); session 2 opens on day 30 and nothing is read: on day 70 it
  is 26 days past its window (late, major);
- a job of the study failed once the schedule existed (a technical failure, major).
"""

import uuid
from datetime import UTC, datetime, timedelta

from studies.models import Job, Read, ReadingSession, ReadRevision, Role, Study
from studies.services import audit
from tests.conftest import create_study, create_user

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=70)
RULES = {"session_window_days": 14, "late_session": {"major_after_days": 7},
         "washout_shortened": {"major_below_days": 14}, "read_outside_window": {"major_below_days": 14},
         "revision": "minor", "technical_failure": "major", "default": "minor"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def session(study: Study, reader: str, number: int) -> ReadingSession:
    return ReadingSession.objects.get(study=study, reader__user__username=reader, number=number)


def read(assignment, when: datetime, *, rating: float = 50.0, image_shown: bool = True) -> Read:
    """A read as the workstation stores it, submitted at ``when``."""
    shown = when - timedelta(minutes=1) if image_shown else None
    created = Read.objects.create(
        assignment=assignment, reader=assignment.reader, case=assignment.case, arm=assignment.arm, rating=rating,
        idempotency_key=uuid.uuid4(), opened_at=when - timedelta(minutes=2), first_image_at=shown)
    Read.objects.filter(pk=created.pk).update(submitted_at=when)
    created.refresh_from_db()
    return created


def read_session(reading_session: ReadingSession, when: datetime, *, count: int | None = None, **kwargs) -> list[Read]:
    """The first ``count`` cases of the session (all of them by default) read at ``when``; finished if all."""
    assignments = list(reading_session.assignments.order_by("order"))
    done = [read(assignment, when, **kwargs) for assignment in assignments[:count]]
    if count is None:
        ReadingSession.objects.filter(pk=reading_session.pk).update(completed_at=when)
    return done


def planted_study(coordinator, *, n_cases: int = 4) -> Study:
    study = create_study(coordinator, n_readers=3, n_cases=n_cases, washout_days=28)
    Study.objects.filter(pk=study.pk).update(deviation_rules=RULES)
    study.refresh_from_db()
    for reading_session in study.sessions.all():  # the schedule as if reading had started on day 0
        ReadingSession.objects.filter(pk=reading_session.pk).update(opens_at=day(28 * (reading_session.number - 1)))

    read_session(session(study, "reader1", 1), day(1))
    ReadingSession.objects.filter(pk=session(study, "reader1", 2).pk).update(opens_at=day(29))  # washout kept
    admin = create_user("site_admin", Role.ADMIN)
    shortened = session(study, "reader1", 2)
    shortened.opens_at = day(11)
    with audit.context(user=admin):
        shortened.save(update_fields=["opens_at"])
    read_session(shortened, day(12))

    read_session(session(study, "reader2", 1), day(20))
    ReadingSession.objects.filter(pk=session(study, "reader2", 2).pk).update(opens_at=day(48))
    read_session(session(study, "reader2", 2), day(49), count=2)

    first = session(study, "reader3", 1)
    reads = read_session(first, day(2))
    ReadingSession.objects.filter(pk=session(study, "reader3", 2).pk).update(opens_at=day(30))
    revised = next(r for r in reads if r.case.label == "C000")
    ReadRevision.objects.create(read=revised, revision=1, previous={"rating": 50.0}, changed_by=revised.reader.user,
                                reason="pressed the wrong score", idempotency_key=uuid.uuid4())
    blank = next(r for r in reads if r.case.label == "C001")
    Read.objects.filter(pk=blank.pk).update(first_image_at=None)

    Job.objects.create(kind="precompute", study=study, status=Job.Status.FAILED, message="worker lost",
                       finished_at=day(3))
    return study
