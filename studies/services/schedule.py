"""Randomized, counterbalanced reading schedules, reproducible from a recorded seed.

Arm order follows a balanced Latin square (Williams 1949) across readers; case order is
shuffled independently for every reader and session; with ``block_size`` the arms are
interleaved in blocks within each session.
"""

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from studies.errors import RuleViolation
from studies.models import Assignment, ReadingSession, Study, User
from studies.permissions import Action, require
from studies.selectors import study_cases
from studies.services import audit


def williams_square(n: int) -> list[list[int]]:
    """Rows of a balanced Latin square: each arm precedes every other equally often.

    Williams (1949), Aust. J. Sci. Res. 2:149. For odd ``n`` the square and its mirror
    image are both needed (2n rows).
    """
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(arm + shift) % n for arm in first] for shift in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


@dataclass(frozen=True)
class PlannedSession:
    reader: int  # index into the readers given to plan_schedule
    number: int  # 1-based
    arm: int | None  # index of the arm read in the whole session; None when arms are mixed
    reads: tuple[tuple[int, int], ...]  # (case index, arm index) in reading order


def plan_schedule(
    *,
    n_readers: int,
    n_arms: int,
    case_groups: list[list[int]],
    reader_groups: list[int],
    design: str,
    block_size: int,
    seed: int,
) -> list[PlannedSession]:
    """Plan every reader's sessions; pure, deterministic in ``seed``.

    ``case_groups[g]`` holds the case indices read by readers of group ``g`` (one group
    unless the design is split-plot).
    """
    rows = williams_square(n_arms)
    reader_order = np.random.default_rng([seed, 0]).permutation(n_readers)
    row_of_reader = {int(reader): rows[pos % len(rows)] for pos, reader in enumerate(reader_order)}
    plan = []
    for reader in range(n_readers):
        cases = case_groups[reader_groups[reader]]
        arm_order = row_of_reader[reader]
        if design == Study.Design.SEQUENTIAL:
            plan.append(_sequential_session(reader, cases, arm_order, seed))
        else:
            plan.extend(_crossed_sessions(reader, cases, arm_order, block_size, seed))
    return plan


def _shuffled(cases: list[int], seed: int, reader: int, session: int) -> list[int]:
    rng = np.random.default_rng([seed, 1, reader, session])
    return [cases[i] for i in rng.permutation(len(cases))]


def _sequential_session(reader, cases, arm_order, seed) -> PlannedSession:
    # Sequential reading always goes through the arms in their defined order (unaided first).
    arms = sorted(arm_order)
    reads = tuple((case, arm) for case in _shuffled(cases, seed, reader, 1) for arm in arms)
    return PlannedSession(reader=reader, number=1, arm=None, reads=reads)


def _crossed_sessions(reader, cases, arm_order, block_size, seed) -> list[PlannedSession]:
    n_arms = len(arm_order)
    if block_size == 0:
        return [
            PlannedSession(
                reader=reader,
                number=number,
                arm=arm,
                reads=tuple((case, arm) for case in _shuffled(cases, seed, reader, number)),
            )
            for number, arm in enumerate(arm_order, start=1)
        ]
    # Blocked: split the cases into one set per arm; each session reads every set under a
    # different arm (a Latin square over sets), so a case meets each arm in a different session.
    split = _shuffled(cases, seed, reader, 0)
    case_sets = [split[i::n_arms] for i in range(n_arms)]
    sessions = []
    for number in range(1, n_arms + 1):
        by_arm = {arm_order[(s + number - 1) % n_arms]: case_sets[s] for s in range(n_arms)}
        reads = _interleave_blocks(by_arm, arm_order, block_size, seed, reader, number)
        sessions.append(PlannedSession(reader=reader, number=number, arm=None, reads=tuple(reads)))
    return sessions


def _interleave_blocks(by_arm, arm_order, block_size, seed, reader, number):
    queues = {
        arm: [(case, arm) for case in _shuffled(cases, seed, reader, number * 100 + arm)]
        for arm, cases in by_arm.items()
    }
    start = (number - 1) % len(arm_order)
    rotation = arm_order[start:] + arm_order[:start]
    reads = []
    while any(queues.values()):
        for arm in rotation:
            reads.extend(queues[arm][:block_size])
            queues[arm] = queues[arm][block_size:]
    return reads


