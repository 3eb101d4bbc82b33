"""The admin: every registered model's changelist × role, and records that no one edits there.

Every signed-in user here is ``is_staff``, so what is checked is each ModelAdmin's own rule,
not only the admin's staff gate.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from studies.models import AuditEvent, DicomStudy, Read

ADMIN_ROLES = ["anonymous", "reader", "coordinator", "statistician", "admin", "superuser"]
STUDY_STAFF = {"anonymous": "login", "reader": 403, "coordinator": 200, "statistician": 200, "admin": 200,
               "superuser": 200}
SUPERUSER_ONLY = {"anonymous": "login", "reader": 403, "coordinator": 403, "statistician": 403, "admin": 403,
                  "superuser": 200}
# model label -> role -> status of its changelist
CHANGELISTS = {
    **dict.fromkeys(["studies.Study", "studies.Case", "studies.Reader", "studies.StudyMembership",
                     "studies.AIOutput", "studies.AIOutputSet", "studies.AIModel", "studies.ReadingSession", "studies.Read", "studies.Job",
                     "studies.DicomStudy", "studies.AnalysisRun", "studies.AuditEvent"], STUDY_STAFF),
    # People, tokens, second factors and login records: platform superusers only.
    **dict.fromkeys(["studies.User", "auth.Group", "knox.AuthToken", "otp_totp.TOTPDevice", "axes.AccessAttempt",
                     "axes.AccessLog", "axes.AccessFailureLog"], SUPERUSER_ONLY),
}
# Written only by their own workflow: viewable, never added, changed or deleted in the admin, even by a superuser.
READ_ONLY = ["studies.AIOutput", "studies.AIOutputSet", "studies.ReadingSession", "studies.Read", "studies.Job", "studies.DicomStudy",
             "studies.AnalysisRun", "studies.AuditEvent"]


def test_every_registered_model_admin_is_in_the_table():
    assert {model._meta.label for model in admin.site._registry} == set(CHANGELISTS)


@pytest.fixture
def admin_users(world, make_user):
    users = {role: world.users[role] for role in ADMIN_ROLES if role in world.users}
    users["superuser"] = make_user("root", is_superuser=True)
    for user in users.values():
        if user is not None:
            user.is_staff = True
            user.save()
    return users


def _admin_url(label: str, view: str, *args) -> str:
    app_label, model = label.lower().split(".")
    return reverse(f"admin:{app_label}_{model}_{view}", args=args)


CASES = [(label, role) for label in CHANGELISTS for role in ADMIN_ROLES]


@pytest.mark.parametrize("label,role", CASES, ids=[f"{label}-{role}" for label, role in CASES])
def test_changelist_matrix(client, admin_users, label, role):
    if admin_users[role] is not None:
        client.force_login(admin_users[role])
    url = _admin_url(label, "changelist")
    response = client.get(url)
    expected = CHANGELISTS[label][role]
    if expected == "login":
        assert response.status_code == 302 and response["Location"] == f"{reverse('admin:login')}?next={url}"
    else:
        assert response.status_code == expected


@pytest.fixture
def one_of_each(route_targets, world, admin_users):
    """A record of every read-only model (a finished run brings AI outputs, sessions, reads, a job)."""
    run = world.finished_run
    DicomStudy.objects.create(study=run.study, study_instance_uid="1.2.826.0.1.99")
    return run


@pytest.mark.parametrize("label", READ_ONLY)
def test_read_only_records_are_not_added_changed_or_deleted_in_the_admin(client, admin_users, one_of_each, label):
    model = apps.get_model(label)
    # The admin lists the audit events of studies (sign-ins and other events without a study are not there).
    shown = model.objects.filter(study_id=one_of_each.study_id) if model is AuditEvent else model.objects
    record = shown.order_by("pk").first()
    before = model.objects.filter(pk=record.pk).values().get()
    client.force_login(admin_users["superuser"])
    change_url = _admin_url(label, "change", record.pk)
    page = client.get(change_url)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # shown, read-only
    assert client.get(_admin_url(label, "add")).status_code == 403
    assert client.post(_admin_url(label, "add"), {}).status_code == 403
    assert client.post(change_url, {}).status_code == 403
    assert client.post(_admin_url(label, "delete", record.pk), {"post": "yes"}).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
    client.post(_admin_url(label, "changelist"), bulk_delete)
    assert model.objects.filter(pk=record.pk).values().get() == before


def test_reads_and_audit_events_are_read_only_to_every_role(rf, admin_users, one_of_each):
    """The rule itself, for every role: no add, change or delete of a read or an audit event."""
    for model in (Read, AuditEvent):
        model_admin = admin.site._registry[model]
        record = model.objects.first()
        for user in admin_users.values():
            if user is None:
                continue
            request = rf.get("/")
            request.user = user
            assert not model_admin.has_add_permission(request)
            assert not model_admin.has_change_permission(request, record)
            assert not model_admin.has_delete_permission(request, record)
