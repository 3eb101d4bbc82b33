"""The Django admin honours study membership and the role × action table."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from studies.admin import ArmInline
from studies.models import AIOutput, Case, Role, Study


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


def admin_form_data(study, **changes):
    """The change form's fields as the browser posts them, with ``changes`` applied."""
    data = {
        "title": study.title, "protocol_text": study.protocol_text, "protocol_version": study.protocol_version,
        "design": study.design, "rating_scale": study.rating_scale, "scale_min": study.scale_min,
        "scale_max": study.scale_max, "ordinal_labels": "[]", "binary_decision": "",
        "decision_threshold": "", "max_marks": study.max_marks, "froc_acceptance_radius": study.froc_acceptance_radius,
        "washout_days": study.washout_days,
        "block_size": study.block_size, "revision_policy": study.revision_policy, "pixel_cleaning": "[]",
        "arms-TOTAL_FORMS": "0", "arms-INITIAL_FORMS": "0", "arms-MIN_NUM_FORMS": "0", "arms-MAX_NUM_FORMS": "1000",
    }
    return {**data, **changes}


def test_admin_edits_follow_the_study_rules(make_study, client, coordinator):
    """The admin refuses what the services refuse: inconsistent designs, malformed pixel
    cleaning rules, and design changes once a schedule exists."""
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    study = make_study(status="draft")
    url = f"/admin/studies/study/{study.pk}/change/"
    refused = {
        "scale_min": ({"scale_min": "100", "scale_max": "0"}, "scale_min must be below scale_max"),
        "pixel_cleaning": ({"pixel_cleaning": '[{"match": {"Modalty": "US"}, "regions": [[0, 0, 9, 9]]}]'},
                           "&#x27;Modalty&#x27; is not a DICOM keyword"),
    }
    for changes, message in refused.values():
        page = client.post(url, admin_form_data(study, **changes))
        assert page.status_code == 200 and message in page.content.decode()
    rules = '[{"match": {"Modality": "US"}, "regions": [[0, 0, 9, 9]]}]'
    assert client.post(url, admin_form_data(study, pixel_cleaning=rules)).status_code == 302
    study.refresh_from_db()
    assert study.pixel_cleaning == [{"match": {"Modality": "US"}, "regions": [[0, 0, 9, 9]]}] and study.scale_min == 0
    scheduled = make_study(status="reading", reader_prefix="r")  # scheduled and reading
    assert scheduled.sessions.exists()
    page = client.post(f"/admin/studies/study/{scheduled.pk}/change/", admin_form_data(scheduled, washout_days="1"))
    assert "the design can only change in draft or enrolling" in page.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.washout_days != 1


def test_cases_readers_and_arms_change_in_the_admin_only_while_their_services_allow(make_study, client, coordinator):
    """Truth until the study is locked; readers and arms only before reading starts."""
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    study = make_study(status="reading")
    case = study.cases.order_by("label").first()
    case_url = f"/admin/studies/case/{case.pk}/change/"
    case_form = {"study": study.pk, "label": case.label, "truth": "1" if not case.truth else "0",
                 "truth_method": case.truth_method, "study_instance_uid": case.study_instance_uid,
                 "reading_group": case.reading_group, "metadata": "{}", "lesions": "[]"}
    changed = client.post(case_url, case_form)
    assert changed.status_code == 302, changed.content.decode()[:2000]
    case.refresh_from_db()
    assert case.truth == (case_form["truth"] == "1")  # truth may still be corrected while reading
    new_reader = client.post("/admin/studies/reader/add/", {"study": study.pk, "user": coordinator.pk, "code": "X"})
    assert "readers can only change while the study is draft or enrolling" in new_reader.content.decode()
    request = RequestFactory().get("/")
    request.user = coordinator
    arms = ArmInline(Study, admin.site)
    assert not arms.has_add_permission(request, study) and not arms.has_delete_permission(request, study)
    Study.objects.filter(pk=study.pk).update(status="locked")
    assert client.post(case_url, {**case_form, "truth": "0" if case.truth else "1"}).status_code == 403
    assert Case.objects.get(pk=case.pk).truth == case.truth
    draft = make_study(status="draft", reader_prefix="d")
    assert arms.has_add_permission(request, draft)


def test_records_are_added_only_to_ones_own_studies_and_people_only_in_their_role(
    make_study, staff_client, coordinator
):
    study = make_study(status="draft")
    outsider = staff_client("other_coord", Role.COORDINATOR)
    before = Case.objects.count()
    page = outsider.post("/admin/studies/case/add/", {"study": study.pk, "label": "INTRUDER", "truth": "1",
                                                       "metadata": "{}", "lesions": "[]", "reading_group": "0"})
    assert "Select a valid choice" in page.content.decode() and Case.objects.count() == before
    coordinator.is_staff = True
    coordinator.save()
    outsider.force_login(coordinator)
    page = outsider.post("/admin/studies/reader/add/", {"study": study.pk, "user": coordinator.pk, "code": "X"})
    assert "does not have the reader role" in page.content.decode()
    assert not study.readers.filter(user=coordinator).exists()
    reader = study.readers.first().user  # a reader made a member would see truth
    page = outsider.post("/admin/studies/studymembership/add/", {"study": study.pk, "user": reader.pk})
    assert "is not a coordinator or statistician" in page.content.decode()
    assert not study.memberships.filter(user=reader).exists()
