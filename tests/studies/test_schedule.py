import collections
import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from studies import rules
from studies.errors import NotAllowed, RuleViolation
from studies.models import Assignment, ReadingSession, Study
from studies.services import reads, schedule
from studies.services.schedule import plan_schedule, williams_square


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_williams_square_is_a_balanced_latin_square(n):
    rows = williams_square(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    for row in rows:
        assert sorted(row) == list(range(n))
    for position in range(n):  # every arm equally often in every position
        counts = collections.Counter(row[position] for row in rows)
        assert set(counts.values()) == {len(rows) // n}
    # carry-over balance: every ordered pair of distinct arms is adjacent equally often
    pairs = collections.Counter((a, b) for row in rows for a, b in itertools.pairwise(row))
    assert len(pairs) == n * (n - 1) and len(set(pairs.values())) == 1


def _plan(n_readers, n_arms, n_cases, seed, design="fully_crossed", block_size=0):
    return plan_schedule(
        n_readers=n_readers, n_arms=n_arms, case_groups=[list(range(n_cases))], reader_groups=[0] * n_readers,
        design=design, block_size=block_size, seed=seed,
    )


@pytest.mark.parametrize("n_readers", [2, 3, 4, 5, 9, 10])
def test_each_arm_is_read_first_by_half_the_readers(n_readers):
    for seed in range(20):
        first_arm = collections.Counter(p.arm for p in _plan(n_readers, 2, 10, seed) if p.number == 1)
        assert abs(first_arm[0] - first_arm[1]) <= 1


def test_three_arms_first_position_balanced():
    first_arm = collections.Counter(p.arm for p in _plan(12, 3, 6, seed=5) if p.number == 1)
    assert first_arm == {0: 4, 1: 4, 2: 4}


@pytest.mark.parametrize("design,block_size", [("fully_crossed", 0), ("fully_crossed", 3), ("sequential", 0)])
def test_every_reader_case_arm_planned_exactly_once(design, block_size):
    plan = _plan(4, 2, 11, seed=3, design=design, block_size=block_size)
    reads = collections.Counter((p.reader, case, arm) for p in plan for case, arm in p.reads)
    assert set(reads) == {(r, c, a) for r in range(4) for c in range(11) for a in range(2)}
    assert set(reads.values()) == {1}


def test_blocked_sessions_interleave_arms_and_separate_a_cases_readings():
    plan = _plan(2, 2, 12, seed=7, block_size=3)
    for reader in range(2):
        sessions = [p for p in plan if p.reader == reader]
        assert [p.number for p in sessions] == [1, 2]
        for session in sessions:
            arms = [arm for _, arm in session.reads]
            runs = [len(list(group)) for _, group in itertools.groupby(arms)]
            assert runs == [3] * 4  # blocks of 3, alternating
        # a case is read in different sessions under different arms
        by_case = collections.defaultdict(list)
        for session in sessions:
            for case, arm in session.reads:
                by_case[case].append((session.number, arm))
        assert all(len({n for n, _ in v}) == 2 and len({a for _, a in v}) == 2 for v in by_case.values())


def test_case_order_is_shuffled_independently_per_reader_and_session():
    plan = _plan(3, 2, 30, seed=11)
    orders = [tuple(case for case, _ in p.reads) for p in plan]
    assert len(set(orders)) == len(orders)


def test_sequential_reads_unaided_then_aided_for_each_case():
    plan = _plan(2, 2, 5, seed=1, design="sequential")
    for p in plan:
        assert p.number == 1
        pairs = [p.reads[i : i + 2] for i in range(0, len(p.reads), 2)]
        assert all(a[0] == b[0] and (a[1], b[1]) == (0, 1) for a, b in pairs)


def test_schedule_reproducible_from_seed(make_study, coordinator):
    study = make_study(status=Study.Status.ENROLLING, n_readers=4, n_cases=10)
    schedule.generate_schedule(actor=coordinator, study=study, seed=42)
    first = schedule.schedule_csv(study)
    schedule.generate_schedule(actor=coordinator, study=study, seed=7)
    assert schedule.schedule_csv(study) != first
    schedule.generate_schedule(actor=coordinator, study=study, seed=42)
    assert _without_dates(schedule.schedule_csv(study)) == _without_dates(first)
    study.refresh_from_db()
    assert study.schedule_seed == 42


def _without_dates(text):
    return [line.split(",")[:2] + line.split(",")[3:] for line in text.splitlines()]


def test_stored_schedule_assigns_each_reader_case_arm_once(make_study):
    study = make_study(n_readers=5, n_cases=9)
    triples = list(Assignment.objects.filter(session__study=study).values_list("reader", "case", "arm"))
    assert len(triples) == len(set(triples)) == 5 * 9 * 2
    first_arms = collections.Counter(
        ReadingSession.objects.filter(study=study, number=1).values_list("arm__name", flat=True)
    )
    assert abs(first_arms["unaided"] - first_arms["aided"]) <= 1


def test_split_plot_readers_read_only_their_group(make_study):
    study = make_study(design=Study.Design.SPLIT_PLOT, n_readers=4, n_cases=10)
    for assignment in Assignment.objects.filter(session__study=study).select_related("reader", "case"):
        assert assignment.case.reading_group == assignment.reader.group
    assert Assignment.objects.filter(session__study=study).count() == 4 * 5 * 2


def test_sequential_design_needs_unaided_then_aided_arm(make_study, coordinator):
    study = make_study(design=Study.Design.SEQUENTIAL, arms=(("aided", True), ("unaided", False)), status="enrolling")
    with pytest.raises(RuleViolation, match="first without AI"):
        schedule.generate_schedule(actor=coordinator, study=study, seed=1)


def test_washout_session_refused_before_its_date(make_study):
    study = make_study(n_readers=1, n_cases=2, washout_days=30)
    second = ReadingSession.objects.get(study=study, number=2)
    assignment = second.assignments.first()
    with pytest.raises(NotAllowed, match="opens on"):
        reads.submit_read(
            user=assignment.reader.user, assignment_id=assignment.pk, idempotency_key="1" * 32,
            values=reads.ReadInput(rating=50),
        )


def test_finishing_a_session_starts_the_washout_clock(make_study):
    study = make_study(n_readers=1, n_cases=2, washout_days=10)
    first = ReadingSession.objects.get(study=study, number=1)
    second = ReadingSession.objects.get(study=study, number=2)
    second.opens_at = timezone.now() - timedelta(days=1)  # as if the planned date had passed
    second.save()
    assert rules.session_state(second)[1] == "finish the previous session first"
    for i, assignment in enumerate(first.assignments.all()):
        reads.submit_read(
            user=first.reader.user, assignment_id=assignment.pk, idempotency_key=f"{i:032x}",
            values=reads.ReadInput(rating=10),
        )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.completed_at is not None
    assert second.opens_at >= first.completed_at + timedelta(days=10)
    assert rules.session_state(second)[0] is False


def test_schedule_cannot_be_regenerated_once_reading(make_study, coordinator):
    study = make_study()
    with pytest.raises(RuleViolation):
        schedule.generate_schedule(actor=coordinator, study=study, seed=3)
