"""Upgrading a database whose AI outputs predate output sets: each model version becomes an imported set
that names its file, the set with most outputs is the one shown, and aided reads record its output."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("studies", "0010_study_froc_acceptance_radius")]
AFTER = [("studies", "0011_ai_output_sets")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema():
    apps = _migrate(BEFORE)
    yield apps
    _migrate(executor_leaves())


def executor_leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_outputs_become_sets_and_aided_reads_record_the_shown_output(old_schema):
    model = old_schema.get_model
    user = model("studies", "User").objects.create(username="old-coordinator", role="coordinator")
    study = model("studies", "Study").objects.create(title="Before sets", created_by=user)
    aided = model("studies", "Arm").objects.create(study=study, name="aided", label="Aided", shows_ai=True)
    unaided = model("studies", "Arm").objects.create(study=study, name="unaided", label="Unaided", order=1)
    cases = [model("studies", "Case").objects.create(study=study, label=f"C{i}", truth=i % 2) for i in range(3)]
    outputs = model("studies", "AIOutput").objects
    for case in cases:
        outputs.create(study=study, case=case, model_name="net", model_version="2", score=0.5,
                       source_name="net2.csv", source_checksum="a" * 64)
    outputs.create(study=study, case=cases[0], model_name="net", model_version="1", score=0.1,
                   source_name="net1.csv", source_checksum="b" * 64)
    reader = model("studies", "Reader").objects.create(study=study, user=user, code="R01")
    session = model("studies", "ReadingSession").objects.create(study=study, reader=reader, number=1,
                                                                opens_at=timezone.now())
    reads = {}
    for order, arm in enumerate((aided, unaided)):
        assignment = model("studies", "Assignment").objects.create(session=session, reader=reader, case=cases[1],
                                                                   arm=arm, order=order)
        reads[arm.name] = model("studies", "Read").objects.create(
            assignment=assignment, reader=reader, case=cases[1], arm=arm, rating=50,
            idempotency_key=f"00000000-0000-0000-0000-00000000000{order}").pk

    apps = _migrate(AFTER)
    sets = apps.get_model("studies", "AIOutputSet").objects.filter(study_id=study.pk).order_by("model_version")
    assert [(s.model_version, s.source, s.source_name, s.source_checksum, s.shown, s.outputs.count())
            for s in sets] == [("1", "imported", "net1.csv", "b" * 64, False, 1),
                               ("2", "imported", "net2.csv", "a" * 64, True, 3)]
    read = apps.get_model("studies", "Read").objects
    shown_output = sets[1].outputs.get(case_id=cases[1].pk)
    assert read.get(pk=reads["aided"]).ai_output_id == shown_output.pk
    assert read.get(pk=reads["unaided"]).ai_output_id is None
