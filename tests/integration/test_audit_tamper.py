"""Tampering with the database behind the application's back, as its own role and as a DBA.

The application runs as a role that owns no table (``manage.py grant_app_role``): what it
may not do the database refuses, and what it may do outside the services (a direct
``UPDATE`` of a read or of truth, a forged audit row) ``verify_audit`` names.
"""

import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from studies.models import Assignment, AuditEvent, Case, Read
from studies.services import audit, reads
from studies.services.audit_verify import verify
from tests.conftest import skip_or_fail

APP_PASSWORD = "app-role-test-password"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def requires_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        skip_or_fail("the database-role tamper tests need PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def app_role(monkeypatch):
    """The application's role on the test database, created and granted by the real command."""
    role = f"{connection.settings_dict['NAME']}_app"[:63]
    monkeypatch.setenv("TAMPER_TEST_APP_PASSWORD", APP_PASSWORD)
    call_command("grant_app_role", role=role, password_env="TAMPER_TEST_APP_PASSWORD")
    return role


@pytest.fixture
def as_app(app_role):
    """Run one SQL statement as the application's role (its own connection, autocommit)."""
    import psycopg

    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"],
                           user=app_role, password=APP_PASSWORD, autocommit=True)

    def execute(statement: str, params=()):
        with conn.cursor() as cursor:
            cursor.execute(statement, params)

    yield execute
    conn.close()


@pytest.fixture
def read_study(make_study):
    """A study in reading with two submitted reads, the chain intact."""
    study = make_study()
    for assignment in Assignment.objects.filter(session__study=study, session__number=1, order__lte=1)[:2]:
        user = assignment.reader.user
        with audit.context(user=user):
            reads.submit_read(user=user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                              values=reads.ReadInput(rating=40))
    return study


def _problems(audit_anchor_file) -> list[str]:
    return verify(anchor_file=audit_anchor_file).problems


@pytest.mark.parametrize("statement", [
    "DELETE FROM studies_auditevent WHERE seq = 2",
    "UPDATE studies_auditevent SET action = 'tampered' WHERE seq = 2",
    "TRUNCATE studies_auditevent",
    "ALTER TABLE studies_auditevent DISABLE TRIGGER studies_auditevent_append_only",
    "ALTER TABLE studies_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER studies_auditevent_append_only ON studies_auditevent",
    "ALTER TABLE studies_read OWNER TO CURRENT_USER",
])
def test_the_app_role_is_refused_what_would_rewrite_the_trail(make_study, as_app, statement):
    import psycopg

    make_study(status="draft")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app(statement)
    assert AuditEvent.objects.filter(seq=2, action="tampered").count() == 0


def test_a_read_edited_by_the_app_role_is_named(read_study, as_app, audit_anchor_file):
    assert _problems(audit_anchor_file) == []
    read = Read.objects.order_by("id").last()
    as_app("UPDATE studies_read SET rating = 99 WHERE id = %s", [read.pk])
    problems = _problems(audit_anchor_file)
    assert len(problems) == 1 and f"read {read.pk}" in problems[0] and "without one" in problems[0]


def test_truth_edited_by_the_app_role_is_named(read_study, as_app, audit_anchor_file):
    case = Case.objects.filter(study=read_study, truth=0).first()
    as_app("UPDATE studies_case SET truth = 1 WHERE id = %s", [case.pk])
    problems = _problems(audit_anchor_file)
    assert len(problems) == 1 and f"case {case.pk}" in problems[0]


def test_a_forged_audit_row_is_detected(read_study, as_app, audit_anchor_file):
    head = AuditEvent.objects.order_by("seq").last()
    as_app("""INSERT INTO studies_auditevent (at, actor_username, action, entity, entity_id, request_id, seq,
              prev_hash, hash) VALUES (now(), 'nobody', 'update', 'studies.Read', '1', '', %s, %s, %s)""",
           [head.seq + 1, head.hash, "f" * 64])
    problems = _problems(audit_anchor_file)
    assert any(f"seq {head.seq + 1}" in problem and "does not match its hash" in problem for problem in problems)


def test_a_dba_deleting_a_range_and_the_tail_is_caught_by_the_chain_and_the_anchor(read_study, audit_anchor_file):
    """The owner (here the superuser) can lift the trigger; the chain and the anchor still tell."""
    audit.anchor_head()
    head = AuditEvent.objects.order_by("seq").last().seq
    assert head > 12 and _problems(audit_anchor_file) == []
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE studies_auditevent DISABLE TRIGGER studies_auditevent_append_only")
        cursor.execute("DELETE FROM studies_auditevent WHERE seq BETWEEN 5 AND 8 OR seq > %s", [head - 3])
        cursor.execute("ALTER TABLE studies_auditevent ENABLE TRIGGER studies_auditevent_append_only")
    problems = " | ".join(_problems(audit_anchor_file))
    assert "missing events: seq 5–8" in problems
    assert f"truncated: the chain ends at seq {head - 3}" in problems


def test_grant_app_role_refuses_a_role_that_could_still_rewrite_the_trail(app_role):
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER ROLE "{app_role}" CREATEROLE')
        try:
            with pytest.raises(CommandError, match=f"role {app_role} may create roles"):
                call_command("grant_app_role", role=app_role, password_env="NO_SUCH_VARIABLE_SET")
        finally:
            cursor.execute(f'ALTER ROLE "{app_role}" NOCREATEROLE')
    with pytest.raises(CommandError, match="not as postgres"):
        call_command("grant_app_role", role="postgres")
