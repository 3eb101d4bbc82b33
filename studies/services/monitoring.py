"""The monitoring dashboard of a study while it enrols and reads: progress per reader and session, sessions
opening soon (washout) and overdue, reads per day and per arm, reading times outside what is plausible, and
readers who use only part of the rating scale.

Counts only: nothing here looks at truth or at AI outputs, so watching a study never unblinds its
performance (no accuracy, no AUC, no count split by diseased and not diseased). The thresholds are
settings (``MONITOR_*``, deploy/README.md). Training reads are the qualification's and are not counted.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from statistics import median

from django.conf import settings
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from studies import selectors
from studies.models import Read, ReadingSession, Study
from studies.rules import earlier_sessions_unfinished, session_state
from studies.services.tables import Table


@dataclass(frozen=True)
class Thresholds:
    too_fast_s: float
    too_long_s: float
    scale_min_categories: int
    scale_min_range: float
    scale_min_reads: int
    opening_soon_days: int
    overdue_days: int

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(settings.MONITOR_READ_TOO_FAST_S, settings.MONITOR_READ_TOO_LONG_S,
                   settings.MONITOR_SCALE_MIN_CATEGORIES, settings.MONITOR_SCALE_MIN_RANGE,
                   settings.MONITOR_SCALE_MIN_READS, settings.MONITOR_OPENING_SOON_DAYS, settings.MONITOR_OVERDUE_DAYS)


class _Context:
    """What the tables are computed for; what several tables list is read once."""

    def __init__(self, study: Study, now: datetime, limits: Thresholds):
        self.study, self.now, self.limits = study, now, limits

    @cached_property
    def sessions(self) -> list[ReadingSession]:
        return list(_sessions(self))

    @cached_property
    def progress(self) -> list[dict]:
        """Reads assigned and done per reader × arm, the arms in the study's order."""
        arms = self.study.arms.order_by("order").values_list("name", flat=True)
        rank = {name: i for i, name in enumerate(arms)}
        return sorted(selectors.progress(self.study), key=lambda row: (row["reader"], rank[row["arm"]]))


def _study_reads(study: Study):
    return Read.objects.filter(case__study=study, case__is_training=False)


def _sessions(context: _Context):
    """The study's sessions with their counts, each with whether it is open now and why not."""
    study_case = Q(assignments__case__is_training=False)
    sessions = (ReadingSession.objects.filter(study=context.study).select_related("reader__user", "arm")
                .annotate(n_assigned=Count("assignments", filter=study_case),
                          n_read=Count("assignments__read", filter=study_case),
                          last_read=Max("assignments__read__submitted_at", filter=study_case),
                          earlier_unfinished=earlier_sessions_unfinished())
                .order_by("reader__code", "number"))
    for session in sessions:
        session.study = context.study  # the state rule asks for its status: no query per session
        session.is_open, session.why_closed = session_state(session, context.now,
                                                            earlier_unfinished=session.earlier_unfinished)
        yield session


def _arm_name(session) -> str:
    return session.arm.name if session.arm else "mixed"


def _state(session, context: _Context) -> str:
    if session.completed_at:
        return "completed"
    if session.is_open:
        return "overdue" if _is_overdue(session, context) else "open"
    return session.why_closed


def _is_overdue(session, context: _Context) -> bool:
    return session.is_open and session.opens_at <= context.now - timedelta(days=context.limits.overdue_days)


def _reminded(session) -> str | datetime:
    if session.reminded_at:
        return session.reminded_at
    return "" if session.reader.user.email else "no e-mail address"


def progress_table(context: _Context) -> Table:
    rows = [(s.reader.code, s.number, _arm_name(s), s.opens_at, _state(s, context), s.n_assigned, s.n_read,
             round(100 * s.n_read / s.n_assigned) if s.n_assigned else 0, s.last_read, s.completed_at,
             _reminded(s))
            for s in context.sessions]
    return Table("progress", "Progress per reader and session",
                 ("reader", "session", "arm", "opens_at", "state", "assigned", "read", "percent_read", "last_read_at",
                  "completed_at", "reminded_at"), rows)


def opening_table(context: _Context) -> Table:
    until = context.now + timedelta(days=context.limits.opening_soon_days)
    rows = [(s.reader.code, s.number, _arm_name(s), s.opens_at,
             round((s.opens_at - context.now).total_seconds() / 86400, 1), s.n_assigned)
            for s in context.sessions
            if not s.completed_at and not s.earlier_unfinished and context.now < s.opens_at <= until]
    return Table("opening", "Sessions opening soon", ("reader", "session", "arm", "opens_at", "days_to_go", "assigned"),
                 sorted(rows, key=lambda row: row[3]),
                 f"the washout ends within {context.limits.opening_soon_days} days and the earlier sessions are done; "
                 "the reader is e-mailed when it opens")


def overdue_table(context: _Context) -> Table:
    rows = [(s.reader.code, s.number, _arm_name(s), s.opens_at, (context.now - s.opens_at).days, s.n_assigned,
             s.n_read, s.last_read, _reminded(s))
            for s in context.sessions if _is_overdue(s, context)]
    return Table("overdue", "Sessions overdue",
                 ("reader", "session", "arm", "opened_at", "days_open", "assigned", "read", "last_read_at",
                  "reminded_at"), rows,
                 f"open for more than {context.limits.overdue_days} days and not finished")


