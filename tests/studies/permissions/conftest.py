"""The places the permission tests act on: one study per status they need, a finished analysis
run, and a second coordinator's study with data of its own that must never leak.

Built once (the world for the package, the route targets and the other coordinator's study for each
module that asks for them) and kept for their tests by ``kept_for_scope``: every test runs in a savepoint
that is rolled back after it, so a write one test makes (and the audit event it leaves) is gone before the
next. Each test gets its own copies of the objects, loaded from the database, so a change one test makes to
an object in memory is not seen by the next either.
"""

import uuid
from dataclasses import dataclass

import pytest

from mrmc.inference.demo_detector import SHIPPED_CARD, SHIPPED_MODEL
from studies.models import AnalysisRun, Assignment, Case, Job, Read, ReadingSession, Role, Study, User
from studies.services import analysis, imports, precompute, reads
from studies.services import studies as study_services
from studies.services.demo_analysis import create_read_demo_study
from tests.conftest import create_study, create_user, kept_for_scope

from .routes import MATRIX

ROLE_USERNAMES = {"coordinator": ("coord", Role.COORDINATOR), "statistician": ("stat", Role.STATISTICIAN),
                  "admin": ("boss", Role.ADMIN), "reader": ("reader1", Role.READER),
                  "other_reader": ("outsider_reader", Role.READER), "other_coordinator": ("other_coord", Role.COORDINATOR)}


@dataclass(frozen=True)
class WorldIds:
    """What the package's world holds, by primary key."""

    users: dict[str, int]
    study: int
    session: int
    assignment: int
    read: int
    other_readers_read: int
    job: int
    training_case: int


@dataclass(frozen=True)
class RouteTargetIds:
    """A study in every other status a route needs, and a finished analysis run (whose study is the analysed one)."""

    studies_by_status: dict[str, int]
    finished_run: int


class World:
    """A study in reading (R01 = "reader" has read one case, R02 one too), with the coordinator and statistician
    as members and "reader" enrolled; in modules that use ``route_targets``, also a study in every other status
    the routes need and a finished analysis run, with the same members and "reader"."""

    def __init__(self, ids: WorldIds, targets: RouteTargetIds | None):
        users = User.objects.in_bulk(ids.users.values())
        self.users: dict[str, User | None] = {"anonymous": None} | {role: users[pk] for role, pk in ids.users.items()}
        self.study = Study.objects.get(pk=ids.study)
        self.session = ReadingSession.objects.get(pk=ids.session)
        self.assignment = Assignment.objects.get(pk=ids.assignment)  # the reader's next unread case
        self.read = Read.objects.get(pk=ids.read)  # the reader's read, revisable (the study allows audited revisions)
        self.other_readers_read = Read.objects.get(pk=ids.other_readers_read)
        self.job = Job.objects.get(pk=ids.job)
        self.training_case = Case.objects.get(pk=ids.training_case)  # open to the study's readers to train on
        self._targets = targets
        self._by_status: dict[str, Study] = {}

    def study_in(self, status: str) -> Study:
        if status == Study.Status.READING:
            return self.study
        if status not in self._by_status:
            self._by_status[status] = Study.objects.get(pk=self._route_targets().studies_by_status[status])
        return self._by_status[status]

    @property
    def finished_run(self) -> AnalysisRun:
        return AnalysisRun.objects.get(pk=self._route_targets().finished_run)

    def _route_targets(self) -> RouteTargetIds:
        if self._targets is None:
            raise LookupError('this module builds no route targets: pytestmark = pytest.mark.usefixtures("route_targets")')
        return self._targets


def submit(assignment: Assignment, rating: float = 40) -> Read:
    read, created = reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk,
                                      idempotency_key=uuid.uuid4(), values=reads.ReadInput(rating=rating))
    assert created
    return read


