"""The places the permission tests act on: one study per status they need, a finished analysis
run, and a second coordinator's study with data of its own that must never leak."""

import uuid
from dataclasses import dataclass, field

import pytest

from studies.models import AnalysisRun, Assignment, Job, Read, ReadingSession, Role, Study, User
from studies.services import analysis, reads
from studies.services import studies as study_services
from studies.services.demo_analysis import create_read_demo_study


@pytest.fixture
def role_users(make_user, coordinator, statistician, admin_user) -> dict[str, User | None]:
    """One user per role name of the matrix; "reader" is reader1, enrolled in every study built here."""
    return {
        "anonymous": None,
        "reader": make_user("reader1", Role.READER),
        "other_reader": make_user("outsider_reader", Role.READER),
        "coordinator": coordinator,
        "other_coordinator": make_user("other_coord", Role.COORDINATOR),
        "statistician": statistician,
        "admin": admin_user,
    }


@dataclass
class World:
    """A study in reading (R01 = "reader" has read one case, R02 one too), and on demand a study
    in another status or a finished analysis run, all with the coordinator and statistician as
    members and "reader" enrolled."""

    users: dict
    study: Study
    session: ReadingSession
    assignment: Assignment  # the reader's next unread case
    read: Read  # the reader's read, revisable (the study allows audited revisions)
    other_readers_read: Read
    job: Job
    make_study: object
    request: pytest.FixtureRequest
    _by_status: dict = field(default_factory=dict)

    def study_in(self, status: str) -> Study:
        if status == Study.Status.READING:
            return self.study
        if status not in self._by_status:
            study = self.make_study(n_readers=2, n_cases=4, status=status)
            study_services.add_member(actor=self.users["coordinator"], study=study, user=self.users["statistician"])
            self._by_status[status] = study
        return self._by_status[status]

    @property
    def finished_run(self) -> AnalysisRun:
        return self.request.getfixturevalue("finished_run")


def submit(assignment: Assignment, rating: float = 40) -> Read:
    read, created = reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk,
                                      idempotency_key=uuid.uuid4(), values=reads.ReadInput(rating=rating))
    assert created
    return read


@pytest.fixture
def world(request, role_users, make_study, coordinator, statistician) -> World:
    study = make_study(n_readers=2, n_cases=4, revision_policy=Study.RevisionPolicy.AUDITED)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    first = {code: Assignment.objects.filter(session__study=study, reader__code=code, session__number=1)
             .order_by("order").first() for code in ("R01", "R02")}
    read = submit(first["R01"])
    other_readers_read = submit(first["R02"])
    return World(
        users=role_users,
        study=study,
        session=first["R01"].session,
        assignment=Assignment.objects.filter(session=first["R01"].session, read__isnull=True).first(),
        read=read,
        other_readers_read=other_readers_read,
        job=Job.objects.create(kind="generate_schedule", study=study, created_by=coordinator),
        make_study=make_study,
        request=request,
    )


@pytest.fixture
def finished_run(role_users, coordinator, statistician) -> AnalysisRun:
    """A succeeded run of a small locked study in which "reader" is one of the readers."""
    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=10,
                                   readers=("reader1", "demo_reader2", "demo_reader3"), title="Read and locked")
    run = analysis.analyze_now(actor=statistician, study=study, options={})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    return run


@pytest.fixture
def theirs(role_users, make_user) -> Study:
    """The other coordinator's locked study: readers of its own with reads, an analysis run, a job."""
    other_coordinator = role_users["other_coordinator"]
    study = create_read_demo_study(coordinator=other_coordinator, statistician=make_user("their_stat", Role.STATISTICIAN),
                                   n_cases=10, readers=("their_reader1", "their_reader2", "their_reader3"),
                                   title="Theirs")
    analysis.analyze_now(actor=other_coordinator, study=study, options={})
    Job.objects.create(kind="generate_schedule", study=study, created_by=other_coordinator)
    return study
