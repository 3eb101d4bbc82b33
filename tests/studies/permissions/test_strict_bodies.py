"""Every write under /api/v1/ refuses a key it does not take: 400 naming the key, nothing written.

Driven by the route table (``routes.WRITES``): a new write endpoint is checked as soon as it is listed.
"""

import pytest
from drf_spectacular.generators import SchemaGenerator

from studies.api.analysis import AnalysisOptionsInput
from studies.models import AuditEvent
from studies.services.analysis import DEFAULT_OPTIONS

from .routes import BODIES, MATRIX, MULTIPART, WRITES, last_event_seq, url_for

pytestmark = pytest.mark.usefixtures("route_targets")  # the studies in other statuses and the finished run

UNKNOWN = "not_a_field"


def _allowed_role(name: str, method: str) -> str:
    allowed = MATRIX[name][method].allowed
    return next(role for role in ("coordinator", "statistician", "reader", "admin") if role in allowed)


@pytest.fixture(autouse=True)
def dicom_storage(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"


@pytest.mark.parametrize("name,method", WRITES, ids=[f"{name}-{method}" for name, method in WRITES])
def test_every_write_refuses_an_unknown_key(api, world, name, method):
    url = url_for(world, name, method)
    study = world.study_in(MATRIX[name][method].state)
    body = {**BODIES.get((name, method), lambda world, study: {})(world, study), UNKNOWN: "x"}
    last_event = last_event_seq()
    data_format = "multipart" if (name, method) in MULTIPART else "json"
    response = getattr(api(world.users[_allowed_role(name, method)]), method)(url, body, format=data_format)
    assert response.status_code == 400, response.content[:500]
    assert UNKNOWN in response.json()
    assert not AuditEvent.objects.filter(seq__gt=last_event).exists()


def test_obtaining_a_token_refuses_an_unknown_key(api, coordinator):
    response = api().post("/api/v1/auth/token/", {"username": coordinator.username, "password": "x", "remember": 1},
                          format="json")
    assert response.status_code == 400
    assert "remember" in response.json()


def test_run_options_outside_options_are_refused_not_defaulted(api, world):
    url = url_for(world, "analysis-run-list", "post")
    response = api(world.users["statistician"]).post(url, {"fom": "pauc", "options": {}}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["fom"]


def test_an_unknown_run_option_is_refused_by_name(api, world):
    url = url_for(world, "analysis-run-list", "post")
    response = api(world.users["statistician"]).post(url, {"options": {"covariance": "delong"}}, format="json")
    assert response.status_code == 400
    assert list(response.json()["options"]) == ["covariance"]


def test_the_run_options_input_takes_exactly_the_analysis_options():
    assert set(AnalysisOptionsInput().fields) == set(DEFAULT_OPTIONS)


def test_request_bodies_are_closed_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    requests = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                if media_type == "application/offset+octet-stream":  # an upload's chunk: bytes, no keys
                    continue
                requests[f"{method} {path}"] = content["schema"]["$ref"].rsplit("/", 1)[1]
    assert requests["post /api/v1/studies/{study_id}/analysis-runs/"] == "StartRunInputRequest"
    assert components["AnalysisOptionsInputRequest"]["additionalProperties"] is False
    open_bodies = {where: name for where, name in requests.items()
                   if components[name].get("additionalProperties") is not False}
    assert open_bodies == {}
