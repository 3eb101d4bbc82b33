"""A realistic study to fuzz against, and the in-process WSGI app inside the test's transaction."""

from dataclasses import dataclass

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import Client

from studies.models import Read, Study
from studies.services import jobs, reads


@dataclass(frozen=True)
class Seeded:
    """What the fuzzer talks about: one study in reading, a reader's reads, and who is asking."""

    tokens: dict  # role -> API token
    path_ids: dict  # path parameter name -> an id that exists


def api_token(username: str) -> str:
    response = Client().post("/api/v1/auth/token/", {"username": username, "password": "pw"},
                             content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


@pytest.fixture
def seeded(make_study, admin_user):
    import uuid

    study = make_study(n_readers=2, n_cases=4, washout_days=0, revision_policy=Study.RevisionPolicy.AUDITED)
    reader = study.readers.get(code="R01")
    first = reader.assignments.order_by("session__number", "order").first()
    values = reads.ReadInput(rating=50, decision=None, marks=[], comment="", opened_at=None, first_image_at=None,
                             client_submitted_at=None)
    reads.submit_read(user=reader.user, assignment_id=first.pk, idempotency_key=uuid.uuid4(), values=values)
    job = jobs.enqueue(kind="generate_schedule", actor=study.created_by, study=study, params={"seed": 1})
    return Seeded(
        tokens={"admin": api_token(admin_user.username), "reader": api_token(reader.user.username)},
        path_ids={"study_id": study.pk, "session_id": first.session_id, "assignment_id": first.pk,
                  "read_id": Read.objects.get(assignment=first).pk, "job_id": job.pk},
    )


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests through the WSGI handler keep the test's database connection (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