@transaction.atomic
def generate_schedule(*, actor: User, study: Study, seed: int | None = None) -> list[ReadingSession]:
    """Replace the study's schedule by one generated from ``seed`` (random if not given)."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    check_schedule_can_change(study)
    arms = list(study.arms.order_by("order"))
    readers = list(study.readers.order_by("code"))
    cases = list(study_cases(study).order_by("label"))  # training cases are never scheduled
    _check_schedulable(study, arms, readers, cases)
    seed = secrets.randbits(62) if seed is None else int(seed)
    groups = sorted({reader.group for reader in readers}) if study.design == Study.Design.SPLIT_PLOT else [0]
    case_groups = [
        [i for i, case in enumerate(cases) if study.design != Study.Design.SPLIT_PLOT or case.reading_group == g]
        for g in groups
    ]
    reader_groups = [groups.index(r.group) if study.design == Study.Design.SPLIT_PLOT else 0 for r in readers]
    plan = plan_schedule(
        n_readers=len(readers),
        n_arms=len(arms),
        case_groups=case_groups,
        reader_groups=reader_groups,
        design=study.design,
        block_size=study.block_size,
        seed=seed,
    )
    Assignment.objects.filter(session__study=study).delete()
    study.sessions.all().delete()
    start = study.reading_starts_at or timezone.now()
    sessions = _store_plan(study, plan, readers, arms, cases, start)
    study.schedule_seed = seed
    study.schedule_generated_at = timezone.now()
    study.save(update_fields=["schedule_seed", "schedule_generated_at", "updated_at"])
    audit.record(
        action="generate_schedule",
        entity="studies.Study",
        entity_id=study.pk,
        study_id=study.pk,
        actor=actor,
        after={"seed": seed, "sessions": len(sessions), "assignments": sum(len(p.reads) for p in plan)},
    )
    return sessions


def check_schedule_can_change(study: Study) -> None:
    if study.status not in (Study.Status.DRAFT, Study.Status.ENROLLING):
        raise RuleViolation("the schedule can only be generated before reading starts")


def _check_schedulable(study, arms, readers, cases) -> None:
    if not arms:
        raise RuleViolation("the study has no arms")
    if not readers:
        raise RuleViolation("no readers are enrolled")
    if not cases:
        raise RuleViolation("the study has no cases to read (training cases are not scheduled)")
    if study.design == Study.Design.SEQUENTIAL and (len(arms) != 2 or arms[0].shows_ai or not arms[1].shows_ai):
        raise RuleViolation("sequential reading needs exactly two arms: first without AI, then with AI")
    if study.design == Study.Design.SPLIT_PLOT:
        case_groups = {case.reading_group for case in cases}
        for reader in readers:
            if reader.group not in case_groups:
                raise RuleViolation(f"reader {reader.code} is in group {reader.group}, which has no cases")


def _store_plan(study, plan, readers, arms, cases, start: datetime) -> list[ReadingSession]:
    washout = timedelta(days=study.washout_days)
    sessions = ReadingSession.objects.bulk_create(
        ReadingSession(
            study=study,
            reader=readers[p.reader],
            number=p.number,
            arm=arms[p.arm] if p.arm is not None else None,
            opens_at=start + washout * (p.number - 1),
        )
        for p in plan
    )
    Assignment.objects.bulk_create(
        Assignment(session=session, reader=session.reader, case=cases[case], arm=arms[arm], order=order)
        for session, p in zip(sessions, plan, strict=True)
        for order, (case, arm) in enumerate(p.reads, start=1)
    )
    return sessions


def schedule_csv(study: Study) -> str:
    """The schedule as CSV: one row per assignment, in reading order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reader", "session", "opens_at", "order", "case", "arm"])
    rows = Assignment.objects.filter(session__study=study).select_related("session", "reader", "case", "arm")
    for a in rows.order_by("reader__code", "session__number", "order"):
        opens_at = a.session.opens_at.isoformat()
        writer.writerow([a.reader.code, a.session.number, opens_at, a.order, a.case.label, a.arm.name])
    return out.getvalue()


def complete_session_if_done(session: ReadingSession) -> None:
    """Close a finished session and start the washout clock of the next one."""
    if session.completed_at or session.assignments.filter(read__isnull=True).exists():
        return
    session.completed_at = timezone.now()
    session.save(update_fields=["completed_at"])
    earliest = session.completed_at + timedelta(days=session.study.washout_days)
    for later in ReadingSession.objects.filter(reader_id=session.reader_id, number=session.number + 1,
                                               opens_at__lt=earliest):
        later.opens_at = earliest
        later.save(update_fields=["opens_at"])


def run_generate_schedule_job(job) -> dict:
    with audit.context(user=job.created_by):
        sessions = generate_schedule(actor=job.created_by, study=job.study, seed=job.params.get("seed"))
    job.study.refresh_from_db()
    return {"seed": job.study.schedule_seed, "sessions": len(sessions)}
