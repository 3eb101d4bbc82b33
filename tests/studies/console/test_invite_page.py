"""The invited reader's page: the link's token leaves the address, the password validators apply,
the reader is logged in and sent to the worklist, and the link then no longer works."""

import re

import pytest
from django.core import mail
from django.test import Client

from studies.models import AuditEvent
from studies.services import invitations

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def invited(settings, make_study, coordinator):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    study = make_study(status="draft", n_readers=0, n_cases=2)
    reader = invitations.invite_reader(actor=coordinator, study=study, email="ann@example.org", name="Ann Lee",
                                       site_url="http://testserver")
    path = re.search(r"http://testserver(/accounts/invite/\S+/)", mail.outbox[0].body)[1]
    return reader, path


def test_the_link_leads_to_a_form_and_then_to_the_worklist(invited):
    reader, path = invited
    client = Client()
    response = client.get(path)
    set_password = re.sub(r"/[^/]+/$", "/set-password/", path)
    assert response.status_code == 302 and response["Location"] == set_password
    page = client.get(set_password)
    assert page.status_code == 200 and "ann@example.org" in page.content.decode()
    response = client.post(set_password, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/read/"
    assert client.get("/read/").status_code == 200  # logged in as the reader
    reader.user.refresh_from_db()
    assert reader.user.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="reader.invite_accepted", entity_id=str(reader.pk)).exists()
    again = Client().get(path)
    assert again.status_code == 404 and "This link no longer works" in again.content.decode()


def test_the_password_validators_apply(invited):
    reader, path = invited
    client = Client()
    set_password = client.get(path)["Location"]
    response = client.post(set_password, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "This password is too short" in text and "This password is entirely numeric" in text
    reader.user.refresh_from_db()
    assert not reader.user.has_usable_password()


def test_a_forged_or_missing_token_shows_no_form(invited):
    _, path = invited
    forged = re.sub(r"/([0-9a-z]+)-[0-9a-f]+/$", r"/\1-0123456789abcdef0123/", path)
    assert Client().get(forged).status_code == 404
    set_password = re.sub(r"/[^/]+/$", "/set-password/", path)
    response = Client().get(set_password)  # a session that never followed the link
    assert response.status_code == 404 and "<form" not in response.content.decode().split("<main>")[1]
