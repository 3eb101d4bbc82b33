"""A study's pre-specified endpoints: checked with the field named, set through the protocol file, the
API and the admin, fixed once the schedule exists, and audited."""

import json
from pathlib import Path

import pytest

from studies.errors import InvalidInput
from studies.models import AuditEvent, Study
from studies.services import schedule
from studies.services.endpoints import validate_endpoints
from studies.services.protocol import create_study_from_protocol

from .test_admin import admin_form_data

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "protocol.example.yaml"
NI_SENSITIVITY = {"figure": "sensitivity", "hypothesis": "non_inferiority", "margin": 0.05}
PLAN = {"primary": {"figure": "auc", "hypothesis": "superiority"}, "alpha": 0.05, "sided": "two",
        "co_primary": [NI_SENSITIVITY], "secondary": [{"figure": "wafroc", "hypothesis": "superiority"}]}


@pytest.mark.parametrize("endpoints,field,message", [
    ([], "endpoints", "must be a mapping"),
    ({"alpha": 0.05}, "endpoints.primary", "is required"),
    ({**PLAN, "power": 0.8}, "endpoints.power", "unknown field"),
    ({**PLAN, "alpha": 0.5}, "endpoints.alpha", "between 0 and 0.5"),
    ({**PLAN, "alpha": True}, "endpoints.alpha", "between 0 and 0.5"),
    ({**PLAN, "sided": "left"}, "endpoints.sided", "not one of"),
    ({**PLAN, "co_primary_rule": "any"}, "endpoints.co_primary_rule", "not one of"),
    ({**PLAN, "secondary_rule": "bonferroni"}, "endpoints.secondary_rule", "not one of"),
    ({**PLAN, "primary": {"figure": "kappa", "hypothesis": "superiority"}}, "endpoints.primary.figure", "not one of"),
    ({**PLAN, "primary": {"figure": "auc"}}, "endpoints.primary.hypothesis", "is required"),
    ({**PLAN, "primary": {"figure": "auc", "hypothesis": "equivalence"}}, "endpoints.primary.hypothesis",
     "not one of"),
    ({**PLAN, "co_primary": [{**NI_SENSITIVITY, "margin": 0}]}, "endpoints.co_primary[0].margin", "above 0"),
    ({**PLAN, "co_primary": [{**NI_SENSITIVITY, "margin": None}]}, "endpoints.co_primary[0].margin", "above 0"),
    ({**PLAN, "co_primary": [{"figure": "sensitivity", "hypothesis": "superiority", "margin": 0.05}]},
     "endpoints.co_primary[0].margin", "only a non-inferiority"),
    ({**PLAN, "secondary": [{"figure": "auc", "hypothesis": "superiority"}]}, "endpoints.secondary[0].figure",
     "already an endpoint"),
    ({**PLAN, "secondary": {"figure": "pauc"}}, "endpoints.secondary", "must be a list"),
    ({**PLAN, "secondary": [{"figure": "pauc", "hypothesis": "superiority", "level": 1}]},
     "endpoints.secondary[0].level", "unknown field"),
])
def test_an_invalid_plan_names_the_field(endpoints, field, message):
    with pytest.raises(InvalidInput) as error:
        validate_endpoints(endpoints)
    assert error.value.field == field
    assert message in str(error.value)


def test_a_valid_plan_and_none_at_all_pass():
    validate_endpoints(PLAN)
    validate_endpoints({})


def test_the_example_protocol_sets_the_endpoints(make_user):
    study = create_study_from_protocol(actor=make_user("coordinator", "coordinator"), text=EXAMPLE.read_text())
    assert study.endpoints["primary"] == {"figure": "auc", "hypothesis": "superiority"}
    assert study.endpoints["co_primary"] == [NI_SENSITIVITY]
    assert [e["figure"] for e in study.endpoints["secondary"]] == ["specificity", "pauc"]


def test_a_bad_endpoint_in_a_protocol_names_its_line_and_field(coordinator):
    text = ("title: x\narms: [{name: a}]\nendpoints:\n  primary: {figure: auc, hypothesis: superiority}\n"
            "  co_primary:\n    - {figure: sensitivity, hypothesis: non_inferiority}\n")
    with pytest.raises(InvalidInput) as error:
        create_study_from_protocol(actor=coordinator, text=text)
    assert (error.value.field, error.value.line) == ("endpoints.co_primary[0].margin", 6)
    assert not Study.objects.exists()


def test_endpoints_set_through_the_api_are_audited(make_study, coordinator, api):
    study = make_study(status=Study.Status.DRAFT)
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"endpoints": PLAN}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["endpoints"] == PLAN
    event = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action="update").last()
    assert event.before["endpoints"] == {} and event.after["endpoints"] == PLAN
    assert event.actor_username == coordinator.username


def test_a_bad_plan_through_the_api_names_the_field(make_study, coordinator, api):
    study = make_study(status=Study.Status.DRAFT)
    plan = {**PLAN, "co_primary": [{**NI_SENSITIVITY, "margin": -0.05}]}
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"endpoints": plan}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "endpoints.co_primary[0].margin"


@pytest.mark.parametrize("status", [Study.Status.ENROLLING, Study.Status.READING])
def test_endpoints_are_fixed_once_the_schedule_exists(make_study, coordinator, api, status):
    study = make_study(status=status)
    if not study.sessions.exists():
        schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"endpoints": PLAN}, format="json")
    assert response.status_code == 409
    assert "before a schedule exists" in response.json()["detail"] and "endpoints" in response.json()["detail"]
    study.refresh_from_db()
    assert study.endpoints == {}


def test_the_admin_checks_the_plan_and_names_the_field(make_study, client, coordinator):
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    study = make_study(status=Study.Status.DRAFT)
    url = f"/admin/studies/study/{study.pk}/change/"
    bad = json.dumps({**PLAN, "co_primary": [{**NI_SENSITIVITY, "margin": 2}]})
    page = client.post(url, admin_form_data(study, endpoints=bad))
    assert page.status_code == 200 and "endpoints.co_primary[0].margin: a non-inferiority margin" in page.content.decode()
    assert client.post(url, admin_form_data(study, endpoints=json.dumps(PLAN))).status_code == 302
    study.refresh_from_db()
    assert study.endpoints == PLAN
    assert client.post(url, admin_form_data(study, endpoints="")).status_code == 302
    study.refresh_from_db()
    assert study.endpoints == {}