def _build_world() -> WorldIds:
    users = {role: create_user(username, role_name) for role, (username, role_name) in ROLE_USERNAMES.items()}
    coordinator, statistician = users["coordinator"], users["statistician"]
    study = create_study(coordinator, n_readers=2, n_cases=4, revision_policy=Study.RevisionPolicy.AUDITED)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    first = {code: Assignment.objects.filter(session__study=study, reader__code=code, session__number=1)
             .order_by("order").first() for code in ("R01", "R02")}
    read = submit(first["R01"])
    other_readers_read = submit(first["R02"])
    return WorldIds(
        users={role: user.pk for role, user in users.items()},
        study=study.pk,
        session=first["R01"].session_id,
        assignment=Assignment.objects.filter(session=first["R01"].session, read__isnull=True).first().pk,
        read=read.pk,
        other_readers_read=other_readers_read.pk,
        job=Job.objects.create(kind="generate_schedule", study=study, created_by=coordinator).pk,
        training_case=Case.objects.create(study=study, label="T00", truth=1, is_training=True).pk,
    )


@pytest.fixture(scope="package")
def world_ids(django_db_setup, django_db_blocker) -> WorldIds:
    yield from kept_for_scope(django_db_blocker, _build_world)


@pytest.fixture(scope="module")
def route_targets(world_ids, django_db_blocker) -> RouteTargetIds:
    """For the modules whose tests call routes on studies in other statuses and on a finished run."""

    def build() -> RouteTargetIds:
        users = User.objects.in_bulk(world_ids.users.values())
        coordinator, statistician = users[world_ids.users["coordinator"]], users[world_ids.users["statistician"]]
        studies = {}
        built = {Study.Status.READING, Study.Status.ANALYZED}  # the world's study, the finished run's
        for status in sorted({rule.state for rules in MATRIX.values() for rule in rules.values()} - built):
            study = create_study(coordinator, n_readers=2, n_cases=4, status=status)
            study_services.add_member(actor=coordinator, study=study, user=statistician)
            if status == Study.Status.DRAFT:  # a model to compute with, and a second output set, not shown
                precompute.register_model(actor=coordinator, study=study, model_data=SHIPPED_MODEL.read_bytes(),
                                          card_data=SHIPPED_CARD.read_bytes(), file_name=SHIPPED_MODEL.name)
                imports.import_ai_outputs(actor=coordinator, study=study, filename="next.csv",
                                          data=b"case,model_name,model_version,score\nC000,model,next,0.5\n")
            studies[status] = study.pk
        run = _finished_run(coordinator, statistician)
        studies[Study.Status.ANALYZED] = run.study_id
        return RouteTargetIds(studies_by_status=studies, finished_run=run.pk)

    yield from kept_for_scope(django_db_blocker, build)


def _finished_run(coordinator: User, statistician: User) -> AnalysisRun:
    """A succeeded run of a small locked study in which "reader" is one of the readers."""
    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=10,
                                   readers=("reader1", "demo_reader2", "demo_reader3"), title="Read and locked")
    run = analysis.analyze_now(actor=statistician, study=study, options={})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    return run


@pytest.fixture
def world(db, world_ids, request) -> World:
    targets = request.getfixturevalue("route_targets") if "route_targets" in request.fixturenames else None
    return World(world_ids, targets)


@pytest.fixture
def coordinator(world) -> User:
    return world.users["coordinator"]


@pytest.fixture
def statistician(world) -> User:
    return world.users["statistician"]


@pytest.fixture
def admin_user(world) -> User:
    return world.users["admin"]


@pytest.fixture(scope="module")
def their_study_id(world_ids, django_db_blocker) -> int:
    """The other coordinator's locked study: readers of its own with reads, an analysis run, a job."""

    def build() -> int:
        other_coordinator = User.objects.get(pk=world_ids.users["other_coordinator"])
        study = create_read_demo_study(coordinator=other_coordinator,
                                       statistician=create_user("their_stat", Role.STATISTICIAN), n_cases=10,
                                       readers=("their_reader1", "their_reader2", "their_reader3"), title="Theirs")
        analysis.analyze_now(actor=other_coordinator, study=study, options={})
        Job.objects.create(kind="generate_schedule", study=study, created_by=other_coordinator)
        return study.pk

    yield from kept_for_scope(django_db_blocker, build)


@pytest.fixture
def theirs(db, their_study_id) -> Study:
    return Study.objects.get(pk=their_study_id)