def reads_per_day_table(context: _Context) -> Table:
    arms = list(context.study.arms.order_by("order").values_list("name", flat=True))
    counts = (_study_reads(context.study).annotate(day=TruncDate("submitted_at", tzinfo=UTC))
              .values("day", "arm__name").annotate(n=Count("id")).order_by("day"))
    by_day = defaultdict(dict)
    for row in counts:
        by_day[row["day"]][row["arm__name"]] = row["n"]
    rows = [(day, *(per_arm.get(arm, 0) for arm in arms), sum(per_arm.values())) for day, per_arm in by_day.items()]
    return Table("reads_per_day", "Reads per day", ("day", *arms, "total"), rows,
                 "by the server's time of submission, UTC")


def by_arm_table(context: _Context) -> Table:
    rows = defaultdict(lambda: [0, 0])
    for row in context.progress:  # the first reader's arms come first, in the study's order
        rows[row["arm"]][0] += row["assigned"]
        rows[row["arm"]][1] += row["read"]
    return Table("by_arm", "Interim counts per arm", ("arm", "assigned", "read", "remaining"),
                 [(arm, assigned, read, assigned - read) for arm, (assigned, read) in rows.items()],
                 "counts only: no figure of performance is shown while the study reads")


def by_reader_arm_table(context: _Context) -> Table:
    rows = [(r["reader"], r["arm"], r["assigned"], r["read"], r["assigned"] - r["read"]) for r in context.progress]
    return Table("by_reader_arm", "Interim counts per reader and arm",
                 ("reader", "arm", "assigned", "read", "remaining"), rows)


def _timing_note(limits: Thresholds) -> str:
    return (f"too fast: under {limits.too_fast_s:g} s, too short to be a real read; too long: over "
            f"{limits.too_long_s / 60:g} min; time from opening the case to submitting the score")


def reading_times_table(context: _Context) -> Table:
    limits = context.limits
    durations = defaultdict(list)
    for code, ms in (_study_reads(context.study).filter(duration_ms__isnull=False)
                     .values_list("reader__code", "duration_ms").order_by("reader__code")):
        durations[code].append(ms / 1000)
    rows = [(code, len(seconds), round(median(seconds), 1), sum(s < limits.too_fast_s for s in seconds),
             sum(s > limits.too_long_s for s in seconds))
            for code, seconds in durations.items()]
    return Table("reading_times", "Reading times per reader",
                 ("reader", "timed_reads", "median_s", "too_fast", "too_long"), rows, _timing_note(limits))


def time_outliers_table(context: _Context) -> Table:
    limits = context.limits
    outliers = (_study_reads(context.study)
                .filter(Q(duration_ms__lt=limits.too_fast_s * 1000) | Q(duration_ms__gt=limits.too_long_s * 1000))
                .order_by("reader__code", "submitted_at")
                .values_list("reader__code", "assignment__session__number", "case__label", "arm__name", "duration_ms",
                             "submitted_at"))
    rows = [(code, session, case, arm, round(ms / 1000, 1), submitted,
             "too fast" if ms < limits.too_fast_s * 1000 else "too long")
            for code, session, case, arm, ms, submitted in outliers]
    return Table("time_outliers", "Reads too fast or too long",
                 ("reader", "session", "case", "arm", "seconds", "submitted_at", "flag"), rows, _timing_note(limits))


def scale_use_table(context: _Context) -> Table:
    study, limits = context.study, context.limits
    ratings = defaultdict(list)
    for code, rating in _study_reads(study).values_list("reader__code", "rating").order_by("reader__code"):
        ratings[code].append(rating)
    low, high = study.rating_bounds
    ordinal = study.rating_scale == Study.Scale.ORDINAL
    wanted = min(limits.scale_min_categories, int(high)) if ordinal else limits.scale_min_range
    rows = []
    for code, values in ratings.items():
        used = len(set(values)) if ordinal else round((max(values) - min(values)) / (high - low), 2)
        if len(values) < limits.scale_min_reads:
            flag = f"fewer than {limits.scale_min_reads} reads: not judged yet"
        else:
            flag = "uses only part of the scale" if used < wanted else ""
        rows.append((code, len(values), min(values), max(values), used, flag))
    usage = "categories_used" if ordinal else "fraction_of_range_used"
    note = (f"flagged: fewer than {wanted} of the {int(high)} categories" if ordinal
            else f"flagged: less than {wanted:.0%} of the scale {low:g} to {high:g}")
    return Table("scale_use", "Use of the rating scale", ("reader", "reads", "lowest", "highest", usage, "flag"), rows,
                 f"{note}, once a reader has {limits.scale_min_reads} reads; all arms' ratings, never split by truth")


TABLES: dict[str, Callable[[_Context], Table]] = {
    "progress": progress_table,
    "opening": opening_table,
    "overdue": overdue_table,
    "reads_per_day": reads_per_day_table,
    "by_arm": by_arm_table,
    "by_reader_arm": by_reader_arm_table,
    "reading_times": reading_times_table,
    "time_outliers": time_outliers_table,
    "scale_use": scale_use_table,
}


def _context(study: Study, now: datetime | None) -> _Context:
    return _Context(study, now or timezone.now(), Thresholds.from_settings())


@dataclass(frozen=True)
class Dashboard:
    generated_at: datetime
    thresholds: Thresholds
    tables: list[Table]  # in the order the page shows them


def monitoring(study: Study, now: datetime | None = None) -> Dashboard:
    """Every table of the dashboard."""
    context = _context(study, now)
    return Dashboard(context.now, context.limits, [build(context) for build in TABLES.values()])


def monitoring_table(study: Study, name: str, now: datetime | None = None) -> Table:
    """One table (a CSV download); KeyError for a name that is none of :data:`TABLES`."""
    return TABLES[name](_context(study, now))
