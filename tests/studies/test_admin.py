"""The Django admin honours study membership and the role × action table."""

import pytest

from studies.models import AIOutput, Role


@pytest.fixture
def staff_client(client, make_user):
    def login(username, role):
        user = make_user(username, role, is_staff=True)
        client.force_login(user)
        return client

    return login


def test_coordinator_sees_and_edits_only_their_studies(make_study, staff_client, coordinator):
    study = make_study(status="draft")
    coordinator.is_staff = True
    coordinator.save()
    other = staff_client("other_coord", Role.COORDINATOR)
    assert study.title not in other.get("/admin/studies/study/").content.decode()
    assert other.get(f"/admin/studies/study/{study.pk}/change/").status_code in (302, 403, 404)
    other.force_login(coordinator)
    assert study.title in other.get("/admin/studies/study/").content.decode()
    assert other.get(f"/admin/studies/study/{study.pk}/change/").status_code == 200


def test_statistician_views_but_cannot_change(make_study, staff_client, coordinator):
    from studies.services.studies import add_member

    study = make_study(status="draft")
    client = staff_client("stat2", Role.STATISTICIAN)
    from studies.models import User

    add_member(actor=coordinator, study=study, user=User.objects.get(username="stat2"))
    page = client.get(f"/admin/studies/study/{study.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    response = client.post(f"/admin/studies/study/{study.pk}/change/", {"title": "hijacked"})
    assert response.status_code == 403
    study.refresh_from_db()
    assert study.title != "hijacked"


def test_reader_cannot_open_the_admin(staff_client):
    client = staff_client("sneaky_reader", Role.READER)
    assert client.get("/admin/studies/case/").status_code in (302, 403)


def test_ai_outputs_refuse_changes_after_draft(make_study):
    study = make_study(status="enrolling")
    output = AIOutput.objects.filter(study=study).first()
    output.score = 0.99
    with pytest.raises(ValueError, match="fixed once the study leaves draft"):
        output.save()
