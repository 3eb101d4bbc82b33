"""A realistic study to fuzz against, and the in-process WSGI app inside the test's transaction."""

import dataclasses
import uuid
from dataclasses import dataclass, field

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from schemathesis.pytest.plugin import SchemathesisFunction

from studies.models import Read, Role, Study
from studies.services import jobs, reads
from tests.analysis.conftest import run_started_analysis
from tests.conftest import create_study, create_user, kept_for_scope


def pytest_collection_modifyitems(items):
    """Schemathesis 4 on pytest 9 gives each operation's test the function's node id; pytest-xdist
    schedules by node id and would run one operation of them all. Each gets the id pytest gives a
    parametrized test, the operation as its parameter (tests/conftest.py refuses duplicate ids)."""
    for item in items:
        if isinstance(item, SchemathesisFunction) and item.nodeid == f"{item.parent.nodeid}::{item.originalname}":
            operation = item.name.removeprefix(f"{item.originalname}[").removesuffix("]")
            item._id = item.parent.id.child(item.originalname).with_params(operation)


@dataclass(frozen=True)
class Seeded:
    """What the fuzzer talks about: one study in reading, a reader's reads, and who is asking."""

    tokens: dict  # role -> API token
    path_ids: dict  # path parameter name -> an id that exists
    rendered: list = field(default_factory=list)  # reports already rendered with existing ids


def api_token(username: str) -> str:
    response = Client().post("/api/v1/auth/token/", {"username": username, "password": "pw"},
                             content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def analysed_run(coordinator, statistician):
    """A succeeded analysis run of a small, fully read and locked study."""
    from studies.services.demo_analysis import create_read_demo_study

    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=16,
                                   readers=("fz1", "fz2", "fz3"), title="Fuzzed analysis")
    run = run_started_analysis(actor=statistician, study=study, options={})
    assert run.status == run.Status.SUCCEEDED, run.error
    return run


def _seed() -> Seeded:
    coordinator, admin = create_user("coord", Role.COORDINATOR), create_user("boss", Role.ADMIN)
    study = create_study(coordinator, n_readers=2, n_cases=4, washout_days=0,
                         revision_policy=Study.RevisionPolicy.AUDITED)
    reader = study.readers.get(code="R01")
    first = reader.assignments.order_by("session__number", "order").first()
    values = reads.ReadInput(rating=50, decision=None, marks=[], comment="", opened_at=None, first_image_at=None,
                             client_submitted_at=None)
    reads.submit_read(user=reader.user, assignment_id=first.pk, idempotency_key=uuid.uuid4(), values=values)
    job = jobs.enqueue(kind="generate_schedule", actor=coordinator, study=study, params={"seed": 1})
    statistician = create_user("stat", Role.STATISTICIAN)
    run = analysed_run(coordinator, statistician)
    evaluation = evaluated_update(run.study, statistician)
    return Seeded(
        tokens={"admin": api_token(admin.username), "reader": api_token(reader.user.username)},
        path_ids={"study_id": study.pk, "session_id": first.session_id, "assignment_id": first.pk,
                  "read_id": Read.objects.get(assignment=first).pk, "job_id": job.pk, "run_id": run.pk,
                  "evaluation_id": evaluation.pk, "look": 1},
    )


def evaluated_update(study, statistician):
    """A locked evaluation of the analysed study with one look: a model update scored like the cleared model."""
    from studies.services import model_updates

    evaluation = model_updates.lock_evaluation(
        actor=statistician, study=study, name="plan",
        criteria={"auc_noninferiority": {"margin": 0.05}, "subgroup_max_drop": {"variable": "site", "max": 0.1,
                                                                                "min_per_class": 2}})
    model_updates.evaluate_update(actor=statistician, evaluation=evaluation, model_name="next", model_version="2",
                                  scores=evaluation.reference["scores"], operating_point=0.5, source="imported")
    return evaluation


@pytest.fixture(scope="module")
def seeded_for_module(django_db_setup, django_db_blocker) -> Seeded:
    """Seeded once (a run takes seconds to compute); every operation's test runs in a savepoint of it."""
    yield from kept_for_scope(django_db_blocker, _seed)


@pytest.fixture
def seeded(db, seeded_for_module) -> Seeded:
    return dataclasses.replace(seeded_for_module, rendered=[])


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests through the WSGI handler keep the test's database connection (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
