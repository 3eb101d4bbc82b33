"""The interaction record of a training read: checked whole like a study read's (services.interactions), stored
with the training read through the idempotent submission, {} without one, and a record out of its form refuses
the whole training score."""

import uuid

import pytest

from studies.models import Reader, TrainingRead

from .test_interactions import record
from .training_world import training_study


@pytest.fixture
def reader(coordinator) -> Reader:
    return training_study(coordinator).readers.get(code="R01")


def post(api, reader, **extra):
    case = reader.study.cases.filter(is_training=True).order_by("pk").first()
    body = {"case": case.pk, "arm": "unaided", "idempotency_key": str(uuid.uuid4()), "rating": 60, **extra}
    return api(reader.user).post(f"/api/v1/studies/{reader.study_id}/training/reads/", body, format="json")


def test_the_record_is_stored_with_the_training_read_and_a_retry_keeps_the_first(api, reader):
    key = str(uuid.uuid4())
    first = post(api, reader, idempotency_key=key, interactions=record())
    again = post(api, reader, idempotency_key=key, interactions=record(wl=9))
    assert (first.status_code, again.status_code) == (201, 200)
    assert TrainingRead.objects.get().interactions == record()
    assert "interactions" not in first.json()["read"]  # the reader's own read does not send it back


def test_a_training_score_without_a_record_stores_none(api, reader):
    assert post(api, reader).status_code == 201
    assert TrainingRead.objects.get().interactions == {}


def test_an_invalid_record_refuses_the_whole_training_score(api, reader):
    response = post(api, reader, interactions=record(events=[[1, "rotate"]]))
    assert response.status_code == 400
    assert response.json()["field"] == "interactions" and "events[0]" in response.json()["detail"]
    assert not TrainingRead.objects.exists()
    reader.refresh_from_db()
    assert reader.qualification == {}  # nothing was evaluated either
