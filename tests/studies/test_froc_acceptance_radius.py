"""The FROC acceptance radius: a protocol setting of the study, bounded, set through the protocol file, the
API and the admin, fixed once the schedule exists, and audited."""

import pytest
from django.db import IntegrityError, transaction

from studies.errors import InvalidInput, RuleViolation
from studies.models import AuditEvent, Study
from studies.services import schedule
from studies.services import studies as study_services
from studies.services.protocol import create_study_from_protocol

from .test_admin import admin_form_data

PROTOCOL = "title: FROC\narms:\n  - name: a\nmarks:\n  enabled: true\n  acceptance_radius: RADIUS\n"


def test_a_new_study_has_the_default_radius_and_the_api_shows_it(make_study, coordinator, api):
    study = make_study(status=Study.Status.DRAFT)
    response = api(coordinator).get(f"/api/v1/studies/{study.pk}/")
    assert response.status_code == 200
    assert response.json()["froc_acceptance_radius"] == 20.0


def test_the_radius_set_through_the_api_is_audited(make_study, coordinator, api):
    study = make_study(status=Study.Status.DRAFT)
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"froc_acceptance_radius": 12.5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["froc_acceptance_radius"] == 12.5
    event = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action="update").last()
    assert (event.before["froc_acceptance_radius"], event.after["froc_acceptance_radius"]) == (20, 12.5)
    assert event.actor_username == coordinator.username


@pytest.mark.parametrize("radius", [0, -3, 0.5, 1000.5, 1e9, "wide", None])
def test_a_radius_out_of_bounds_is_refused_naming_the_setting(make_study, coordinator, api, radius):
    study = make_study(status=Study.Status.DRAFT)
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"froc_acceptance_radius": radius},
                                      format="json")
    assert response.status_code == 400
    assert "froc_acceptance_radius" in response.json()
    study.refresh_from_db()
    assert study.froc_acceptance_radius == 20.0


def test_the_service_applies_the_bounds_too(make_study, coordinator):
    study = make_study(status=Study.Status.DRAFT)
    for radius in (0.0, float("nan"), 5000.0):
        with pytest.raises(InvalidInput) as refused:
            study_services.update_study(actor=coordinator, study=study, froc_acceptance_radius=radius)
        assert refused.value.field == "froc_acceptance_radius"
    study_services.update_study(actor=coordinator, study=study, froc_acceptance_radius=1000.0)  # the bound itself
    study.refresh_from_db()
    assert study.froc_acceptance_radius == 1000.0


def test_the_database_refuses_a_radius_out_of_bounds(make_study):
    study = make_study(status=Study.Status.DRAFT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Study.objects.filter(pk=study.pk).update(froc_acceptance_radius=0)


@pytest.mark.parametrize("status", [Study.Status.ENROLLING, Study.Status.READING])
def test_the_radius_is_fixed_once_the_schedule_exists(make_study, coordinator, api, status):
    study = make_study(status=status)
    if not study.sessions.exists():
        schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    response = api(coordinator).patch(f"/api/v1/studies/{study.pk}/", {"froc_acceptance_radius": 30}, format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "before a schedule exists" in detail and "froc_acceptance_radius" in detail
    with pytest.raises(RuleViolation, match="froc_acceptance_radius"):
        study_services.update_study(actor=coordinator, study=study, froc_acceptance_radius=30)
    study.refresh_from_db()
    assert study.froc_acceptance_radius == 20.0


def test_a_protocol_file_sets_the_radius(coordinator):
    study = create_study_from_protocol(actor=coordinator, text=PROTOCOL.replace("RADIUS", "15"))
    assert study.marks_enabled and study.froc_acceptance_radius == 15.0


def test_a_bad_radius_in_a_protocol_names_its_line_and_field(coordinator):
    with pytest.raises(InvalidInput) as error:
        create_study_from_protocol(actor=coordinator, text=PROTOCOL.replace("RADIUS", "0"))
    assert (error.value.field, error.value.line) == ("marks.acceptance_radius", 6)
    assert not Study.objects.exists()


def test_the_admin_sets_the_radius_until_the_schedule_exists(make_study, client, coordinator):
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    study = make_study(status=Study.Status.DRAFT)
    url = f"/admin/studies/study/{study.pk}/change/"
    assert 'name="froc_acceptance_radius"' in client.get(url).content.decode()
    refused = client.post(url, admin_form_data(study, froc_acceptance_radius="0"))
    assert refused.status_code == 200 and "greater than or equal to 1.0" in refused.content.decode()
    assert client.post(url, admin_form_data(study, froc_acceptance_radius="8")).status_code == 302
    study.refresh_from_db()
    assert study.froc_acceptance_radius == 8.0
    scheduled = make_study(status=Study.Status.READING, reader_prefix="r")
    page = client.post(f"/admin/studies/study/{scheduled.pk}/change/",
                       admin_form_data(scheduled, froc_acceptance_radius="8"))
    assert "the design can only change in draft or enrolling" in page.content.decode()
    assert "froc_acceptance_radius" in page.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.froc_acceptance_radius == 20.0
